"""AssistantService: the one API the chat surfaces (REST, Streamlit, CLI) call.

A request goes: validate → token discipline → cache lookup (exact, then semantic) → bounded
queue → generation inside a meter window → ledger footprint (phase ``serve``) → caches.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.assistant.cache import (
    CachedAnswer,
    ExactCache,
    SemanticCache,
    conversation_key,
    namespace,
)
from apps.assistant.grounding import retrieve, wants_grounding
from apps.assistant.model_file import check_gguf
from apps.assistant.model_file import resolve as resolve_model
from apps.assistant.queue import AdmissionQueue, QueueFullError
from apps.assistant.runtime import Generation, LlamaRuntime
from apps.assistant.schemas import ChatCompletionRequest
from apps.assistant.serving import (
    ChatResult,
    ContextTooLongError,
    RequestError,
    ServeConfig,
    ServingTotals,
    UnknownModelError,
)
from apps.assistant.tokens import Prepared, prepare
from core.ledger.serving import serving_book
from core.units import co2e_kg

if TYPE_CHECKING:
    from apps.assistant.batching import BatchEngine
    from apps.assistant.cache import Embedder
    from apps.assistant.served import Served
    from apps.assistant.summary import AssistantRunSummary
    from apps.context import AppContext

log = logging.getLogger(__name__)
APP = "assistant"
# What the surfaces need besides the service: result type and the errors they map to HTTP codes.
__all__ = ["AssistantService", "ChatResult", "QueueFullError", "RequestError",
           "check_model_file", "register_service", "service_for"]
SUMMARY_MAX_TOKENS = 48


class AssistantService:
    """Serve chat completions with per-request energy, caches and token discipline.

    Args:
        ctx: shared context (meter, ledger, carbon source, dirs).
        config: serving configuration (:data:`apps.assistant.serving.NAIVE` for the baseline).
        runtime: an already loaded model; None loads the model the gate chose (or the shipped
            file when no gate has run yet), on first use.
        embedder: sentence embedder for the semantic cache; None loads all-MiniLM-L6-v2 lazily.
        served: the model card's decision (``apps.assistant.served.served``), read once; it
            gives the configuration when ``config`` is None and the weights loaded on first use.
    """

    def __init__(self, ctx: AppContext, config: ServeConfig | None = None, *,
                 runtime: LlamaRuntime | None = None, embedder: Embedder | None = None,
                 model_id: str | None = None, served: Served | None = None) -> None:
        self.ctx = ctx
        self.config = config or (served.config if served else ServeConfig())
        self._served = served  # the card's decision, read once (None: read on first use)
        # The shipped SmolLM2 id, or one derived from the user's GGUF file name
        # (GREENSTACK_ASSISTANT_MODEL / --model), without loading the model.
        self.model_id = model_id or resolve_model(ctx.assistant_model)[1]
        self._runtime = runtime
        self._embedder = embedder
        self._semantic: SemanticCache | None = None
        self._engine: BatchEngine | None = None
        self.exact = ExactCache()
        self.queue = AdmissionQueue(self.config.queue_capacity, concurrent=True)
        self.totals = ServingTotals()
        self.session_id = f"serve-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self._init_lock = threading.Lock()
        self.served_reason = "runtime passed in by the caller" if runtime else ""

    # -- model and caches ------------------------------------------------------------------------
    @property
    def runtime(self) -> LlamaRuntime:
        """The loaded model (loaded on first use)."""
        with self._init_lock:
            if self._runtime is None:
                from apps.assistant.served import load_served_runtime

                # A decision made before any card existed is read again (a run since may have
                # written one); otherwise the card is not read twice.
                known = self._served if self._served and self._served.variant else None
                self._runtime, self.served_reason = load_served_runtime(self.ctx, self.config,
                                                                        known)
            return self._runtime

    @property
    def engine(self) -> BatchEngine:
        """The continuous-batching decoder on the served weights (built on first use)."""
        rt = self.runtime
        with self._init_lock:
            if self._engine is None:
                from apps.assistant.batching import BatchEngine

                self._engine = BatchEngine(rt, self.ctx.meter, max_seqs=self.config.batch_max_seqs,
                                           n_ctx_per_seq=rt.n_ctx)
            return self._engine

    def semantic_cache(self) -> SemanticCache | None:
        """The semantic cache, built on first use (threshold tuned unless configured)."""
        if not self.config.semantic_cache:
            return None
        with self._init_lock:
            if self._semantic is None:
                from apps.assistant.cache import MiniLMEmbedder, tune_threshold
                from apps.assistant.evalset import load_eval_set

                embedder = self._embedder or MiniLMEmbedder()
                threshold = self.config.semantic_threshold
                if threshold is None:
                    pairs = load_eval_set(self.ctx.data_dir).pairs
                    threshold = tune_threshold(embedder, pairs).threshold
                self._semantic = SemanticCache(embedder, threshold)
            return self._semantic

    def models(self) -> list[dict[str, Any]]:
        """OpenAI ``/v1/models`` entries."""
        return [{"id": self.model_id, "object": "model", "created": 0, "owned_by": "greenstack"}]

    # -- requests --------------------------------------------------------------------------------
    def complete(self, request: ChatCompletionRequest) -> ChatResult:
        """Answer one request (non-streaming)."""
        result: ChatResult | None = None
        for item in self.stream(request):
            if isinstance(item, ChatResult):
                result = item
        if result is None:  # stream() always ends with a result; this guards refactors
            raise RuntimeError("stream ended without a result")
        return result

    def stream(self, request: ChatCompletionRequest) -> Iterator[str | ChatResult]:
        """Text deltas, then one :class:`ChatResult`. Errors surface before the first delta."""
        plan = self._plan(request)
        hit = self._lookup(plan)
        if hit is not None:
            yield hit.text
            yield hit
            return
        yield from self._generate(plan)

    def _plan(self, request: ChatCompletionRequest) -> _Plan:
        if request.model != self.model_id:
            raise UnknownModelError(f"model {request.model!r} is not served here; use "
                                    f"{self.model_id!r} (GET /v1/models)", param="model",
                                    code="model_not_found")
        messages = [m.as_dict() for m in request.messages]
        citations: tuple[str, ...] = ()
        question = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        if self.config.grounding and wants_grounding(question):
            grounding = retrieve(question, self.ctx.ledger, self.ctx.models_dir)
            messages.insert(0, {"role": "system", "content": grounding.prompt()})
            citations = grounding.citations
        rt = self.runtime
        prepared = prepare(messages, request.limit(), self.config.policy,
                           lambda ms: len(rt.chat_prompt_tokens(ms)), self._summarise)
        if prepared.prompt_tokens_after + prepared.max_tokens > rt.n_ctx:
            raise ContextTooLongError(
                f"this conversation needs {prepared.prompt_tokens_after} prompt tokens + "
                f"{prepared.max_tokens} completion tokens, over the {rt.n_ctx}-token context; "
                "shorten the messages or max_tokens", param="messages",
                code="context_length_exceeded")
        temperature = (request.temperature if request.temperature is not None
                       else self.config.default_temperature)
        params = {"max_tokens": prepared.max_tokens, "temperature": temperature,
                  "top_p": request.top_p or 1.0, "stop": request.stops(), "seed": request.seed}
        system = "\n".join(m["content"] for m in prepared.messages if m["role"] == "system")
        return _Plan(prepared, params, namespace(rt.name, system, params), question,
                     citations, single_turn=sum(m.role == "user" for m in request.messages) == 1)

    def _summarise(self, messages: Any) -> str:
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in messages)
        prompt = [{"role": "user", "content": "Summarise this conversation in one sentence:\n"
                   + transcript}]
        rt = self.runtime
        needed = len(rt.chat_prompt_tokens(prompt)) + SUMMARY_MAX_TOKENS
        if needed > rt.n_ctx:  # the client's history, not the server, is at fault: a 400
            raise ContextTooLongError(
                f"the earlier turns of this conversation need {needed} tokens to summarise, over "
                f"the {rt.n_ctx}-token context; send fewer or shorter messages",
                param="messages", code="context_length_exceeded")
        return rt.chat(prompt, max_tokens=SUMMARY_MAX_TOKENS).text

    def _cacheable(self, plan: _Plan) -> bool:
        # Grounded answers depend on the ledger at that moment, and sampled answers are meant to
        # vary, so only greedy, ungrounded requests are cached.
        return not plan.citations and plan.params["temperature"] == 0.0

    def _lookup(self, plan: _Plan) -> ChatResult | None:
        if not self._cacheable(plan):
            return None
        with self.ctx.meter.window("assistant.cache_lookup", unit="request") as w:
            started = time.perf_counter()
            found = self._find(plan)
            w.count += 1
        if found is None:
            return None
        answer, kind, similarity = found
        return self._finish_hit(plan, answer, kind, similarity, w.measurement,
                                time.perf_counter() - started)

    def _find(self, plan: _Plan) -> tuple[CachedAnswer, str, float] | None:
        key = conversation_key(plan.prepared.messages)
        if self.config.exact_cache and (answer := self.exact.get(plan.ns, key)) is not None:
            return answer, "exact", 1.0
        semantic = self.semantic_cache() if plan.single_turn else None
        if semantic is None:
            return None
        plan.vector = semantic.embed(plan.question)
        match = semantic.get(plan.ns, plan.question, plan.vector)
        return (match[0], "semantic", match[1]) if match else None

    def _generate(self, plan: _Plan) -> Iterator[str | ChatResult]:
        """Decode in the shared batch (continuous batching); a closed generator (the client
        went away) takes the request out of the batch before the next step."""
        p = plan.params
        prompt_ids = self.runtime.chat_prompt_tokens(plan.prepared.messages)
        final: Generation | None = None
        parts: list[str] = []
        with self.queue.admit():
            started = time.perf_counter()
            stream = self.engine.submit(prompt_ids, max_tokens=p["max_tokens"],
                                        temperature=p["temperature"], top_p=p["top_p"],
                                        stop=p["stop"], seed=p["seed"])
            cut = False
            try:
                for item in stream:
                    if isinstance(item, Generation):
                        final = item
                    else:
                        parts.append(item)
                        yield item
            except GeneratorExit:
                cut = True
                raise
            finally:
                stream.close()  # leaves the batch now (a cut or an error); no-op after the end
                if cut:
                    self._record_cut(plan, len(prompt_ids), parts, stream,
                                     time.perf_counter() - started)
        if final is None or stream.measurement is None:
            raise RuntimeError("the batch ended without a final generation")
        wall_s = time.perf_counter() - started
        m = stream.measurement
        result = self._result(plan, final, m, wall_s)
        if self._cacheable(plan):
            self._store(plan, final, result.energy_j)
        yield self._record(result, m, plan)

    def _record_cut(self, plan: _Plan, prompt_tokens: int, parts: list[str], stream: Any,
                    wall_s: float) -> None:
        """Book a generation its client abandoned: the energy spent so far is still a footprint
        (the request's share of the batch steps it took part in). Nothing is cached."""
        text = "".join(parts)
        completion = max(stream.tokens_processed - prompt_tokens, 0)
        gen = Generation(text, "cancelled", prompt_tokens, completion)
        self._record(self._result(plan, gen, stream.measurement, wall_s), stream.measurement,
                     plan)

    def _store(self, plan: _Plan, gen: Generation, energy_j: float) -> None:
        answer = CachedAnswer(gen.text, gen.finish_reason, gen.prompt_tokens,
                              gen.completion_tokens, energy_j, plan.question)
        if self.config.exact_cache:
            self.exact.put(plan.ns, conversation_key(plan.prepared.messages), answer)
        semantic = self.semantic_cache() if plan.single_turn else None
        if semantic is not None:
            vector = plan.vector if plan.vector is not None else semantic.embed(plan.question)
            semantic.put(plan.ns, plan.question, vector, answer)

    def _intensity(self) -> Any:
        return self.ctx.carbon.intensity(None)

    def _co2e_g(self, energy_j: float, intensity: Any) -> float:
        return co2e_kg(energy_j, intensity.g_per_kwh, self.ctx.pue) * 1000.0

    def _result(self, plan: _Plan, gen: Generation, m: Any, wall_s: float) -> ChatResult:
        intensity = self._intensity()
        return ChatResult(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}", created=int(time.time()), model=self.model_id,
            text=gen.text, finish_reason=gen.finish_reason, prompt_tokens=gen.prompt_tokens,
            completion_tokens=gen.completion_tokens, wall_s=wall_s, energy_j=m.energy_j,
            co2e_g=self._co2e_g(m.energy_j, intensity), method=m.method, cache="miss",
            tokens_saved=plan.prepared.tokens_saved, citations=plan.citations,
            intensity_g_per_kwh=intensity.g_per_kwh,
            intensity_source=f"{intensity.zone} {intensity.source} {intensity.year}",
        )

    def _finish_hit(self, plan: _Plan, answer: CachedAnswer, kind: str, similarity: float,
                    m: Any, wall_s: float) -> ChatResult:
        intensity = self._intensity()
        result = ChatResult(
            id=f"chatcmpl-{uuid.uuid4().hex[:24]}", created=int(time.time()), model=self.model_id,
            text=answer.text, finish_reason=answer.finish_reason,
            prompt_tokens=0, completion_tokens=0, wall_s=wall_s, energy_j=m.energy_j,
            co2e_g=self._co2e_g(m.energy_j, intensity), method=m.method, cache="hit",
            cache_kind=kind, similarity=similarity,
            energy_avoided_j=max(answer.energy_j - m.energy_j, 0.0),
            co2e_avoided_g=self._co2e_g(max(answer.energy_j - m.energy_j, 0.0), intensity),
            tokens_saved=plan.prepared.tokens_saved,
            intensity_g_per_kwh=intensity.g_per_kwh,
            intensity_source=f"{intensity.zone} {intensity.source} {intensity.year}",
        )
        return self._record(result, m, plan)

    def _record(self, result: ChatResult, m: Any, plan: _Plan) -> ChatResult:
        """Count the result and append its footprint to the ledger (phase ``serve``)."""
        self.totals.add(result)
        if not self.config.record_requests:
            return result
        counters = {"prompt_tokens": result.prompt_tokens,
                    "completion_tokens": result.completion_tokens,
                    "cache_hits": int(result.cache == "hit"), "tokens_saved": result.tokens_saved,
                    "energy_avoided_j": result.energy_avoided_j,
                    # streams whose client disconnected: their energy so far is still booked
                    "cancelled": int(result.finish_reason == "cancelled")}
        # One ledger row per minute and kind of work (generation, cache lookup), not per request.
        record_id = serving_book(self.ctx.ledger).add(
            app=APP, run_id=self.session_id, measurement=m, intensity=self._intensity(),
            pue=self.ctx.pue, detail=f"model {result.model}", counters=counters)
        return _with(result, ledger_record_id=record_id)

    def stats(self) -> dict[str, Any]:
        """Cumulative serving totals and queue state."""
        q = self.queue.stats()
        engine = self._engine
        return {"totals": self.totals.to_dict(), "queue": q.__dict__,
                "batching": ({"max_seqs": self.config.batch_max_seqs, **engine.stats().to_dict()}
                             if engine is not None else {"max_seqs": self.config.batch_max_seqs,
                                                         "busy_share": 0.0, "steps": 0}),
                "exact_cache_entries": len(self.exact), "model": self.model_id,
                "served_reason": self.served_reason, "session_id": self.session_id}

    def run_pipeline(self, progress: Callable[[str, int, int], None] | None = None, *,
                     candidates: tuple[str, ...] | None = None,
                     search_min_budget: int | None = None) -> AssistantRunSummary:
        """``greenstack run assistant``: weights gate, serving-configuration search, card."""
        from apps.assistant.pipeline import RunConfig, run, with_min_budget

        config = with_min_budget(RunConfig(candidates=candidates), search_min_budget)
        return run(self.ctx, config, progress)

    def card(self) -> dict[str, Any] | None:
        """The model card of the served file as a dict (None before the first run or when it
        cannot be read): what the page shows."""
        import json

        from apps.assistant.served import card_path

        path = card_path(self.ctx)
        if not path.is_file():
            return None
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            return None

    def booked_savings(self) -> tuple[float, str, int]:
        """Grams of CO2e the ledger counts as saved by the assistant, as ``greenstack report``
        counts them (every reuse event, only the latest estimate per baseline), a sentence
        saying what was counted, and the number of serve footprints in the ledger."""
        from core.impact import MONITORING, split_savings

        split = split_savings([s for s in self.ctx.ledger.savings(app=APP)
                               if s.kind != MONITORING])
        serve = self.ctx.ledger.footprints(app=APP, phase="serve")
        return sum(s.co2e_kg for s in split.counted) * 1e3, split.note, len(serve)


class _Plan:
    """Everything decided about one request before generation."""

    def __init__(self, prepared: Prepared, params: dict[str, Any], ns: str, question: str,
                 citations: tuple[str, ...], single_turn: bool) -> None:
        self.prepared, self.params, self.ns, self.question = prepared, params, ns, question
        self.citations, self.single_turn = citations, single_turn
        self.vector: Any = None


def _with(result: ChatResult, **changes: Any) -> ChatResult:
    from dataclasses import replace

    return replace(result, **changes)


def service_for(ctx: AppContext) -> AssistantService:
    """One cached service per context (the model loads once per process)."""
    from apps.context import cached_service

    return cached_service(ctx, "assistant", lambda c: AssistantService(c, served=_served(c)))


def register_service(ctx: AppContext, service: AssistantService) -> None:
    """Make ``service`` the one the routes use for ``ctx`` (a preloaded model, tests)."""
    from apps.context import register_service as register

    register(ctx, "assistant", service)


def check_model_file(path: Path) -> Path:
    """A user's GGUF checked at start (exists, readable, GGUF magic), or a ModelError."""
    return check_gguf(path)


def _served(ctx: AppContext) -> Served:
    """The card's decision (configuration and weights; hand-set defaults before a search ran)."""
    from apps.assistant.served import served

    return served(ctx)
