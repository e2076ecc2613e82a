"""A fixed, versioned evaluation set with named slices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.errors import DataError, GateError
from core.runs.key import fingerprint_arrays


class EvalSetError(DataError, GateError):
    """The eval set itself is unusable (no labels, NaN labels, wrong-length slice masks)."""


def _labels(targets: Any) -> np.ndarray:
    if targets is None:
        raise EvalSetError("the eval set has no targets (labels); a gate needs labelled data")
    if hasattr(targets, "detach"):
        targets = targets.detach().cpu().numpy()
    arr = np.asarray(targets)
    if arr.ndim == 0 or len(arr) == 0:
        raise EvalSetError("the eval set's targets are empty; pass one label per unit")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        n = int(np.isnan(arr).sum())
        raise EvalSetError(f"{n} targets are NaN (missing labels); drop those rows or label them")
    return arr


def _expand_slices(raw: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
    """Boolean masks stay as they are; any other array is group keys → one slice per key."""
    out: dict[str, np.ndarray] = {}
    for name, value in raw.items():
        arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
        if arr.ndim != 1 or len(arr) != n:
            raise EvalSetError(
                f"slice {name!r} has shape {arr.shape}; it must be a 1-D mask or key array of "
                f"length {n} (one entry per target)"
            )
        if arr.dtype == bool:
            groups = {name: arr}
        else:
            groups = {f"{name}={k}": arr == k for k in np.unique(arr)}
        for gname, mask in groups.items():
            if not mask.any():
                raise EvalSetError(f"slice {gname!r} selects no rows; remove it or fix the mask")
            out[gname] = mask
    return out


@dataclass(frozen=True)
class EvalSet:
    """Inputs, targets and named slices; ``version`` is a sha256 content hash of all three.

    ``inputs``: anything sliceable with ``len`` (numpy array, torch tensor, list) in the order of
    ``targets``. ``slices``: name → boolean mask of ``len(targets)`` (e.g. rare classes, OOD rows)
    or name → group keys of ``len(targets)`` (expanded to one slice per key, ``"name=key"``).
    """

    name: str
    inputs: Any
    targets: Any
    slices: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = _labels(self.targets)
        if self.inputs is None or len(self.inputs) != len(labels):
            got = None if self.inputs is None else len(self.inputs)
            raise EvalSetError(f"eval set {self.name!r}: {got} inputs but {len(labels)} targets")
        object.__setattr__(self, "targets", labels)
        object.__setattr__(self, "slices", _expand_slices(self.slices, len(labels)))
        masks = {k: v.astype(np.uint8) for k, v in self.slices.items()}
        version = fingerprint_arrays(self.inputs, labels, **masks)
        object.__setattr__(self, "_version", version)

    @property
    def version(self) -> str:
        """Content hash (sha256 hex) of inputs, targets and slice masks."""
        return str(self._version)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.targets)

    def batches(self, batch_size: int) -> list[Any]:
        """Consecutive input batches of ``batch_size`` (the last may be shorter)."""
        return [self.inputs[i : i + batch_size] for i in range(0, len(self), batch_size)]
