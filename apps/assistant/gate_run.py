"""Runs the assistant gate over built variants and returns a :class:`GateOutcome`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from apps.assistant.evalset import AssistantEvalSet
from apps.assistant.gate import (
    CandidateOutcome,
    GateConfig,
    Progress,
    _Answers,
    _bench_predict,
    _nll_predict,
    _windows,
    accuracy_pct,
    perplexity_from_nll,
)
from apps.assistant.runtime import LlamaRuntime
from apps.assistant.variants import Variant

if TYPE_CHECKING:
    from core.energy import Meter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateOutcome:
    """The gate's verdict: which variant to serve, and every measurement behind it."""

    reference: str
    served: str
    reference_perplexity: float
    reference_accuracy_pct: float
    reference_tok_per_s: float | None
    reference_j_per_token: float | None
    candidates: tuple[CandidateOutcome, ...]
    eval_version: str
    reasons: tuple[str, ...]
    reports: dict[str, Any] = field(default_factory=dict)  # core.gates report dicts by name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored as run output and in the model card)."""
        out = dict(self.__dict__)
        out["candidates"] = [c.to_dict() for c in self.candidates]
        out["reasons"] = list(self.reasons)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GateOutcome:
        """Inverse of :meth:`to_dict`."""
        cands = []
        for c in data["candidates"]:
            c = dict(c)
            c["speedup_iqr"] = tuple(c["speedup_iqr"]) if c["speedup_iqr"] else None
            c["notes"] = tuple(c["notes"])
            cands.append(CandidateOutcome(**c))
        rest = {k: v for k, v in data.items() if k not in ("candidates", "reasons")}
        return cls(candidates=tuple(cands), reasons=tuple(data["reasons"]), **rest)


class _Loaded:
    """Holds at most one candidate runtime for generation at a time (memory on small hosts)."""

    def __init__(self, cfg: GateConfig) -> None:
        self.cfg = cfg
        self.current: LlamaRuntime | None = None

    def get(self, variant: Variant) -> LlamaRuntime:
        if self.current is None or self.current.model_path != variant.path:
            self.current = None  # free the previous model before loading the next
            self.current = LlamaRuntime(variant.path, n_ctx=self.cfg.n_ctx,
                                        n_threads=self.cfg.threads, name=variant.name)
        return self.current


def _ppl_stage(variants: dict[str, Variant], reference: str, eval_set: AssistantEvalSet,
               cfg: GateConfig) -> tuple[float, dict[str, Any]]:
    """Perplexity reports for every candidate against the reference (core.gates.evaluate_gate)."""
    from core.gates import Candidate, EvalSet, GateSpec, evaluate_gate

    ref_rt = LlamaRuntime(variants[reference].path, n_ctx=cfg.n_ctx, n_threads=cfg.threads,
                          logits_all=True, name=reference)
    windows = _windows(ref_rt, eval_set.text, cfg.ppl_window_tokens)
    counts = np.array([len(w) - 1 for w in windows], dtype=float)
    ref_nll = _nll_predict(ref_rt, windows)(np.arange(len(windows)))
    ref_ppl = perplexity_from_nll(counts, ref_nll)
    del ref_rt
    ppl_set = EvalSet(name="assistant-perplexity-texts", inputs=np.arange(len(windows)),
                      targets=counts)
    spec = GateSpec(metric="perplexity", metric_fn=perplexity_from_nll, higher_is_better=False,
                    max_drop=cfg.max_ppl_increase_rel * ref_ppl)
    ref = Candidate(reference, lambda idx: ref_nll[np.asarray(idx, dtype=int)],
                    variants[reference].size_bytes)
    reports = {}
    for name, variant in variants.items():
        if name == reference:
            continue
        rt = LlamaRuntime(variant.path, n_ctx=cfg.n_ctx, n_threads=cfg.threads,
                          logits_all=True, name=name)
        cand = Candidate(name, _nll_predict(rt, windows), variant.size_bytes)
        # Speed is measured once, on generation, in _speed_stage; not on perplexity windows.
        reports[name] = evaluate_gate(ref, cand, ppl_set, spec, measure_speed=False)
    return ref_ppl, reports


def _speed_stage(variants: dict[str, Variant], reference: str, names: list[str],
                 eval_set: AssistantEvalSet, cfg: GateConfig, meter: Meter | None,
                 progress: Progress | None) -> dict[str, Any]:
    """Interleaved fixed-length generation benchmark of each candidate vs the reference."""
    from core.gates import BenchmarkConfig, Candidate, benchmark_pair

    bench = BenchmarkConfig(batch_size=1, threads=cfg.threads, warmup=cfg.bench_warmup,
                            repeats=cfg.bench_repeats, max_units=cfg.bench_prompts)
    ref_rt = LlamaRuntime(variants[reference].path, n_ctx=cfg.n_ctx, n_threads=cfg.threads)
    ref = Candidate(reference, _bench_predict(ref_rt, eval_set, cfg), variants[reference].size_bytes)
    loaded = _Loaded(cfg)
    speeds = {}
    for done, name in enumerate(names, start=1):
        rt = loaded.get(variants[name])
        cand = Candidate(name, _bench_predict(rt, eval_set, cfg), variants[name].size_bytes)
        speeds[name] = benchmark_pair(ref, cand, np.arange(cfg.bench_prompts), bench, meter)
        if progress:
            progress("speed", done, len(names))
    return speeds


def prompt_evalset(eval_set: AssistantEvalSet) -> Any:
    """The graded prompts as a core.gates EvalSet (targets: 1 = the answer passes its check)."""
    from core.gates import EvalSet

    n = len(eval_set.prompts)
    slices = {k: np.array(v, dtype=bool) for k, v in eval_set.slices().items()}
    # Inputs carry the data version, so core.gates' content hash changes when any prompt does.
    inputs = np.array([f"{eval_set.version}:{i}" for i in range(n)])
    return EvalSet(name="assistant-prompts", inputs=inputs, targets=np.ones(n), slices=slices)


def prompt_gate_version(eval_set: AssistantEvalSet) -> str:
    """Version the accuracy gate reports carry (what ``load_served_choice`` checks)."""
    return str(prompt_evalset(eval_set).version)


def _accuracy_stage(variants: dict[str, Variant], reference: str, eval_set: AssistantEvalSet,
                    cfg: GateConfig, order: list[tuple[str, float]],
                    progress: Progress | None
                    ) -> tuple[float, Any, dict[str, _Answers], _Answers, str]:
    """Graded-prompt gate, cheapest candidate first (core.gates.select_cheapest_passing)."""
    from core.gates import BenchmarkConfig, Candidate, GateSpec, select_cheapest_passing

    n = len(eval_set.prompts)
    prompt_set = prompt_evalset(eval_set)
    inputs = prompt_set.inputs
    spec = GateSpec(metric="accuracy_pct", metric_fn=accuracy_pct, higher_is_better=True,
                    max_drop=cfg.max_accuracy_drop_pts,
                    max_slice_drop=cfg.max_accuracy_drop_pts)
    ref_rt = LlamaRuntime(variants[reference].path, n_ctx=cfg.n_ctx, n_threads=cfg.threads,
                          name=reference)
    ref_answers = _Answers(ref_rt, eval_set, cfg, progress)
    # Answers are memoised for grading; the gate's latency pass runs cold on the first prompt
    # (clear_cache drops that answer), so its speedup is real generation time, not a dict lookup.
    bench = BenchmarkConfig(batch_size=1, threads=cfg.threads, warmup=0,
                            repeats=cfg.bench_repeats, max_units=1)
    ref = Candidate(reference, ref_answers.predict, variants[reference].size_bytes,
                    has_cache=True, clear_cache=ref_answers.forget_first)
    loaded = _Loaded(cfg)
    answers: dict[str, _Answers] = {}

    def make(name: str, cost: float) -> Any:
        def predict(indices: Any) -> np.ndarray:
            if name not in answers:
                answers[name] = _Answers(loaded.get(variants[name]), eval_set, cfg, progress)
            return answers[name].predict(indices)

        def forget() -> None:
            if name in answers:
                answers[name].forget_first()

        return Candidate(name, predict, variants[name].size_bytes, cost=cost, has_cache=True,
                         clear_cache=forget)

    if not order:
        ref_acc = accuracy_pct(np.ones(n), ref_answers.predict(inputs))
        return ref_acc, None, {}, ref_answers, prompt_set.version
    result = select_cheapest_passing(ref, [make(name, cost) for name, cost in order],
                                     prompt_set, spec, bench=bench)
    ref_acc = accuracy_pct(np.ones(n), ref_answers.predict(inputs))
    return ref_acc, result, answers, ref_answers, prompt_set.version


def _agreement(ref: _Answers, cand: _Answers) -> float:
    keys = sorted(ref.texts)
    return float(np.mean([ref.texts[k] == cand.texts.get(k) for k in keys])) if keys else 0.0


def _speed_fields(speed: Any, cfg: GateConfig) -> dict[str, Any]:
    if speed is None:
        return {"tok_per_s": None, "speedup": None, "speedup_iqr": None, "j_per_token": None,
                "energy_method": None}
    run = speed.candidate
    return {"tok_per_s": cfg.bench_tokens / run.median_s_per_unit, "speedup": speed.speedup,
            "speedup_iqr": (speed.speedup_p25, speed.speedup_p75),
            "j_per_token": (run.j_per_unit / cfg.bench_tokens
                            if run.j_per_unit is not None else None),
            "energy_method": run.energy_method}


def _outcome(name: str, variant: Variant, ppl_report: Any, speed: Any, cfg: GateConfig,
             tried: dict[str, Any], answers: dict[str, _Answers], ref_answers: _Answers,
             ref_ppl: float) -> CandidateOutcome:
    cand_ppl = ppl_report.overall.candidate
    notes = [r for r in ppl_report.reasons if not ppl_report.passed]
    if speed is None:
        notes.append("speed not measured: failed perplexity")
    acc, acc_ok, worst, agree = None, None, None, None
    if name in tried and tried[name].report is not None:
        report = tried[name].report
        acc, acc_ok = report.overall.candidate, report.passed
        worst = report.worst_slice.slice if report.worst_slice else None
        notes += [r for r in report.reasons if not report.passed]
        agree = _agreement(ref_answers, answers[name]) if name in answers else None
    elif ppl_report.passed:
        notes.append("accuracy not evaluated: a cheaper candidate passed first")
    return CandidateOutcome(
        name=name, size_bytes=variant.size_bytes, perplexity=cand_ppl,
        perplexity_increase_rel=cand_ppl / ref_ppl - 1.0, perplexity_passed=ppl_report.passed,
        **_speed_fields(speed, cfg), accuracy_pct=acc, accuracy_passed=acc_ok,
        greedy_agreement=agree, worst_slice=worst,
        passed=bool(ppl_report.passed and acc_ok), notes=tuple(notes),
    )


def verdict(c: CandidateOutcome) -> str:
    """PASS, FAIL, or UNTRIED (passed perplexity; a cheaper candidate passed the prompts first)."""
    if c.passed:
        return "PASS"
    return "UNTRIED" if c.perplexity_passed and c.accuracy_pct is None else "FAIL"


def run_gate(variants: dict[str, Variant], reference: str, eval_set: AssistantEvalSet,
             cfg: GateConfig | None = None, meter: Meter | None = None,
             progress: Progress | None = None) -> GateOutcome:
    """Perplexity and speed for every candidate, then accuracy cheapest-first; pick one."""
    cfg = cfg or GateConfig()
    ref_ppl, ppl_reports = _ppl_stage(variants, reference, eval_set, cfg)
    if progress:
        progress("perplexity", 1, 1)
    passing = [n for n, r in ppl_reports.items() if r.passed]
    # Speed only matters for ordering candidates that can still pass: skip the rest (time).
    speeds = _speed_stage(variants, reference, passing, eval_set, cfg, meter, progress)

    def cost(name: str) -> float:
        if name not in speeds:
            return float("inf")
        run = speeds[name].candidate
        return run.j_per_unit if run.j_per_unit is not None else run.median_s_per_unit

    order = sorted(((n, cost(n)) for n in passing), key=lambda x: x[1])
    ref_acc, search, answers, ref_answers, gate_version = _accuracy_stage(
        variants, reference, eval_set, cfg, order, progress)
    tried = {t.name: t for t in search.tried} if search else {}
    outcomes = tuple(
        _outcome(n, variants[n], ppl_reports[n], speeds.get(n), cfg, tried, answers,
                 ref_answers, ref_ppl)
        for n in sorted(ppl_reports, key=lambda n: (cost(n), -ppl_reports[n].overall.candidate))
    )
    served = search.chosen.name if search and search.chosen else reference
    ref_run = next(iter(speeds.values())).reference if speeds else None
    ref_jpt = (ref_run.j_per_unit / cfg.bench_tokens
               if ref_run is not None and ref_run.j_per_unit is not None else None)
    reasons = tuple(f"{c.name}: {verdict(c)}" + (f" ({'; '.join(c.notes)})" if c.notes else "")
                    for c in outcomes)
    reports = {f"perplexity:{n}": r.to_dict() for n, r in ppl_reports.items()}
    reports.update({f"speed:{n}": s.to_dict() for n, s in speeds.items()})
    if search:
        reports["accuracy_search"] = search.to_dict()
    return GateOutcome(
        reference=reference, served=served, reference_perplexity=ref_ppl,
        reference_accuracy_pct=ref_acc,
        reference_tok_per_s=(cfg.bench_tokens / ref_run.median_s_per_unit
                             if ref_run is not None else None),
        reference_j_per_token=ref_jpt, candidates=outcomes, eval_version=gate_version,
        reasons=reasons, reports=reports,
    )
