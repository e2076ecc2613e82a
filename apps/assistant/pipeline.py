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

from apps.assistant.evalset import load_eval_set
from apps.assistant.gate import GateConfig
from apps.assistant.gate_run import GateOutcome
from apps.assistant.replay import ReplayStats, load_workload
from apps.assistant.runtime import SHIPPED_MODEL_ID, LlamaRuntime, shipped_gguf_path
from apps.assistant.serving import NAIVE, ServeConfig
from apps.assistant.tokens import TokenPolicy
from apps.assistant.variants import DEFAULT_CANDIDATES, REFERENCE, SHIPPED, build_variant
from apps.progress import Progress
from core.errors import ModelError

if TYPE_CHECKING:
    from apps.context import AppContext

log = logging.getLogger(__name__)
APP = "assistant"
CARD_NAME = f"{SHIPPED_MODEL_ID}.card.json"
# The naive baseline has no token discipline; its completion cap is the only concession, so the
# default replay stays affordable on 2 CPU cores (an uncapped baseline would only save more).
NAIVE_MAX_TOKENS = 96
EFFICIENT_POLICY = TokenPolicy()  # the serving defaults: 48-token answers, 192-token history


@dataclass(frozen=True)
class AssistantRunSummary:
    """What ``greenstack run assistant`` produced."""

    gate: GateOutcome
    naive: ReplayStats
    efficient: ReplayStats
    card_path: str
    gate_reused: bool
    replay_reused: bool

    @property
    def energy_saving_rel(self) -> float:
        """1 − efficient J ÷ naive J over the workload."""
        return 1.0 - self.efficient.energy_j / max(self.naive.energy_j, 1e-12)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"gate": self.gate.to_dict(), "naive": self.naive.to_dict(),
                "efficient": self.efficient.to_dict(), "card_path": self.card_path,
                "gate_reused": self.gate_reused, "replay_reused": self.replay_reused,
                "energy_saving_rel": self.energy_saving_rel}


def variant_path(ctx: AppContext, name: str) -> Path:
    """GGUF path of variant ``name`` (built into the cache on demand)."""
    source = shipped_gguf_path()
    if name == SHIPPED:
        return source
    from apps.assistant.service import cached_models_dir

    return build_variant(source, cached_models_dir(ctx), name).path


def card_path(ctx: AppContext) -> Path:
    """``models/assistant/<model>.card.json``."""
    return ctx.app_models_dir(APP) / CARD_NAME


def load_served_runtime(ctx: AppContext, config: ServeConfig) -> tuple[LlamaRuntime, str]:
    """The variant the latest passing gate chose, else the reference, with the reason."""
    from apps.assistant.gate_run import prompt_gate_version
    from core.gates import load_served_choice

    path = card_path(ctx)
    if not path.is_file():
        raise ModelError(f"no assistant model card at {path}: run `greenstack run assistant` "
                         "once to build and gate the model variants")
    version = prompt_gate_version(load_eval_set(ctx.data_dir))
    choice = load_served_choice(path, version)
    name = choice.name if choice.served == "candidate" and choice.name else REFERENCE
    runtime = LlamaRuntime(variant_path(ctx, name), n_ctx=config.n_ctx,
                           n_threads=config.threads, name=name)
    return runtime, f"{name}: {choice.reason}"


def _fingerprint(ctx: AppContext) -> str:
    from core.runs import fingerprint_paths

    root = Path(ctx.data_dir) / "assistant"
    return fingerprint_paths([shipped_gguf_path(), *sorted(p for p in root.rglob("*")
                                                            if p.is_file())])


def _gate_step(ctx: AppContext, store: Any, candidates: tuple[str, ...], cfg: GateConfig,
               progress: Progress | None) -> tuple[GateOutcome, Any]:
    from apps.assistant.gate_run import run_gate
    from apps.assistant.service import cached_models_dir
    from apps.assistant.variants import build_all
    from core.runs import run_key

    eval_set = load_eval_set(ctx.data_dir)
    key = run_key({"step": "assistant-gate", "candidates": list(candidates),
                   "gate": cfg.__dict__}, _fingerprint(ctx))

    def fn(artifacts: Path) -> dict[str, Any]:
        variants = build_all(shipped_gguf_path(), cached_models_dir(ctx), candidates)
        return run_gate(variants, REFERENCE, eval_set, cfg, ctx.meter, progress).to_dict()

    result = store.get_or_run(key, fn, app=APP, phase="evaluate", force=ctx.force)
    return GateOutcome.from_dict(result.outputs), result


def naive_config(naive_max_tokens: int = NAIVE_MAX_TOKENS) -> ServeConfig:
    """The naive configuration the replay measures against, with its completion cap."""
    return replace(NAIVE, policy=replace(NAIVE.policy, default_max_tokens=naive_max_tokens),
                   record_requests=False)


def _replay_step(ctx: AppContext, store: Any, served: str, conversations: int,
                 naive_cfg: ServeConfig, progress: Progress | None
                 ) -> tuple[ReplayStats, ReplayStats, Any]:
    from apps.assistant.replay import replay
    from apps.assistant.service import AssistantService
    from core.runs import run_key

    workload = load_workload(ctx.data_dir)[:conversations]
    eff_cfg = ServeConfig(policy=EFFICIENT_POLICY, grounding=False, record_requests=False)
    key = run_key({"step": "assistant-replay", "served": served, "n": len(workload),
                   "naive": repr(naive_cfg), "efficient": repr(eff_cfg)}, _fingerprint(ctx))

    def fn(artifacts: Path) -> dict[str, Any]:
        # Per-request ledger records are off here: the run store meters the whole replay once.
        naive_rt = LlamaRuntime(variant_path(ctx, REFERENCE), n_ctx=naive_cfg.n_ctx,
                                name=REFERENCE)
        naive = replay(AssistantService(ctx, naive_cfg, runtime=naive_rt), workload, "naive",
                       progress)
        del naive_rt
        eff_rt = LlamaRuntime(variant_path(ctx, served), n_ctx=eff_cfg.n_ctx, name=served)
        eff = replay(AssistantService(ctx, eff_cfg, runtime=eff_rt), workload, "efficient",
                     progress)
        return {"naive": naive.to_dict(), "efficient": eff.to_dict()}

    result = store.get_or_run(key, fn, app=APP, phase="evaluate", force=ctx.force)
    out = result.outputs
    return _stats_from(out["naive"]), _stats_from(out["efficient"]), result


def _stats_from(data: dict[str, Any]) -> ReplayStats:
    fields = ReplayStats.__dataclass_fields__
    return ReplayStats(**{k: v for k, v in data.items() if k in fields})


def run_pipeline(ctx: AppContext, progress: Progress | None = None, *,
                 candidates: tuple[str, ...] = DEFAULT_CANDIDATES, conversations: int = 52,
                 gate_config: GateConfig | None = None,
                 naive_max_tokens: int = NAIVE_MAX_TOKENS) -> AssistantRunSummary:
    """Gate the variants, write the model card, replay the workload, book the saving."""
    from apps.assistant.card import book_saving, write_card
    store = ctx.run_store()
    cfg = gate_config or GateConfig()
    outcome, gate_run = _gate_step(ctx, store, tuple(candidates), cfg, progress)
    path = write_card(ctx, card_path(ctx), outcome, gate_run, cfg)
    naive_cfg = naive_config(naive_max_tokens)
    naive, eff, replay_run = _replay_step(ctx, store, outcome.served, conversations, naive_cfg,
                                          progress)
    if not replay_run.reused:
        book_saving(ctx, replay_run.key, naive, eff, naive_cfg)
    log.info("assistant pipeline done (pid %s)", os.getpid())
    return AssistantRunSummary(outcome, naive, eff, str(path), gate_run.reused, replay_run.reused)
