"""Gate the whole serving configuration, not only the weights.

Space: weights variant × default ``max_tokens`` × system prompt × history (full, or a 192-token
budget with the dropped turns summarised) × cache (off, exact, exact + semantic at the tuned or a
looser threshold). Successive halving (``core.runs.successive_halving``) ranks configurations on
growing prefixes of the ``tune`` part by measured J per answered request, with configurations
more than 1 point below the naive configuration's quality on the same prompts ranked last. The
finalists then face ``core.gates.select_cheapest_passing`` on the ``held`` part, which the search
never saw: cheapest measured J per answered request first, no more than 1 point below naive
overall and 3 points on any category. If none passes (or none is cheaper), naive serves.

Grounding: a question about the suite's own results is grounded as the service grounds it (the
retrieved ledger facts become the system message, and the answer is never cached), but on the
shipped ledger fixture (:mod:`apps.assistant.grounding_fixture`), never the user's live ledger.
Every configuration, the naive one included, grounds the same way: grounding is not a dimension
of the search.

Energy: every distinct generation (same weights, same prompt tokens, same cap) runs once in its
own meter window and its measured joules are charged to every configuration that issues it;
cache lookups (and semantic embeddings) are metered per request. Greedy decoding makes a repeated
generation identical, so sharing it changes no answer, only the CPU the search spends.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.assistant.cache import CachedAnswer, ExactCache, SemanticCache, conversation_key
from apps.assistant.grader import grade
from apps.assistant.serving import ServeConfig
from apps.assistant.serving_set import ServingItem, ServingSet
from apps.assistant.tokens import SHORT_SYSTEM_PROMPT, VERBOSE_SYSTEM_PROMPT, TokenPolicy, prepare
from apps.assistant.variants import REFERENCE
from apps.progress import Progress

if TYPE_CHECKING:
    from apps.assistant.cache import Embedder
    from apps.assistant.grounding import Grounding
    from apps.assistant.runtime import LlamaRuntime
    from core.energy import Meter

SYSTEM_PROMPTS = {"short": SHORT_SYSTEM_PROMPT, "verbose": VERBOSE_SYSTEM_PROMPT}
HISTORY = {"full": (10**9, False), "trim192+summary": (192, True)}  # (budget tokens, summarise)
CACHES = ("off", "exact", "semantic")
LOOSE_THRESHOLD = 0.90  # a looser semantic threshold than the tuned one, still above the floor
SUMMARY_PROMPT = "Summarise this conversation in one sentence:\n"
SUMMARY_MAX_TOKENS = 48
MAX_DROP_PTS, MAX_CATEGORY_DROP_PTS = 1.0, 3.0
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class ServingChoice:
    """One point of the configuration space."""

    variant: str
    max_tokens: int
    system: str  # key of SYSTEM_PROMPTS
    history: str  # key of HISTORY
    cache: str  # one of CACHES
    threshold: float | None = None  # semantic only; None = tuned on the shipped pair set

    @property
    def label(self) -> str:
        """Short readable name, e.g. ``Q4_1/24/short/full/exact``."""
        cache = self.cache + (f"@{self.threshold:g}" if self.threshold else "")
        return f"{self.variant}/{self.max_tokens}/{self.system}/{self.history}/{cache}"

    def policy(self) -> TokenPolicy:
        """The token policy this choice serves with."""
        budget, summarise = HISTORY[self.history]
        return TokenPolicy(default_max_tokens=self.max_tokens,
                           system_prompt=SYSTEM_PROMPTS[self.system],
                           history_budget_tokens=budget, summarise=summarise)

    def serve_config(self, **overrides: Any) -> ServeConfig:
        """The ServeConfig the service runs with for this choice."""
        return ServeConfig(policy=self.policy(), exact_cache=self.cache != "off",
                           semantic_cache=self.cache == "semantic",
                           semantic_threshold=self.threshold, **overrides)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class SearchOptions:
    """Size of the search. The defaults keep ``greenstack run assistant`` within minutes on two
    cores: small answer caps (the graders check short answers), two weights (the reference and
    the cheapest that held perplexity), halving from 6 tuning prompts to 36, and the 3 best of
    the last round gated on the held-back part."""

    max_tokens: tuple[int, ...] = (24, 48)
    naive_max_tokens: int = 96  # the naive baseline's cap (a real naive deployment sets none)
    variants: int = 2
    min_budget: int = 6
    max_budget: int = 36
    finalists: int = 3

    def naive(self) -> ServingChoice:
        """The naive configuration: F32 reference, verbose prompt, full history, no caches."""
        return ServingChoice(REFERENCE, self.naive_max_tokens, "verbose", "full", "off")


NAIVE_CHOICE = SearchOptions().naive()


def search_space(variants: Sequence[str], options: SearchOptions | None = None
                 ) -> list[ServingChoice]:
    """Every combination, plus the naive configuration (its cap is outside the grid)."""
    options = options or SearchOptions()
    caches: list[tuple[str, float | None]] = [("off", None), ("exact", None), ("semantic", None),
                                              ("semantic", LOOSE_THRESHOLD)]
    grid = [ServingChoice(v, m, s, h, c, t) for v, m, s, h, (c, t) in itertools.product(
        variants, options.max_tokens, SYSTEM_PROMPTS, HISTORY, caches)]
    return [options.naive(), *grid]


@dataclass(frozen=True)
class Gen:
    """One measured generation."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    energy_j: float
    wall_s: float
    method: str


class Generations:
    """Generations memoised by (variant, prompt messages, cap), each measured once."""

    def __init__(self, runtimes: Mapping[str, LlamaRuntime], meter: Meter) -> None:
        self.runtimes, self.meter = runtimes, meter
        self._memo: dict[tuple[str, str, int], Gen] = {}
        self._counter = next(iter(runtimes.values()))  # same tokenizer for every variant

    def __len__(self) -> int:
        return len(self._memo)

    def count(self, messages: Sequence[dict[str, str]]) -> int:
        """Tokens of the templated conversation."""
        return len(self._counter.chat_prompt_tokens(messages))

    def answer(self, variant: str, messages: Sequence[dict[str, str]], max_tokens: int) -> Gen:
        """The greedy answer of ``variant`` to ``messages``, generated on first request."""
        key = (variant, json.dumps(list(messages)), max_tokens)
        if key not in self._memo:
            rt = self.runtimes[variant]
            with self.meter.window("assistant.search.generate", unit="token") as w:
                started = time.perf_counter()
                gen = rt.chat(messages, max_tokens=max_tokens)
                w.count += gen.completion_tokens
            m = w.measurement
            assert m is not None
            self._memo[key] = Gen(gen.text, gen.prompt_tokens, gen.completion_tokens, m.energy_j,
                                  time.perf_counter() - started, m.method)
        return self._memo[key]

    def summary(self, variant: str, dropped: Sequence[dict[str, str]]) -> Gen:
        """The model's one-line summary of dropped turns (as the service writes it)."""
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in dropped)
        return self.answer(variant, [{"role": "user", "content": SUMMARY_PROMPT + transcript}],
                           SUMMARY_MAX_TOKENS)


@dataclass(frozen=True)
class Outcome:
    """One configuration over a list of items: per-item grades, energy and tokens."""

    choice: ServingChoice
    ids: tuple[str, ...]
    categories: tuple[str, ...]
    passed: tuple[bool, ...]
    energy_j: tuple[float, ...]
    wall_s: tuple[float, ...]
    prompt_tokens: int
    completion_tokens: int
    tokens_saved: int
    hits: int
    answered: int
    method: str

    @property
    def quality_pct(self) -> float:
        """Share of items whose answer passes its check, in percent."""
        return 100.0 * float(np.mean(self.passed)) if self.passed else 0.0

    @property
    def j_per_answered(self) -> float:
        """Measured J per answered request (an empty answer is not an answer)."""
        return float(sum(self.energy_j)) / max(self.answered, 1)

    def by_category(self) -> dict[str, float]:
        """Quality per category, in percent."""
        out: dict[str, list[bool]] = {}
        for cat, ok in zip(self.categories, self.passed, strict=True):
            out.setdefault(cat, []).append(ok)
        return {c: 100.0 * float(np.mean(v)) for c, v in sorted(out.items())}

    def summary(self) -> dict[str, Any]:
        """Numbers the card records for this configuration."""
        return {"label": self.choice.label, "config": self.choice.to_dict(), "n": len(self.ids),
                "quality_pct": self.quality_pct, "j_per_answered_request": self.j_per_answered,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cache_hits": self.hits, "by_category": self.by_category()}


Grounder = Callable[[str], "Grounding | None"]  # question -> retrieved facts, None: not grounded


class Evaluator:
    """Runs a configuration over items the way the service would (grounding, token discipline,
    caches). ``ground``: retrieval on the shipped ledger fixture (None: no item is grounded)."""

    def __init__(self, gens: Generations, embedder: Embedder | None, tuned_threshold: float,
                 meter: Meter, ground: Grounder | None = None) -> None:
        self.gens, self.embedder, self.tuned, self.meter = gens, embedder, tuned_threshold, meter
        self.ground = ground
        self._memo: dict[tuple[ServingChoice, tuple[str, ...]], Outcome] = {}

    def run(self, choice: ServingChoice, items: Sequence[ServingItem]) -> Outcome:
        """Grades and measured energy of ``choice`` on ``items`` (caches start empty)."""
        key = (choice, tuple(i.id for i in items))
        if key not in self._memo:
            self._memo[key] = self._run(choice, items)
        return self._memo[key]

    def _run(self, choice: ServingChoice, items: Sequence[ServingItem]) -> Outcome:
        exact = ExactCache()
        semantic = (SemanticCache(self.embedder, choice.threshold or self.tuned)
                    if choice.cache == "semantic" and self.embedder is not None else None)
        policy = choice.policy()
        passed, energy, walls = [], [], []
        prompt = completion = saved = hits = answered = 0
        methods: set[str] = set()
        spent: list[float] = []  # energy charged to the current item

        def summarise(dropped: Sequence[dict[str, str]]) -> str:
            g = self.gens.summary(choice.variant, dropped)
            spent.append(g.energy_j)
            return g.text

        for item in items:
            spent.clear()
            messages = item.as_messages()
            grounding = self.ground(item.question) if self.ground else None
            if grounding is not None:  # as the service: facts first, grounded answers uncached
                messages.insert(0, {"role": "system", "content": grounding.prompt()})
            prepared = prepare(messages, None, policy, self.gens.count, summarise)
            single = sum(r == "user" for r, _ in item.messages) == 1
            cache = "off" if grounding is not None else choice.cache
            started = time.perf_counter()
            found, vector = self._lookup(cache, exact, semantic, prepared.messages, item, single,
                                         spent)
            if found is not None:
                text, hits = found.text, hits + 1
                wall = time.perf_counter() - started
            else:
                gen = self.gens.answer(choice.variant, prepared.messages, choice.max_tokens)
                text, wall = gen.text, gen.wall_s
                spent.append(gen.energy_j)
                methods.add(gen.method)
                prompt, completion = prompt + gen.prompt_tokens, completion + gen.completion_tokens
                self._store(cache, exact, semantic, prepared.messages, item, single, vector,
                            gen, spent)
            saved += prepared.tokens_saved
            answered += bool(text.strip())
            passed.append(grade(text, item.check))
            energy.append(float(sum(spent)))
            walls.append(wall)
        return Outcome(choice, tuple(i.id for i in items), tuple(i.category for i in items),
                       tuple(passed), tuple(energy), tuple(walls), prompt, completion, saved, hits,
                       answered, "+".join(sorted(methods)) or "none")

    def _lookup(self, cache: str, exact: ExactCache, semantic: SemanticCache | None,
                messages: Sequence[dict[str, str]], item: ServingItem, single: bool,
                spent: list[float]) -> tuple[CachedAnswer | None, Any]:
        if cache == "off":
            return None, None
        vector = None
        with self.meter.window("assistant.search.lookup", unit="request") as w:
            found = exact.get("search", conversation_key(messages))
            if found is None and semantic is not None and single:
                vector = semantic.embed(item.question)
                match = semantic.get("search", item.question, vector)
                found = match[0] if match else None
        assert w.measurement is not None
        spent.append(w.measurement.energy_j)
        return found, vector

    def _store(self, cache: str, exact: ExactCache, semantic: SemanticCache | None,
               messages: Sequence[dict[str, str]], item: ServingItem, single: bool, vector: Any,
               gen: Gen, spent: list[float]) -> None:
        if cache == "off":
            return
        answer = CachedAnswer(gen.text, "stop", gen.prompt_tokens, gen.completion_tokens,
                              gen.energy_j, item.question)
        exact.put("search", conversation_key(messages), answer)
        if semantic is not None and single:
            if vector is None:
                with self.meter.window("assistant.search.embed", unit="request") as w:
                    vector = semantic.embed(item.question)
                assert w.measurement is not None
                spent.append(w.measurement.energy_j)
            semantic.put("search", item.question, vector, answer)


def interleaved(items: Sequence[ServingItem]) -> list[ServingItem]:
    """Round-robin over categories, so every prefix covers every category."""
    by_cat: dict[str, list[ServingItem]] = {}
    for item in items:
        by_cat.setdefault(item.category, []).append(item)
    out: list[ServingItem] = []
    for row in itertools.zip_longest(*(by_cat[c] for c in sorted(by_cat))):
        out.extend(i for i in row if i is not None)
    return out


def bootstrap_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean over items."""
    arr = np.asarray(values, dtype=float)
    if len(arr) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(BOOTSTRAP_RESAMPLES, len(arr)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run_search(serving: ServingSet, evaluator: Evaluator, variants: Sequence[str], meter: Meter,
               progress: Progress | None = None, options: SearchOptions | None = None
               ) -> dict[str, Any]:
    """Successive halving on ``tune``, then the cheapest-passing gate on ``held``."""
    from core.runs import successive_halving

    opts = options or SearchOptions()
    naive_choice = opts.naive()
    tune = interleaved(serving.part("tune"))
    space = search_space(variants, opts)
    tried: list[dict[str, Any]] = []
    top = min(opts.max_budget, len(tune))

    def score(config: dict[str, Any], budget: float) -> float:
        choice = ServingChoice(**config)
        items = tune[: int(budget)]
        out, naive = evaluator.run(choice, items), evaluator.run(naive_choice, items)
        shortfall = max(naive.quality_pct - MAX_DROP_PTS - out.quality_pct, 0.0)
        tried.append({**out.summary(), "budget": int(budget),
                      "naive_quality_pct": naive.quality_pct, "within_bound": shortfall == 0.0})
        if progress:
            progress("configuration search", len(tried), len(space) * 3 // 2)
        return -out.j_per_answered - 1000.0 * shortfall

    halving = successive_halving([c.to_dict() for c in space], score,
                                 min_budget=opts.min_budget, max_budget=top, eta=3, meter=meter)
    last = max(t.round for t in halving.trials)
    ranked = sorted((t for t in halving.trials if t.round == last), key=lambda t: -t.score)
    finalists = [space[t.config_index] for t in ranked[: opts.finalists]]
    held = _held_gate(serving, evaluator, finalists, naive_choice)
    return {"serving_set_version": serving.version, "space_size": len(space),
            "space": {"variants": list(variants), "max_tokens": list(opts.max_tokens),
                      "system_prompts": SYSTEM_PROMPTS, "history": {k: list(v) for k, v in
                                                                    HISTORY.items()},
                      "caches": list(CACHES), "loose_threshold": LOOSE_THRESHOLD,
                      "tuned_threshold": evaluator.tuned, "naive": naive_choice.to_dict()},
            "options": asdict(opts),
            "halving": {"min_budget": opts.min_budget, "max_budget": top, "eta": 3,
                        "rounds": last + 1, "budget_used": halving.budget_used,
                        "grid_budget": halving.grid_budget,
                        "measurement": halving.measurement.to_dict()
                        if halving.measurement else None},
            "tried": tried, "generations": len(evaluator.gens), **held}


def _held_gate(serving: ServingSet, evaluator: Evaluator, finalists: list[ServingChoice],
               naive_choice: ServingChoice) -> dict[str, Any]:
    from apps.assistant.gate import accuracy_pct
    from core.gates import Candidate, EvalSet, GateSpec, select_cheapest_passing

    held = list(serving.part("held"))
    ids = np.array([f"{serving.version}:{i.id}" for i in held])
    index = {v: k for k, v in enumerate(ids)}
    eval_set = EvalSet(name="assistant-serving-held", inputs=ids, targets=np.ones(len(held)),
                       slices={f"cat:{c}": np.array([i.category == c for i in held])
                               for c in serving.categories})
    spec = GateSpec(metric="quality_pct", metric_fn=accuracy_pct, higher_is_better=True,
                    max_drop=MAX_DROP_PTS, max_slice_drop=MAX_CATEGORY_DROP_PTS)

    def candidate(choice: ServingChoice) -> Candidate:
        out = evaluator.run(choice, held)
        passed = np.array(out.passed, dtype=float)
        return Candidate(choice.label, lambda batch: passed[[index[b] for b in batch]],
                         size_bytes=0, cost=out.j_per_answered)

    naive = evaluator.run(naive_choice, held)
    cheaper = [c for c in finalists if c != naive_choice
               and evaluator.run(c, held).j_per_answered < naive.j_per_answered]
    result = (select_cheapest_passing(candidate(naive_choice), [candidate(c) for c in cheaper],
                                      eval_set, spec, measure_speed=False) if cheaper else None)
    chosen = next((c for c in cheaper if result and result.chosen
                   and result.chosen.name == c.label), None)
    served = evaluator.run(chosen or naive_choice, held)
    reason = (f"{served.choice.label}: cheapest finalist within {MAX_DROP_PTS:g} point of naive "
              f"overall and {MAX_CATEGORY_DROP_PTS:g} per category on the held-back part"
              if chosen else "naive serves: no cheaper finalist held quality on the held-back "
                             "part" if cheaper else "naive serves: no finalist was cheaper")
    return {"finalists_held": [evaluator.run(c, held).summary() for c in finalists],
            "gate": result.to_dict() if result else None,
            "gate_report": result.report.to_dict() if result and result.report else None,
            "served_config": served.choice.to_dict(), "served_label": served.choice.label,
            "served_is_naive": chosen is None, "served_reason": reason,
            "held": {"naive": _held_stats(naive), "served": _held_stats(served)},
            "quality_naive_pct": naive.quality_pct, "quality_served_pct": served.quality_pct,
            "quality_by_category": {c: {"naive": naive.by_category().get(c),
                                        "served": served.by_category().get(c)}
                                    for c in serving.categories},
            "j_per_request_naive": naive.j_per_answered,
            "j_per_request_served": served.j_per_answered}


def _held_stats(out: Outcome) -> dict[str, Any]:
    q = [100.0 * p for p in out.passed]
    return {**out.summary(), "quality_ci_pct": bootstrap_ci(q),
            "j_per_request_ci": bootstrap_ci(out.energy_j), "energy_j": float(sum(out.energy_j)),
            "wall_s": list(out.wall_s), "tokens_saved": out.tokens_saved, "method": out.method,
            "answered": out.answered}
