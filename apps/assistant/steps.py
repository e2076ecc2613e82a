"""The two heavy steps of ``greenstack run assistant`` (weights gate, serving-configuration
search), each a core.runs run, and the held-back totals read from the search."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.assistant.config_search import SearchOptions
from apps.assistant.evalset import load_eval_set
from apps.assistant.gate import GateConfig
from apps.assistant.gate_run import GateOutcome
from apps.assistant.model_file import ModelFile
from apps.assistant.runtime import LlamaRuntime
from apps.assistant.served import APP, fingerprint, variant_path, variants_dir
from apps.assistant.summary import ReplayStats
from apps.assistant.variants import REFERENCE
from apps.progress import Progress

if TYPE_CHECKING:
    from apps.context import AppContext


def gate_step(ctx: AppContext, store: Any, model: ModelFile, candidates: tuple[str, ...],
               cfg: GateConfig, progress: Progress | None) -> tuple[GateOutcome, Any]:
    from apps.assistant.gate_run import run_gate
    from apps.assistant.variants import build_all
    from core.runs import run_key

    eval_set = load_eval_set(ctx.data_dir)
    key = run_key({"step": "assistant-gate", "candidates": list(candidates),
                   "gate": cfg.__dict__}, fingerprint(ctx))

    def fn(artifacts: Path) -> dict[str, Any]:
        variants = build_all(model.path, variants_dir(ctx, model), candidates, model.quant)
        return run_gate(variants, REFERENCE, eval_set, cfg, ctx.meter, progress).to_dict()

    result = store.get_or_run(key, fn, app=APP, phase="evaluate", force=ctx.force)
    return GateOutcome.from_dict(result.outputs), result


def search_variants(outcome: GateOutcome, limit: int) -> list[str]:
    """Weights the configuration search tries: the reference, then the candidates that passed
    the weights gate, then those that only held perplexity, each group cheapest measured J/token
    first (at most ``limit`` in all)."""
    def cost(c: Any) -> float:
        return c.j_per_token if c.j_per_token is not None else float("inf")

    passed = sorted((c for c in outcome.candidates if c.passed), key=cost)
    held = sorted((c for c in outcome.candidates if c.perplexity_passed and not c.passed),
                  key=cost)
    return [outcome.reference, *[c.name for c in [*passed, *held]][: limit - 1]]


def search_step(ctx: AppContext, store: Any, model: ModelFile, outcome: GateOutcome,
                 n_ctx: int, options: SearchOptions, progress: Progress | None
                 ) -> tuple[dict[str, Any], Any]:
    from apps.assistant.cache import MiniLMEmbedder, tune_threshold
    from apps.assistant.config_search import Evaluator, Generations, run_search
    from apps.assistant.grounding_fixture import fixture_grounding
    from apps.assistant.serving_set import load_serving_set
    from core.runs import run_key

    serving = load_serving_set(ctx.data_dir)
    variants = search_variants(outcome, options.variants)
    key = run_key({"step": "assistant-serving-search", "variants": variants, "n_ctx": n_ctx,
                   "options": options.__dict__, "serving_set": serving.version},
                  fingerprint(ctx))

    def fn(artifacts: Path) -> dict[str, Any]:
        # The search meters its own generations; the run store meters the whole step once.
        runtimes = {v: LlamaRuntime(variant_path(ctx, v, model), n_ctx=n_ctx, name=v)
                    for v in variants}
        embedder = MiniLMEmbedder()
        tuned = tune_threshold(embedder, load_eval_set(ctx.data_dir).pairs).threshold
        evaluator = Evaluator(Generations(runtimes, ctx.meter), embedder, tuned, ctx.meter,
                              fixture_grounding(ctx.data_dir))
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
