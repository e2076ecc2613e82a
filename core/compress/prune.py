"""Structured pruning that removes whole channels / units / heads, leaving a smaller dense model.

Why a library: removing an output channel of one conv means also slicing the next layer's input
channels, the BatchNorm between them, every residual add and concat that shares the channel, and
attention projections per head. torch-pruning builds that dependency graph by tracing the model
once; hand-written surgery breaks on the first skip connection.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any

from core.compress.result import CompressionResult, count_parameters, model_size_bytes
from core.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)


def _output_layer(model: Any, example_inputs: Any) -> list[Any]:
    """The last parameterised leaf module that ran; pruning it would change the output shape."""
    import torch

    order: list[Any] = []

    def hook(module: Any, _inp: Any, _out: Any) -> None:
        order.append(module)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if not list(m.children()) and any(True for _ in m.parameters(recurse=False))
    ]
    try:
        with torch.no_grad():
            model(example_inputs)
    finally:
        for h in handles:
            h.remove()
    return order[-1:] if order else []


def _shapes(model: Any) -> dict[str, list[int]]:
    return {name: list(p.shape) for name, p in model.named_parameters()}


def _shape_changes(before: dict[str, list[int]], after: dict[str, list[int]]) -> dict[str, Any]:
    return {k: {"before": v, "after": after.get(k)} for k, v in before.items() if after.get(k) != v}


def prune_structured(
    model: Any,
    example_inputs: Any,
    ratio: float,
    importance: str = "l2",
    ignored_layers: list[Any] | None = None,
    fine_tune: Callable[[Any], None] | None = None,
    round_to: int | None = None,
    **pruner_kwargs: Any,
) -> CompressionResult:
    """Remove ``ratio`` (0–1) of the channels/units of every prunable layer with torch-pruning.

    ``importance``: ``"l2"`` / ``"l1"`` weight magnitude, or ``"random"``. The layer producing the
    model output is kept whole unless ``ignored_layers`` is given. ``fine_tune(model)`` runs after
    pruning (recover accuracy). ``pruner_kwargs`` go to ``torch_pruning.pruner.MetaPruner``
    (e.g. ``num_heads={attn: 8}, prune_num_heads=True`` for attention heads).
    """
    import torch
    import torch_pruning as tp

    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"pruning ratio must be in (0, 1), got {ratio}")
    imp_by_name = {
        "l2": lambda: tp.importance.MagnitudeImportance(p=2),
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "random": lambda: tp.importance.RandomImportance(),
    }
    if importance not in imp_by_name:
        raise ConfigError(f"importance must be one of {sorted(imp_by_name)}, got {importance!r}")
    pruned = copy.deepcopy(model).eval()
    with torch.no_grad():
        out_before = pruned(example_inputs)
    ignored = ignored_layers if ignored_layers is not None else _output_layer(pruned, example_inputs)
    if ignored_layers is not None:  # map the caller's modules onto the copy by name
        names = {id(m): n for n, m in model.named_modules()}
        copy_mods = dict(pruned.named_modules())
        ignored = [copy_mods[names[id(m)]] for m in ignored_layers if id(m) in names]
    shapes_before, params_before = _shapes(pruned), count_parameters(pruned)
    try:
        pruner = tp.pruner.MetaPruner(
            pruned, example_inputs, importance=imp_by_name[importance](), pruning_ratio=ratio,
            ignored_layers=ignored, round_to=round_to, **pruner_kwargs,
        )
        pruner.step()
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"torch-pruning could not prune this model ({e}); pass ignored_layers "
                         "for layers it cannot handle") from e
    if fine_tune is not None:
        fine_tune(pruned)
    pruned.eval()
    with torch.no_grad():
        out_after = pruned(example_inputs)
    if tuple(out_after.shape) != tuple(out_before.shape):
        raise ModelError(f"pruning changed the output shape {tuple(out_before.shape)} → "
                         f"{tuple(out_after.shape)}; add the output layer to ignored_layers")
    return CompressionResult(
        model=pruned,
        kind="pruned",
        size_bytes_before=model_size_bytes(model),
        size_bytes_after=model_size_bytes(pruned),
        report={
            "ratio": ratio,
            "importance": importance,
            "params_before": params_before,
            "params_after": count_parameters(pruned),
            "shape_changes": _shape_changes(shapes_before, _shapes(pruned)),
            "fine_tuned": fine_tune is not None,
            "library": "torch-pruning MetaPruner",
        },
    )
