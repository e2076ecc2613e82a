"""``greenstack run assistant``: build variants → gate → model card → replay naive vs efficient.

Both heavy steps run through core.runs, so a second run with the same code, data and options
reuses the finished results (and books the energy the reuse avoided).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.assistant.config_search import SearchOptions
from apps.assistant.evalset import load_eval_set
from apps.assistant.gate import GateConfig
from apps.assistant.gate_run import GateOutcome
from apps.assistant.model_file import ModelFile, describe, resolve
from apps.assistant.replay import ReplayStats
from apps.assistant.runtime import LlamaRuntime
from apps.assistant.serving import NAIVE, ServeConfig
from apps.assistant.variants import REFERENCE, build_variant, default_candidates
from apps.progress import Progress
from core.errors import ModelError

if TYPE_CHECKING:
    from apps.context import AppContext

log = logging.getLogger(__name__)
APP = "assistant"
# The naive baseline has no token discipline; its completion cap is the only concession, so the
# search stays affordable on 2 CPU cores (an uncapped baseline would only save more).
NAIVE_MAX_TOKENS = 96


@dataclass(frozen=True)
class AssistantRunSummary:
    """What ``greenstack run assistant`` produced."""

    gate: GateOutcome
    naive: ReplayStats  # naive configuration on the held-back part of the serving set
    efficient: ReplayStats  # the served configuration on the same part
    search: dict[str, Any]  # the configuration search (every configuration tried)
    card_path: str
    gate_reused: bool
    replay_reused: bool  # the search step (which holds the held-back replay) was reused

    @property
    def energy_saving_rel(self) -> float:
        """1 − served J ÷ naive J over the held-back part."""
        return 1.0 - self.efficient.energy_j / max(self.naive.energy_j, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; the search's headline fields sit at the top level."""
        s = self.search
        return {"served_config": s["served_config"], "served_label": s["served_label"],
                "served_is_naive": s["served_is_naive"], "served_reason": s["served_reason"],
                "quality_naive_pct": s["quality_naive_pct"],
                "quality_served_pct": s["quality_served_pct"],
                "quality_by_category": s["quality_by_category"],
                "j_per_request_naive": s["j_per_request_naive"],
                "j_per_request_served": s["j_per_request_served"],
                "gate": self.gate.to_dict(), "naive": self.naive.to_dict(),
                "efficient": self.efficient.to_dict(), "search": s, "card_path": self.card_path,
                "gate_reused": self.gate_reused, "replay_reused": self.replay_reused,
                "energy_saving_rel": self.energy_saving_rel}


def variants_dir(ctx: AppContext, model: ModelFile) -> Path:
    """Where re-quantisations of ``model`` are built (git-ignored cache; one folder per file)."""
    root = ctx.app_cache_dir(APP) / "gguf"
    return root if model.shipped else root / model.model_id


def variant_path(ctx: AppContext, name: str, model: ModelFile | None = None) -> Path:
    """GGUF path of variant ``name`` of ``model`` (default: the context's; built on demand)."""
    model = model or describe(ctx.assistant_model)
    if name == model.quant:
        return model.path
    return build_variant(model.path, variants_dir(ctx, model), name).path


def card_path(ctx: AppContext) -> Path:
    """``models/assistant/<model id>.card.json`` for the context's model (shipped or the user's)."""
    return ctx.app_models_dir(APP) / f"{resolve(ctx.assistant_model)[1]}.card.json"


def served_choice(ctx: AppContext) -> tuple[Any, str] | None:
    """The serving configuration the card's search chose, if it was gated on today's serving set
    (``(ServingChoice, reason)``); None before any search or when the set changed."""
    import json

    from apps.assistant.config_search import ServingChoice
    from apps.assistant.serving_set import load_serving_set

    path = card_path(ctx)
    if not path.is_file():
        return None
    serving = json.loads(path.read_text()).get("metrics", {}).get("serving")
    if not serving or serving.get("serving_set_version") != load_serving_set(
            ctx.data_dir).version:
        return None
    return ServingChoice(**serving["served_config"]), str(serving.get("served_reason", ""))


def served_config(ctx: AppContext) -> ServeConfig:
    """The ServeConfig to serve with: the searched choice, else the hand-set defaults."""
    found = served_choice(ctx)
    return found[0].serve_config() if found else ServeConfig()


def load_served_runtime(ctx: AppContext, config: ServeConfig) -> tuple[LlamaRuntime, str]:
    """The weights the serving search chose, else those the latest passing weights gate chose,
    else the reference, with the reason."""
    from apps.assistant.gate_run import prompt_gate_version
    from core.gates import load_served_choice

    path = card_path(ctx)
    if not path.is_file():
        raise ModelError(f"no assistant model card at {path}: run `greenstack run assistant` "
                         "once to build and gate the model variants")
    version = prompt_gate_version(load_eval_set(ctx.data_dir))
    choice = load_served_choice(path, version)
    name = choice.name if choice.served == "candidate" and choice.name else REFERENCE
    reason = choice.reason
    found = served_choice(ctx)
    if found is not None:
        name, reason = found[0].variant, found[1]
    runtime = LlamaRuntime(variant_path(ctx, name), n_ctx=config.n_ctx,
                           n_threads=config.threads, name=name)
    return runtime, f"{name}: {reason}"


def _fingerprint(ctx: AppContext) -> str:
    from core.runs import fingerprint_paths

    root = Path(ctx.data_dir) / "assistant"
    return fingerprint_paths([resolve(ctx.assistant_model)[0],
                              *sorted(p for p in root.rglob("*") if p.is_file())])


def _gate_step(ctx: AppContext, store: Any, model: ModelFile, candidates: tuple[str, ...],
               cfg: GateConfig, progress: Progress | None) -> tuple[GateOutcome, Any]:
    from apps.assistant.gate_run import run_gate
    from apps.assistant.variants import build_all
    from core.runs import run_key

    eval_set = load_eval_set(ctx.data_dir)
    key = run_key({"step": "assistant-gate", "candidates": list(candidates),
                   "gate": cfg.__dict__}, _fingerprint(ctx))

    def fn(artifacts: Path) -> dict[str, Any]:
        variants = build_all(model.path, variants_dir(ctx, model), candidates, model.quant)
        return run_gate(variants, REFERENCE, eval_set, cfg, ctx.meter, progress).to_dict()

    result = store.get_or_run(key, fn, app=APP, phase="evaluate", force=ctx.force)
    return GateOutcome.from_dict(result.outputs), result


def naive_config(naive_max_tokens: int = NAIVE_MAX_TOKENS) -> ServeConfig:
    """The naive configuration the replay measures against, with its completion cap."""
    return replace(NAIVE, policy=replace(NAIVE.policy, default_max_tokens=naive_max_tokens),
                   record_requests=False)


def search_variants(outcome: GateOutcome, limit: int) -> list[str]:
    """Weights the configuration search tries: the reference plus the candidates that held
    perplexity, cheapest measured J/token first (at most ``limit`` in all)."""
    held = [c for c in outcome.candidates if c.perplexity_passed]
    held.sort(key=lambda c: c.j_per_token if c.j_per_token is not None else float("inf"))
    return [outcome.reference, *[c.name for c in held][: limit - 1]]


def _search_step(ctx: AppContext, store: Any, model: ModelFile, outcome: GateOutcome,
                 n_ctx: int, options: SearchOptions, progress: Progress | None
                 ) -> tuple[dict[str, Any], Any]:
    from apps.assistant.cache import MiniLMEmbedder, tune_threshold
    from apps.assistant.config_search import Evaluator, Generations, run_search
    from apps.assistant.serving_set import load_serving_set
    from core.runs import run_key

    serving = load_serving_set(ctx.data_dir)
    variants = search_variants(outcome, options.variants)
    key = run_key({"step": "assistant-serving-search", "variants": variants, "n_ctx": n_ctx,
                   "options": options.__dict__, "serving_set": serving.version},
                  _fingerprint(ctx))

    def fn(artifacts: Path) -> dict[str, Any]:
        # The search meters its own generations; the run store meters the whole step once.
        runtimes = {v: LlamaRuntime(variant_path(ctx, v, model), n_ctx=n_ctx, name=v)
                    for v in variants}
        embedder = MiniLMEmbedder()
        tuned = tune_threshold(embedder, load_eval_set(ctx.data_dir).pairs).threshold
        evaluator = Evaluator(Generations(runtimes, ctx.meter), embedder, tuned, ctx.meter)
        return run_search(serving, evaluator, variants, ctx.meter, progress, options)

    result = store.get_or_run(key, fn, app=APP, phase="evaluate", force=ctx.force)
    return result.outputs, result


def held_stats(search: dict[str, Any], side: str, intensity_g_per_kwh: float,
               pue: float) -> ReplayStats:
    """Naive or served on the held-back part, as the replay table and the saving read it."""
    import numpy as np

    from core.units import co2e_kg

    h = search["held"][side]
    walls = np.asarray(h["wall_s"], dtype=float)
    return ReplayStats(
        label=side, model=h["config"]["variant"], conversations=h["n"], requests=h["n"],
        prompt_tokens=h["prompt_tokens"], completion_tokens=h["completion_tokens"],
        tokens_saved=h["tokens_saved"], energy_j=h["energy_j"],
        co2e_kg=co2e_kg(h["energy_j"], intensity_g_per_kwh, pue),
        p50_latency_s=float(np.percentile(walls, 50)), p95_latency_s=float(np.percentile(walls,
                                                                                          95)),
        cache_hit_rate=h["cache_hits"] / max(h["n"], 1), quality=h["quality_pct"] / 100.0,
        graded=h["n"], method=h["method"])


def run_pipeline(ctx: AppContext, progress: Progress | None = None, *,
                 candidates: tuple[str, ...] | None = None, gate_config: GateConfig | None = None,
                 search: SearchOptions | None = None,
                 search_min_budget: int | None = None) -> AssistantRunSummary:
    """Gate the weights, search and gate the serving configuration, write the card, book the
    measured saving of served vs naive on the held-back part."""
    from apps.assistant.card import book_saving, write_card

    model = describe(ctx.assistant_model)  # the shipped GGUF or the user's, chat template read
    store = ctx.run_store()
    cfg = gate_config or GateConfig()
    names = tuple(candidates) if candidates else default_candidates(model.quant)
    outcome, gate_run = _gate_step(ctx, store, model, names, cfg, progress)
    options = search or SearchOptions()
    if search_min_budget:
        options = replace(options, min_budget=search_min_budget)
    found, search_run = _search_step(ctx, store, model, outcome, cfg.n_ctx, options, progress)
    path = write_card(ctx, card_path(ctx), model, outcome, gate_run, cfg, found, search_run)
    intensity = ctx.carbon.intensity(None)
    naive = held_stats(found, "naive", intensity.g_per_kwh, ctx.pue)
    served = held_stats(found, "served", intensity.g_per_kwh, ctx.pue)
    if not search_run.reused:
        book_saving(ctx, search_run.key, naive, served, naive_config(options.naive_max_tokens))
    log.info("assistant pipeline done (pid %s)", os.getpid())
    return AssistantRunSummary(outcome, naive, served, found, str(path), gate_run.reused,
                               search_run.reused)
