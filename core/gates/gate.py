"""evaluate_gate: quality on every slice, like-for-like speed and energy, size → PASS/FAIL."""

from __future__ import annotations

import logging
import os
import platform
import sys
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import GateError
from core.gates.bench import BenchmarkConfig, Candidate, SpeedComparison, benchmark_pair
from core.gates.evalset import EvalSet
from core.gates.report import Check, EnergyComparison, GateReport, MetricComparison
from core.gates.spec import GateSpec

if TYPE_CHECKING:
    from core.energy import Meter

logger = logging.getLogger(__name__)
_METHOD_RANK = {"counter": 0, "power_sampled": 1, "modelled": 2, "user_forced": 3}


def _to_numpy(out: Any) -> np.ndarray:
    if hasattr(out, "detach"):
        out = out.detach().float().cpu().numpy() if out.is_floating_point() else out.cpu().numpy()
    return np.asarray(out)


def predict_all(candidate: Candidate, eval_set: EvalSet, batch_size: int) -> np.ndarray:
    """Concatenated outputs over the whole eval set; must hold one output per target."""
    parts = [_to_numpy(candidate.predict(b)) for b in eval_set.batches(batch_size)]
    if any(p.ndim == 0 for p in parts):
        raise GateError(f"{candidate.name}.predict returned a scalar; return one output per unit")
    out = np.concatenate(parts)
    if len(out) != len(eval_set):
        raise GateError(f"{candidate.name} produced {len(out)} outputs for {len(eval_set)} "
                        "targets; predict must return one output per unit (flatten pixel tasks)")
    return out


def _score(spec: GateSpec, y: np.ndarray, pred: np.ndarray, where: str) -> float:
    try:
        return float(spec.metric_fn(y, pred))
    except (ValueError, TypeError, IndexError) as e:
        raise GateError(f"metric {spec.metric!r} failed on {where}: {e}") from e


def _compare(spec: GateSpec, name: str, mask: np.ndarray | None, y: np.ndarray,
             ref: np.ndarray, cand: np.ndarray, max_drop: float | None) -> MetricComparison:
    sel = slice(None) if mask is None else mask
    r = _score(spec, y[sel], ref[sel], f"{name} (reference)")
    c = _score(spec, y[sel], cand[sel], f"{name} (candidate)")
    drop = spec.drop(r, c)
    ok = bool(np.isfinite(c) and (max_drop is None or drop <= max_drop))
    return MetricComparison(name, int(len(y[sel])), r, c, c - r, drop, max_drop, ok)


def _energy(speed: SpeedComparison | None, meter: Meter | None) -> tuple[EnergyComparison | None, str]:
    if meter is None or speed is None:
        return None, "energy per unit not measured: no meter was given to evaluate_gate"
    ref, cand = speed.reference, speed.candidate
    if ref.j_per_unit is None or cand.j_per_unit is None or ref.j_per_unit <= 0:
        return None, "energy per unit not measured: the meter returned no energy for the windows"
    methods = [m for m in (ref.energy_method, cand.energy_method) if m]
    method = max(methods, key=lambda m: _METHOD_RANK.get(m, 9)) if methods else "unknown"
    note = (f"J/unit from meter windows around each timed pass ({method}, scope "
            f"{ref.energy_scope}); machine-scope counters include other load on the host")
    reduction = 1.0 - cand.j_per_unit / ref.j_per_unit
    return EnergyComparison(ref.j_per_unit, cand.j_per_unit, reduction, method,
                            str(ref.energy_scope)), note


def _checks(spec: GateSpec, overall: MetricComparison, slices: tuple[MetricComparison, ...],
            speed: SpeedComparison | None, energy: EnergyComparison | None,
            sizes: tuple[int, int]) -> list[Check]:
    checks = [Check("metric", overall.passed,
                    f"{spec.metric} {overall.reference:.4g} → {overall.candidate:.4g} "
                    f"(drop {overall.drop:.4g}, allowed {spec.max_drop:.4g})")]
    checks += [Check(f"slice {s.slice}", s.passed,
                     f"{spec.metric} {s.reference:.4g} → {s.candidate:.4g} on {s.n} units "
                     f"(drop {s.drop:.4g}, allowed {s.max_drop})") for s in slices]
    if spec.min_speedup is not None and speed is not None:
        # lower quartile, not median: the candidate must be faster in 3 of 4 paired passes,
        # so a burst of load on the reference's passes cannot manufacture a speedup
        checks.append(Check("speedup", speed.speedup_p25 >= spec.min_speedup,
                            f"{speed.speedup:.2f}× median (IQR {speed.speedup_p25:.2f}–"
                            f"{speed.speedup_p75:.2f}); lower quartile must reach "
                            f"{spec.min_speedup:.2f}×"))
    if spec.min_energy_reduction is not None:
        ok = energy is not None and energy.reduction >= spec.min_energy_reduction
        got = f"{energy.reduction:.1%}" if energy else "not measured (no meter)"
        checks.append(Check("energy", ok, f"J/unit reduction {got}, required "
                                          f"{spec.min_energy_reduction:.1%}"))
    ratio = sizes[1] / max(sizes[0], 1)
    if spec.max_size_ratio is not None:
        checks.append(Check("size", ratio <= spec.max_size_ratio,
                            f"{sizes[1]} / {sizes[0]} bytes = {ratio:.3f}, allowed "
                            f"{spec.max_size_ratio:.3f}"))
    if spec.max_size_bytes is not None:
        checks.append(Check("size_bytes", sizes[1] <= spec.max_size_bytes,
                            f"{sizes[1]} bytes, allowed {spec.max_size_bytes}"))
    return checks


def _protocol(bench: BenchmarkConfig, speed_measured: bool) -> dict[str, Any]:
    torch = sys.modules.get("torch")
    return {
        "bench": {k: getattr(bench, k) for k in bench.__dataclass_fields__},
        "order": "interleaved reference, candidate per repeat; warm-up passes excluded",
        "speed_measured": speed_measured,
        "torch": getattr(torch, "__version__", None),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "logical_cpus": os.cpu_count(),
    }


def evaluate_gate(reference: Candidate, candidate: Candidate, eval_set: EvalSet, spec: GateSpec,
                  bench: BenchmarkConfig | None = None, meter: Meter | None = None,
                  measure_speed: bool = True) -> GateReport:
    """Compare ``candidate`` with ``reference`` on ``eval_set`` under ``spec``.

    Raises GateError when the comparison would be unfair or meaningless (outputs of different
    shape, wrong output count, benchmark conditions that differ); otherwise returns a report whose
    ``passed`` is True only if every check passed. ``measure_speed=False`` skips the benchmark
    (allowed only when the spec sets neither a speedup nor an energy threshold).
    """
    bench = bench or BenchmarkConfig()
    ref_out = predict_all(reference, eval_set, bench.eval_batch_size)
    cand_out = predict_all(candidate, eval_set, bench.eval_batch_size)
    if ref_out.shape != cand_out.shape:
        raise GateError(f"output shapes differ: {reference.name} {ref_out.shape} vs "
                        f"{candidate.name} {cand_out.shape}; a candidate must predict the same thing")
    y = np.asarray(eval_set.targets)
    overall = _compare(spec, "overall", None, y, ref_out, cand_out, spec.max_drop)
    slices = tuple(_compare(spec, name, mask, y, ref_out, cand_out, spec.max_slice_drop)
                   for name, mask in eval_set.slices.items())
    need_speed = measure_speed or spec.min_speedup is not None or (
        spec.min_energy_reduction is not None)
    speed = (benchmark_pair(reference, candidate, eval_set.inputs, bench, meter)
             if need_speed else None)
    energy, note = _energy(speed, meter)
    sizes = (reference.size_bytes, candidate.size_bytes)
    checks = _checks(spec, overall, slices, speed, energy, sizes)
    report = GateReport(
        reference=reference.name, candidate=candidate.name, eval_set=eval_set.name,
        eval_version=eval_set.version, metric=spec.metric, overall=overall, slices=slices,
        speed=speed, energy=energy, energy_note=note, reference_size_bytes=sizes[0],
        candidate_size_bytes=sizes[1], checks=tuple(checks), spec=spec.to_dict(),
        protocol=_protocol(bench, speed is not None), created_unix_s=time.time(),
    )
    logger.info("gate %s vs %s: %s %s", candidate.name, reference.name, report.verdict,
                "; ".join(report.reasons))
    return report
