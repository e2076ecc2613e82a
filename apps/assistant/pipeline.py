"""``greenstack run assistant``: build variants → weights gate → serving-configuration search and
gate → model card → saving. ``run`` is the only entry; the steps live in ``steps.py``.

Both heavy steps run through core.runs, so a second run with the same code, data and options
reuses the finished results (and books the energy the reuse avoided).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from apps.assistant.config_search import SearchOptions
from apps.assistant.gate import GateConfig
from apps.assistant.summary import AssistantRunSummary
from apps.progress import Progress

if TYPE_CHECKING:
    from apps.context import AppContext

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunConfig:
    """Options of one run: weights candidates (None: the file's own type, then Q8_0 Q4_K_M Q3_K
    Q2_K), the weights gate, and the size of the configuration search."""

    candidates: tuple[str, ...] | None = None
    gate: GateConfig = field(default_factory=GateConfig)
    search: SearchOptions = field(default_factory=SearchOptions)


def run(ctx: AppContext, config: RunConfig | None = None,
        progress: Progress | None = None) -> AssistantRunSummary:
    """Gate the weights, search and gate the serving configuration, write the card, book the
    measured saving of served vs naive on the held-back part."""
    from apps.assistant.card import book_saving, write_card
    from apps.assistant.model_file import describe
    from apps.assistant.served import card_path, naive_config
    from apps.assistant.steps import gate_step, held_stats, search_step
    from apps.assistant.variants import default_candidates

    cfg = config or RunConfig()
    model = describe(ctx.assistant_model)  # the shipped GGUF or the user's, chat template read
    store = ctx.run_store()
    names = tuple(cfg.candidates) if cfg.candidates else default_candidates(model.quant)
    outcome, gate_run = gate_step(ctx, store, model, names, cfg.gate, progress)
    found, search_run = search_step(ctx, store, model, outcome, cfg.gate.n_ctx, cfg.search,
                                    progress)
    path = write_card(ctx, card_path(ctx), model, outcome, gate_run, cfg.gate, found, search_run)
    intensity = ctx.carbon.intensity(None)
    naive = held_stats(found, "naive", intensity.g_per_kwh, ctx.pue)
    served = held_stats(found, "served", intensity.g_per_kwh, ctx.pue)
    if not search_run.reused:
        book_saving(ctx, search_run.key, naive, served, naive_config(cfg.search.naive_max_tokens))
    log.info("assistant pipeline done (pid %s)", os.getpid())
    return AssistantRunSummary(outcome, naive, served, found, str(path), gate_run.reused,
                               search_run.reused)


def with_min_budget(config: RunConfig, min_budget: int | None) -> RunConfig:
    """``config`` with another first-round size of the halving (None: unchanged)."""
    if not min_budget:
        return config
    return replace(config, search=replace(config.search, min_budget=min_budget))
