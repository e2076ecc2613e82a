"""Carbon-aware start for batch jobs: pick the lowest-carbon window before a deadline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from core.errors import ConfigError

logger = logging.getLogger(__name__)


def wait_for_window(svc: Any, deadline: datetime, job_hours: float,
                    power_kw: float, wait: bool = True,
                    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                    sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Choose the start (core.carbon.best_start_window); wait for it unless ``wait`` is False.

    ``svc`` is the calling service; only its ``ctx`` (carbon source, ledger) is used.

    The avoided emissions (vs starting now) are booked in the ledger only when the job really
    starts in the chosen window. Needs an hourly series (``GREENSTACK_GRID_CSV`` / --grid-csv).
    """
    from core.carbon import HourlySeries, best_start_window

    series = svc.ctx.carbon
    if not isinstance(series, HourlySeries):
        raise ConfigError("--deadline needs an hourly intensity series: pass --grid-csv "
                          "(EIA-930 derived CSV) or set GREENSTACK_GRID_CSV")
    start_now = clock()
    res = best_start_window(series, job_hours, start_now, deadline, power_kw)
    out = {"start": res.start.isoformat(), "end": res.end.isoformat(),
           "mean_g_per_kwh": res.mean_g_per_kwh, "co2e_kg": res.co2e_kg,
           "now_co2e_kg": res.now_co2e_kg, "saved_kg": res.saved_kg, "waited": False}
    delay_s = (res.start - start_now).total_seconds()
    if wait and delay_s > 0:
        logger.info("waiting %.0f s for the low-carbon window at %s", delay_s, res.start)
        sleep(delay_s)
    out["waited"] = bool(wait)
    if wait and res.saved_kg > 0:
        svc.ctx.ledger.record_saving(
            app="deforestation", run_id=f"schedule-{int(res.start.timestamp())}",
            kind="carbon_aware_scheduling", co2e_kg=res.saved_kg, energy_kwh=None,
            baseline=f"starting at {start_now.isoformat()}",
            method=f"core.carbon.best_start_window over {series.intensity(at=None).source}",
            assumptions={"job_hours": job_hours, "power_kw": power_kw,
                         "deadline": deadline.isoformat()},
            notes="modelled: expected power × hours × intensity difference")
    return out
