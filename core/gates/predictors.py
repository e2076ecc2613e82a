"""Adapters that turn models into the batch ``predict`` callables the gate times."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def torch_predictor(model: Any, transform: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
    """``predict(batch)`` for a torch module: eval mode, inference_mode, optional ``transform``
    of the outputs (e.g. ``lambda z: z.argmax(1)``). Inputs that are numpy arrays become tensors."""
    import numpy as np
    import torch

    model.eval()

    def predict(batch: Any) -> Any:
        if isinstance(batch, np.ndarray):  # read-only buffers (np.frombuffer) must be copied
            x = torch.from_numpy(batch if batch.flags.writeable else batch.copy())
        else:
            x = batch
        with torch.inference_mode():
            out = model(x)
        return transform(out) if transform is not None else out

    return predict
