"""Continuous batching: concurrent requests decode together in one llama.cpp batch.

One engine owns a second llama.cpp context on the runtime's loaded weights, with one KV-cache
sequence per request (``n_seq_max`` slots, unified KV cache). A scheduler thread runs steps; each
step is one ``llama_decode`` holding the next token of every running request plus the prompt
chunk of any request that joined since the last step. Requests join and leave between steps: a
finished or cut request's sequence is removed from the KV cache (``llama_memory_seq_rm``) and its
slot is free for the next waiting request.

Prompt prefix reuse: one extra KV sequence holds the prompt of the last request that finished its
prefill (at most ``prefill_chunk`` tokens). A joining request whose prompt starts with the same
tokens (the chat template's head and the system prompt, usually) gets those KV cells shared into
its own sequence (``llama_memory_seq_cp`` on the unified cache tags cells, it copies nothing) and
prefills only the rest. Positions are the same, so the attention it sees is the same.

Per step, only each sequence's last token asks for logits; greedy requests take one ``argmax``
over the step's logits rows in place (no per-request copy of the vocabulary).

Energy: each step runs in its own meter window; a request is charged the step's energy times its
share of the tokens that step processed (its prompt chunk, or its one decode token). The shares of
a step add up to the step's window, so the requests' energy adds up to the batch's.
"""

from __future__ import annotations

import ctypes
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.assistant.runtime import Generation
from core.errors import ModelError

if TYPE_CHECKING:
    from apps.assistant.runtime import LlamaRuntime
    from core.energy import Measurement, Meter

log = logging.getLogger(__name__)
SPLIT_METHOD = ("energy split from the batch's per-step meter windows by tokens processed "
                "(prompt chunk or decode token) in each step")
_DONE = object()


@dataclass
class _Request:
    """One sequence in the batch (mutable state owned by the scheduler thread)."""

    prompt: list[int]
    max_tokens: int
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    ignore_eos: bool
    rng: np.random.Generator
    out: queue.Queue[Any] = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    seq: int = -1
    fed: int = 0  # prompt tokens already in the KV cache
    reused: int = 0  # of those, shared from the prefix sequence instead of decoded
    n_past: int = 0
    last: int = -1  # last sampled token, fed in the next step
    completion: int = 0
    text: str = ""
    pending: bytes = b""
    energy: dict[tuple[str, str, str], float] = field(default_factory=dict)
    cpu_s: float = 0.0
    tokens_processed: int = 0
    started: float = field(default_factory=time.time)
    finish: str | None = None


class BatchStream:
    """Iterator over one request's text deltas, then its :class:`Generation`; ``close()`` (a
    client that went away) takes the request out of the batch before the next step."""

    def __init__(self, engine: BatchEngine, request: _Request) -> None:
        self._engine, self._req = engine, request
        self.measurement: Measurement | None = None

    def __iter__(self) -> Iterator[str | Generation]:
        return self

    def __next__(self) -> str | Generation:
        item = self._req.out.get()
        if item is _DONE:
            raise StopIteration
        if isinstance(item, Exception):
            raise item
        if isinstance(item, Generation):
            self.measurement = self._engine.measurement_of(self._req)
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Leave the batch now; the energy spent so far stays booked on :attr:`measurement`."""
        self._req.cancelled.set()
        self._engine.wake()
        self.measurement = self._engine.measurement_of(self._req)

    @property
    def tokens_processed(self) -> int:
        """Prompt plus completion tokens this request has had decoded so far."""
        return self._req.tokens_processed


@dataclass(frozen=True)
class BatchStats:
    """Utilisation: busy share of the engine and batch sizes over recent steps."""

    busy_share: float
    steps: int
    mean_batch_size: float
    max_batch_size: int
    recent_batch_sizes: tuple[tuple[float, int], ...]  # (unix time, sequences in the step)
    prefix_tokens_reused: int = 0  # prompt tokens shared from the prefix sequence, not decoded

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"busy_share": self.busy_share, "steps": self.steps,
                "mean_batch_size": self.mean_batch_size, "max_batch_size": self.max_batch_size,
                "recent_batch_sizes": [list(p) for p in self.recent_batch_sizes],
                "prefix_tokens_reused": self.prefix_tokens_reused}


class BatchEngine:
    """Continuous-batching decoder on ``runtime``'s weights.

    Args:
        runtime: the loaded model (weights and tokenizer are shared, not copied).
        meter: meters every step (energy split per request by tokens processed).
        max_seqs: sequences decoded together (1 = one request at a time, same code path).
        n_ctx_per_seq: KV-cache tokens per sequence.
        prefill_chunk: prompt tokens a joining request may add to one step (also the longest
            prompt prefix kept for reuse).
    """

    def __init__(self, runtime: LlamaRuntime, meter: Meter, *, max_seqs: int = 8,
                 n_ctx_per_seq: int = 1024, prefill_chunk: int = 256) -> None:
        import llama_cpp as L

        if max_seqs < 1:
            raise ValueError("max_seqs must be >= 1")
        self.runtime, self.meter, self.max_seqs = runtime, meter, max_seqs
        self.n_ctx_per_seq, self.prefill_chunk = n_ctx_per_seq, prefill_chunk
        self._L = L
        params = L.llama_context_default_params()
        # room for every sequence plus the prefix sequence's cells once no request shares them
        params.n_ctx = n_ctx_per_seq * max_seqs + prefill_chunk
        params.n_batch = params.n_ubatch = prefill_chunk * max_seqs
        params.n_seq_max = max_seqs + 1  # the last sequence id holds the reusable prefix
        params.n_threads = params.n_threads_batch = runtime.n_threads
        params.kv_unified = True
        params.no_perf = True
        model = runtime._llm.model
        self._ctx = L.llama_init_from_model(model, params)
        if not self._ctx:
            raise ModelError("llama.cpp could not create the batching context; lower max_seqs "
                             "or n_ctx_per_seq")
        self._mem = L.llama_get_memory(self._ctx)
        self._vocab = L.llama_model_get_vocab(model)
        self._n_vocab = int(L.llama_vocab_n_tokens(self._vocab))
        self._batch = L.llama_batch_init(params.n_batch, 0, max_seqs)
        self._prefix_seq = max_seqs
        self._prefix: list[int] = []  # tokens the prefix sequence holds (positions 0..n-1)
        self._reused = 0
        self._piece_buf = (ctypes.c_char * 64)()  # scheduler thread only
        self._waiting: deque[_Request] = deque()
        self._running: list[_Request] = []
        self._free = list(range(max_seqs))
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._started = time.monotonic()
        self._busy_s = 0.0
        self._steps = 0
        self._sizes: deque[tuple[float, int]] = deque(maxlen=256)
        self._size_sum = 0
        self._size_max = 0
        self._thread = threading.Thread(target=self._loop, name="assistant-batch", daemon=True)
        self._thread.start()

    # -- public ---------------------------------------------------------------------------------
    def submit(self, prompt_ids: Sequence[int], *, max_tokens: int, temperature: float = 0.0,
               top_p: float = 1.0, stop: Sequence[str] | None = None, seed: int | None = None,
               ignore_eos: bool = False) -> BatchStream:
        """Queue a request; it joins the batch at the next step with a free sequence."""
        if len(prompt_ids) + max_tokens > self.n_ctx_per_seq:
            raise ModelError(f"prompt ({len(prompt_ids)} tokens) + max_tokens ({max_tokens}) "
                             f"exceeds the per-sequence context ({self.n_ctx_per_seq}); shorten "
                             "the conversation or max_tokens")
        req = _Request(list(prompt_ids), max_tokens, temperature, top_p, tuple(stop or ()),
                       ignore_eos, np.random.default_rng(seed))
        with self._lock:
            self._waiting.append(req)
        self.wake()
        return BatchStream(self, req)

    def wake(self) -> None:
        """Run a step soon (new work or a cancellation)."""
        self._wake.set()

    def stats(self) -> BatchStats:
        """Busy share since start and batch sizes of recent steps."""
        with self._lock:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            return BatchStats(min(self._busy_s / elapsed, 1.0), self._steps,
                              self._size_sum / self._steps if self._steps else 0.0,
                              self._size_max, tuple(self._sizes), self._reused)

    def measurement_of(self, req: _Request) -> Measurement:
        """The request's share of the step windows it took part in, as a Measurement."""
        from core.energy.measurement import ComponentEnergy, Measurement

        with self._lock:
            energy = dict(req.energy)
            cpu_s, tokens = req.cpu_s, req.tokens_processed
        components = tuple(ComponentEnergy(name, j, method, f"{source}; {SPLIT_METHOD}")  # type: ignore[arg-type]
                           for (name, method, source), j in sorted(energy.items()))
        if not components:
            components = (ComponentEnergy("cpu_model", 0.0, "modelled",
                                          f"no step ran for this request; {SPLIT_METHOD}"),)
        wall = max(time.time() - req.started, 0.0)
        return Measurement(name="assistant.request", unit="token", count=tokens,
                           start_unix_s=req.started, wall_s=wall, cpu_s=cpu_s,
                           components=components, scope="process", utilisation=0.0,
                           uncertainty_rel=0.4, notes=(SPLIT_METHOD,))

    def close(self) -> None:
        """Stop the scheduler and free the context."""
        self._stop = True
        self.wake()
        self._thread.join(5)
        self._L.llama_batch_free(self._batch)
        self._L.llama_free(self._ctx)

    # -- scheduler ------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop:
            self._admit_and_reap()
            if not self._running:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            try:
                self._step()
            except Exception as e:  # a failed decode fails the requests in it, not the server
                log.exception("batch step failed")
                for req in list(self._running):
                    req.out.put(ModelError(f"llama.cpp decode failed: {e}"))
                    self._leave(req)

    def _admit_and_reap(self) -> None:
        for req in list(self._running):
            if req.cancelled.is_set() or req.finish is not None:
                self._leave(req)
        with self._lock:
            while self._waiting and self._free:
                req = self._waiting.popleft()
                if req.cancelled.is_set():
                    req.out.put(_DONE)
                    continue
                req.seq = self._free.pop()
                self._running.append(req)
                self._reuse_prefix(req)

    def _reuse_prefix(self, req: _Request) -> None:
        """Share the KV cells of the longest common prompt prefix (at least the last prompt
        token is decoded, for its logits)."""
        limit = min(len(req.prompt) - 1, len(self._prefix))
        n = 0
        while n < limit and req.prompt[n] == self._prefix[n]:
            n += 1
        if n:
            self._L.llama_memory_seq_cp(self._mem, self._prefix_seq, req.seq, 0, n)
            req.fed = req.n_past = req.reused = n
            self._reused += n

    def _remember_prefix(self, req: _Request) -> None:
        """After ``req``'s prompt is in the cache: keep it as the prefix the next request may
        share (unless the prefix sequence already holds it)."""
        keep = req.prompt[: min(len(req.prompt) - 1, self.prefill_chunk)]
        if not keep or self._prefix[: len(keep)] == keep:
            return
        self._L.llama_memory_seq_rm(self._mem, self._prefix_seq, -1, -1)
        self._L.llama_memory_seq_cp(self._mem, req.seq, self._prefix_seq, 0, len(keep))
        self._prefix = list(keep)

    def _leave(self, req: _Request) -> None:
        self._L.llama_memory_seq_rm(self._mem, req.seq, -1, -1)
        with self._lock:
            self._running.remove(req)
            self._free.append(req.seq)
        if req.finish is None:
            req.finish = "cancelled"
        req.out.put(_DONE)

    def _step(self) -> None:
        b = self._batch
        rows: list[tuple[_Request, int, bool]] = []  # (request, tokens in this step, samples)
        prefilled: list[_Request] = []  # prompts complete after this step
        n = 0
        for req in self._running:
            if req.fed < len(req.prompt):
                chunk = req.prompt[req.fed : req.fed + self.prefill_chunk]
                for k, tok in enumerate(chunk):
                    self._put(b, n, tok, req.n_past + k, req.seq, False)
                    n += 1
                req.fed += len(chunk)
                req.n_past += len(chunk)
                last = req.fed == len(req.prompt)
                b.logits[n - 1] = last
                rows.append((req, len(chunk), last))
                if last:
                    prefilled.append(req)
            else:
                self._put(b, n, req.last, req.n_past, req.seq, True)
                n += 1
                req.n_past += 1
                rows.append((req, 1, True))
        b.n_tokens = n
        with self.meter.window("assistant.batch_step", unit="token") as w:
            started = time.perf_counter()
            rc = self._L.llama_decode(self._ctx, b)
            w.count += n
        busy = time.perf_counter() - started
        if rc != 0:
            raise ModelError(f"llama_decode returned {rc}")
        self._account(rows, n, w.measurement, busy)
        for req in prefilled:
            self._remember_prefix(req)
        sampling = [req for req, _, samples in rows if samples]
        if not sampling:  # only prompt chunks that are not a prompt's end
            return
        ptr = self._L.llama_get_logits(self._ctx)  # one row per token that asked, in batch order
        logits = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                       shape=(len(sampling), self._n_vocab))
        greedy = logits.argmax(axis=1)  # a view of llama.cpp's buffer: nothing copied
        for k, req in enumerate(sampling):
            token = int(greedy[k]) if req.temperature <= 0.0 else _sample(logits[k], req)
            self._emit(req, token)

    @staticmethod
    def _put(b: Any, i: int, tok: int, pos: int, seq: int, logits: bool) -> None:
        b.token[i] = tok
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits

    def _account(self, rows: list[tuple[_Request, int, bool]], n: int, m: Any,
                 busy_s: float) -> None:
        with self._lock:
            self._busy_s += busy_s
            self._steps += 1
            self._sizes.append((time.time(), len(rows)))
            self._size_sum += len(rows)
            self._size_max = max(self._size_max, len(rows))
            for req, count, _ in rows:
                share = count / n
                req.tokens_processed += count
                req.cpu_s += m.cpu_s * share
                for c in m.components:
                    key = (c.name, c.method, c.source)
                    req.energy[key] = req.energy.get(key, 0.0) + c.energy_j * share

    def _emit(self, req: _Request, token: int) -> None:
        eog = bool(self._L.llama_vocab_is_eog(self._vocab, token))
        if eog and not req.ignore_eos:
            self._finish(req, "stop")
            return
        req.last = token
        req.completion += 1
        delta = self._piece(req, token)
        if delta:
            req.text += delta
            hit = next((s for s in req.stop if s in req.text), None)
            if hit is not None:
                cut = req.text.index(hit)
                keep = delta[: max(len(delta) - (len(req.text) - cut), 0)]
                req.text = req.text[:cut]
                if keep:
                    req.out.put(keep)
                self._finish(req, "stop")
                return
            req.out.put(delta)
        if req.completion >= req.max_tokens:
            self._finish(req, "length")

    def _piece(self, req: _Request, token: int) -> str:
        """Text of ``token``, holding back bytes of an unfinished UTF-8 character."""
        buf = self._piece_buf
        size = self._L.llama_token_to_piece(self._vocab, token, buf, len(buf), 0, False)
        req.pending += buf.raw[: max(size, 0)]
        try:
            text, req.pending = req.pending.decode("utf-8"), b""
        except UnicodeDecodeError as e:
            if len(req.pending) - e.start > 3:  # not a partial character: replace it
                text, req.pending = req.pending.decode("utf-8", "replace"), b""
            else:
                text, req.pending = req.pending[: e.start].decode("utf-8"), req.pending[e.start :]
        return text

    def _finish(self, req: _Request, reason: str) -> None:
        req.finish = reason
        req.out.put(Generation(req.text, reason, len(req.prompt), req.completion))


def _sample(logits: np.ndarray, req: _Request) -> int:
    """Temperature + nucleus sampling with the request's RNG (greedy is the step's argmax)."""
    z = logits.astype(np.float64) / req.temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    if req.top_p < 1.0:
        order = np.argsort(-p)
        keep = order[: int(np.searchsorted(np.cumsum(p[order]), req.top_p)) + 1]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return int(req.rng.choice(len(p), p=p))
