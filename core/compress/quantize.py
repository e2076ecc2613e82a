"""Quantisation and half-precision casting of torch models (CPU).

Findings on torch 2.14.1 CPU (see docs/gates.md): ``torch.ao.quantization`` still works but warns
that it is deprecated in favour of torchao; the PT2E entry points (``prepare_pt2e``,
``X86InductorQuantizer``) are no longer in torch and need the separate ``torchao`` package, so
static int8 uses the FX flow (``prepare_fx``/``convert_fx``), which runs without extra downloads.
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Iterable
from typing import Any

from core.compress.result import CompressionResult, model_size_bytes
from core.errors import ConfigError, ModelError

logger = logging.getLogger(__name__)

_DEPRECATION_NOTE = (
    "torch.ao.quantization is deprecated upstream (migrating to torchao); it works on torch 2.14.1"
)


def _quantised_modules(model: Any) -> list[str]:
    """Names and types of modules whose class lives in a torch quantized namespace."""
    found = []
    for name, module in model.named_modules():
        mod_path = type(module).__module__
        packed = type(module).__name__.endswith("PackedParams")  # storage, not a layer
        if ".quantized" in mod_path and name and not packed:
            found.append(f"{name}: {type(module).__name__}")
    return found


def quantize_dynamic_int8(model: Any, module_types: tuple[type, ...] | None = None) -> CompressionResult:
    """Dynamic int8 quantisation of Linear/LSTM/GRU weights; activations quantised per batch.

    The input model is left untouched (a deep copy is quantised). Raises ModelError when no module
    of ``module_types`` exists (nothing would change, which callers should hear about).
    """
    import torch
    from torch import nn

    types = module_types or (nn.Linear, nn.LSTM, nn.GRU)
    ref = copy.deepcopy(model).eval()
    if not any(isinstance(m, types) for m in ref.modules()):
        raise ModelError(
            f"quantize_dynamic_int8: the model has no {[t.__name__ for t in types]} modules; "
            "use quantize_static_int8 for conv nets"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # upstream deprecation notices, recorded in the report
        qmodel = torch.ao.quantization.quantize_dynamic(ref, set(types), dtype=torch.qint8)
    quantised = _quantised_modules(qmodel)
    return CompressionResult(
        model=qmodel,
        kind="dynamic_int8",
        size_bytes_before=model_size_bytes(model),
        size_bytes_after=model_size_bytes(qmodel),
        report={"quantised": quantised, "api": "torch.ao.quantization.quantize_dynamic",
                "notes": [_DEPRECATION_NOTE]},
    )


def quantize_static_int8(
    model: Any,
    calib_batches: Iterable[Any],
    example_inputs: tuple[Any, ...] | None = None,
    backend: str = "x86",
) -> CompressionResult:
    """Static post-training int8 (weights and activations) with the FX graph-mode flow.

    ``calib_batches`` are input tensors run through the observed model to fix activation ranges
    (a few hundred representative samples suffice). ``backend`` is the quantized engine
    (``"x86"`` on Intel/AMD, ``"qnnpack"`` on ARM). Raises ModelError when the model cannot be
    traced symbolically (data-dependent control flow) and ConfigError for an empty calibration set.
    """
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping

    batches = list(calib_batches)
    if not batches:
        raise ConfigError("quantize_static_int8 needs at least one calibration batch")
    if backend not in torch.backends.quantized.supported_engines:
        raise ConfigError(
            f"quantized engine {backend!r} unsupported here; pick one of "
            f"{torch.backends.quantized.supported_engines}"
        )
    torch.backends.quantized.engine = backend
    example = example_inputs or (batches[0],)
    float_model = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        try:
            prepared = prepare_fx(float_model, get_default_qconfig_mapping(backend), example)
        except Exception as e:  # torch.fx raises many types for untraceable code
            raise ModelError(
                f"FX tracing failed ({type(e).__name__}: {e}); remove data-dependent control flow "
                "from forward() or use quantize_dynamic_int8"
            ) from e
        with torch.no_grad():
            for batch in batches:
                prepared(batch)
        qmodel = convert_fx(prepared)
    return CompressionResult(
        model=qmodel,
        kind="static_int8",
        size_bytes_before=model_size_bytes(model),
        size_bytes_after=model_size_bytes(qmodel),
        report={
            "quantised": _quantised_modules(qmodel),
            "api": "torch.ao.quantization.quantize_fx prepare_fx/convert_fx",
            "backend": backend,
            "calibration_batches": len(batches),
            "notes": [_DEPRECATION_NOTE, "PT2E needs torchao (not installed)"],
        },
    )


def _cast_wrapper(model: Any, dtype: Any) -> Any:
    from torch import nn

    class HalfPrecision(nn.Module):
        """Casts inputs to ``dtype`` and outputs back to float32, so it is a drop-in."""

        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            out = self.inner(x.to(dtype) if x.is_floating_point() else x)
            return out.float()

    return HalfPrecision(model)


def cast_half(model: Any, dtype: Any = "float16") -> CompressionResult:
    """Cast weights to float16 or bfloat16; the wrapper casts inputs in and outputs back out.

    Halves the checkpoint. On CPUs without native fp16/bf16 matmul this is often *slower* than
    float32; only the gate's measured speedup says whether it is worth serving.
    """
    import torch

    names = {"float16": torch.float16, "bfloat16": torch.bfloat16}
    torch_dtype = names.get(dtype, dtype) if isinstance(dtype, str) else dtype
    if torch_dtype not in (torch.float16, torch.bfloat16):
        raise ConfigError(f"cast_half dtype must be 'float16' or 'bfloat16', got {dtype!r}")
    half = copy.deepcopy(model).eval().to(torch_dtype)
    wrapped = _cast_wrapper(half, torch_dtype)
    label = str(torch_dtype).removeprefix("torch.")
    n_cast = sum(1 for p in half.parameters() if p.dtype == torch_dtype)
    return CompressionResult(
        model=wrapped,
        kind=label,
        size_bytes_before=model_size_bytes(model),
        size_bytes_after=model_size_bytes(half),
        report={"cast_parameters": n_cast, "dtype": label,
                "notes": ["inputs cast to dtype inside the wrapper; outputs returned as float32"]},
    )
