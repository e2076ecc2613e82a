"""Model compression: quantisation, structured pruning, distillation, classic-model shrinking.

Torch and scikit-learn are imported inside the functions, so ``import core.compress`` is cheap.
Every step returns a :class:`CompressionResult`; :func:`run_compression` meters it and books it in
the ledger as phase ``compress``.
"""

from core.compress.classic import compress_trees, distill_to_small_model
from core.compress.distill import distill, hinton_loss
from core.compress.metered import run_compression
from core.compress.prune import prune_structured
from core.compress.quantize import cast_half, quantize_dynamic_int8, quantize_static_int8
from core.compress.result import CompressionResult, count_parameters, model_size_bytes

__all__ = [
    "CompressionResult",
    "cast_half",
    "compress_trees",
    "count_parameters",
    "distill",
    "distill_to_small_model",
    "hinton_loss",
    "model_size_bytes",
    "prune_structured",
    "quantize_dynamic_int8",
    "quantize_static_int8",
    "run_compression",
]
