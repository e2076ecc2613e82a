"""Carbon-aware scheduling: the lowest-emission start for a job of known length and power.

The intensity is treated as constant within each hour (as the hourly series states it). A job of
``job_hours`` at ``power_kw`` started at ``s`` emits ``power_kw · ∫_s^{s+L} I(t) dt``. Candidate
starts are ``earliest`` itself ("now") and every whole hour after it up to ``deadline − L``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from core.carbon.intensity import as_utc
from core.errors import DataError

if TYPE_CHECKING:
    import numpy as np

    from core.carbon.hourly import HourlySeries


@dataclass(frozen=True)
class ScheduleResult:
    """Best start (UTC) with its emissions and what it saves against starting at ``earliest``."""

    start: datetime
    end: datetime
    mean_g_per_kwh: float
    co2e_kg: float
    now_co2e_kg: float
    saved_kg: float
    zone: str = ""
    source: str = ""
    candidates: int = 0  # start times compared

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        return out


def best_start_window(
    series: HourlySeries,
    job_hours: float,
    earliest: datetime,
    deadline: datetime,
    power_kw: float,
) -> ScheduleResult:
    """Start time in [earliest, deadline − job_hours] with the lowest emissions (ties → earliest)."""
    earliest, deadline = as_utc(earliest), as_utc(deadline)
    _validate(series, job_hours, earliest, deadline, power_kw)
    length = timedelta(hours=job_hours)
    starts = _candidates(earliest, deadline - length)
    t0 = series.series.index[0].to_pydatetime()
    cumulative = _cumulative_g_h(series)
    values = series.series.to_numpy(float)
    mean_g = [
        (_integral(cumulative, values, t0, s + length) - _integral(cumulative, values, t0, s))
        / job_hours
        for s in starts
    ]
    best = min(range(len(starts)), key=lambda k: (mean_g[k], k))
    energy_kwh = power_kw * job_hours
    co2e = energy_kwh * mean_g[best] / 1000.0
    now = energy_kwh * mean_g[0] / 1000.0
    return ScheduleResult(
        start=starts[best],
        end=starts[best] + length,
        mean_g_per_kwh=mean_g[best],
        co2e_kg=co2e,
        now_co2e_kg=now,
        saved_kg=now - co2e,
        zone=series.zone,
        source=series.source,
        candidates=len(starts),
    )


def _validate(
    series: HourlySeries, job_hours: float, earliest: datetime, deadline: datetime, power_kw: float
) -> None:
    if not math.isfinite(job_hours) or job_hours <= 0:
        raise DataError(f"job_hours must be > 0 (got {job_hours})")
    if not math.isfinite(power_kw) or power_kw < 0:
        raise DataError(f"power_kw must be >= 0 (got {power_kw})")
    if deadline - earliest < timedelta(hours=job_hours):
        raise DataError(
            f"a {job_hours} h job cannot finish between {earliest} and {deadline}; "
            "move the deadline or shorten the job"
        )
    first = series.series.index[0].to_pydatetime()
    last_end = series.series.index[-1].to_pydatetime() + timedelta(hours=1)
    if earliest < first or deadline > last_end:
        raise DataError(
            f"the window {earliest}..{deadline} is not covered by the {series.zone} series "
            f"({first}..{last_end}); use a series (forecast or historical) that covers it"
        )


def _candidates(earliest: datetime, last_start: datetime) -> list[datetime]:
    starts = [earliest]
    hour = earliest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    while hour <= last_start:
        starts.append(hour)
        hour += timedelta(hours=1)
    return starts


def _cumulative_g_h(series: HourlySeries) -> np.ndarray:
    """C[k] = ∫ I dt from the series start to hour k (g/kWh · h)."""
    import numpy as np

    values = series.series.to_numpy(float)
    return np.concatenate([[0.0], np.cumsum(values)])


def _integral(cumulative: np.ndarray, values: np.ndarray, t0: datetime, t: datetime) -> float:
    """∫ I dt from the series start to ``t`` for a step function constant within each hour."""
    hours = (t - t0).total_seconds() / 3600.0
    k = min(int(math.floor(hours)), len(values))
    frac = hours - k
    tail = values[k] * frac if k < len(values) else 0.0
    return float(cumulative[k] + tail)
