"""llama.cpp re-quantisations of the shipped GGUF: the reference and the candidates.

The original SmolLM2 checkpoint is not available offline, so the "full-precision" reference is
the shipped Q4_1 file dequantised to F32 (same weights, float arithmetic). Candidates are
re-quantisations of that file; a re-quantised Q8_0 cannot be more accurate than the Q4_1 it
came from, which the model card states.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import ModelError

log = logging.getLogger(__name__)

REFERENCE = "F32"
SHIPPED = "Q4_1"
# name → llama_cpp ftype constant name; Q3_K means llama.cpp's Q3_K_M mix.
FTYPES: dict[str, str] = {
    "F32": "LLAMA_FTYPE_ALL_F32",
    "Q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1",
    "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "Q4_K_M": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "Q3_K": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "Q2_K": "LLAMA_FTYPE_MOSTLY_Q2_K",
}
DEFAULT_CANDIDATES: tuple[str, ...] = ("Q4_1", "Q8_0", "Q4_K_M", "Q3_K", "Q2_K")


def default_candidates(source_quant: str) -> tuple[str, ...]:
    """The source file's own weights first, then the re-quantisations it is not already."""
    rest = tuple(n for n in DEFAULT_CANDIDATES if n not in {SHIPPED, source_quant})
    return (source_quant, *rest)


@dataclass(frozen=True)
class Variant:
    """One GGUF file of the model: name (quantisation), path, size in bytes, how it was made."""

    name: str
    path: Path
    size_bytes: int
    made_by: str


@contextlib.contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """Send llama.cpp's per-tensor quantisation log to ``path``: it reaches both the C stderr and,
    through llama-cpp-python's log callback, Python's ``sys.stderr``."""
    saved = os.dup(2)
    with path.open("ab") as sink, path.open("a") as text_sink, \
            contextlib.redirect_stderr(text_sink):
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def build_variant(source: Path, out_dir: Path, name: str, *, threads: int = 1) -> Variant:
    """Re-quantise ``source`` to ``name`` under ``out_dir`` (kept if already built)."""
    if name not in FTYPES:
        raise ModelError(f"unknown quantisation {name!r}; use one of {sorted(FTYPES)}")
    import ctypes

    import llama_cpp

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{source.stem.rsplit('.', 1)[0]}.{name}.gguf"
    made_by = f"llama_model_quantize({source.name} -> {FTYPES[name]}, allow_requantize)"
    if target.is_file() and target.stat().st_size > 0:
        return Variant(name, target, target.stat().st_size, made_by)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[name])
    params.allow_requantize = True
    params.nthread = threads
    partial = target.with_suffix(".partial")
    with _stderr_to(out_dir / "quantize.log"):
        rc = llama_cpp.llama_model_quantize(
            str(source).encode(), str(partial).encode(), ctypes.byref(params)
        )
    if rc != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        raise ModelError(f"llama.cpp could not quantise {source} to {name} (rc={rc}); "
                         f"see {out_dir / 'quantize.log'}")
    partial.replace(target)  # atomic: a crash never leaves a half-written GGUF under the name
    log.info("built %s (%d bytes)", target, target.stat().st_size)
    return Variant(name, target, target.stat().st_size, made_by)


def build_all(source: Path, out_dir: Path, names: tuple[str, ...],
              source_quant: str = SHIPPED) -> dict[str, Variant]:
    """The reference plus every candidate in ``names``; the source file (its own weights, named
    ``source_quant``) is used as is."""
    variants = {REFERENCE: build_variant(source, out_dir, REFERENCE)}
    for name in names:
        if name == source_quant:
            variants[name] = Variant(name, source, source.stat().st_size, "the source GGUF as given")
        else:
            variants[name] = build_variant(source, out_dir, name)
    return variants
