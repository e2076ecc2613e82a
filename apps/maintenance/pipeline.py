"""`greenstack run maintenance`: the steps in order (bodies in the domain modules).

prepare → train (reused if finished) → compress → gate + evaluate → install the served model →
book the saving → summary → model card → fleet view.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.maintenance.ai4i import find_ai4i
from apps.maintenance.card import book_saving, write_card
from apps.maintenance.config import PipelineConfig
from apps.maintenance.data import cmapss_dir, load_cmapss
from apps.maintenance.evaluate import evaluate_step
from apps.maintenance.fleet import save_fleet
from apps.maintenance.serving import artifact_names, install_artifacts
from apps.maintenance.summary import APP, MaintenanceRunSummary, build_summary
from apps.maintenance.train import compress_step, thread_limit, train_step
from apps.progress import Progress, tick
from core.runs import fingerprint_paths, run_key

if TYPE_CHECKING:
    from apps.context import AppContext


def run(ctx: AppContext, config: PipelineConfig, progress: Progress = None, *,
        data_dir: Path | None = None) -> MaintenanceRunSummary:
    """Run (or reuse) every step for ``config.subset``; ``data_dir`` overrides ``ctx.data_dir``."""
    with thread_limit(config.threads):
        data = load_cmapss(cmapss_dir(data_dir or ctx.data_dir), config.subset)
        ai4i = find_ai4i(data_dir or ctx.data_dir, ctx.data_dir) if config.ai4i else None
        store = ctx.run_store()

        def key(step: str, **extra: Any) -> str:  # code version: core + this app's package
            return run_key(config={"step": f"{APP}.{step}", **config.key_dict(), **extra},
                           data_fingerprint=data.fingerprint)

        k_train = key("train")
        train = store.get_or_run(k_train, lambda d: train_step(data, config, d, progress), APP,
                                 "train", ctx.force)
        k_comp = key("compress", train=k_train)
        comp = store.get_or_run(
            k_comp, lambda d: compress_step(data, config, train.artifacts_dir, d, progress), APP,
            "compress", ctx.force)
        ai4i_fp = fingerprint_paths([ai4i]) if ai4i else None  # content, not path spelling
        evaluation = store.get_or_run(
            key("evaluate", compress=k_comp, ai4i=ai4i_fp),
            lambda d: evaluate_step(data, config, train.artifacts_dir, comp.artifacts_dir,
                                    ctx.meter, ai4i), APP, "evaluate", ctx.force)
        tick(progress, "evaluate", 1, 1)
        models_dir = ctx.app_models_dir(APP)
        install_artifacts(models_dir, config, train.artifacts_dir, comp.artifacts_dir,
                          evaluation.outputs)
        book_saving(ctx, data.subset.name, evaluation.outputs["savings"])
        summary = build_summary(ctx, config, data, train, comp, evaluation)
        write_card(models_dir / artifact_names(config.subset)["card"], config, data, summary,
                   evaluation.outputs["gate"])
        save_fleet(ctx.app_cache_dir(APP), config, data, train.outputs, evaluation.outputs)
        return summary

