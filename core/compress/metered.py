"""Run a compression step inside a meter window and book it in the ledger as phase ``compress``."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.compress.result import CompressionResult
from core.errors import ConfigError
from core.runs.measurement_io import window_measurement

if TYPE_CHECKING:
    from core.energy import Meter
    from core.ledger import Ledger

logger = logging.getLogger(__name__)


def run_compression(
    step: Callable[[], CompressionResult],
    *,
    meter: Meter,
    app: str,
    run_id: str,
    name: str = "compress",
    ledger: Ledger | None = None,
    carbon: Any = None,
    pue: float = 1.0,
) -> CompressionResult:
    """Run ``step()`` in ``meter.window(name)``; return its result with ``measurement`` set.

    With a ``ledger``, the measurement is recorded as a footprint of phase ``compress`` for
    ``app``/``run_id`` at ``carbon.intensity()`` (an IntensitySource; required with a ledger,
    because greenstack never guesses a grid zone).
    """
    if ledger is not None and carbon is None:
        raise ConfigError("run_compression: recording in the ledger needs carbon (an intensity "
                          "source, e.g. ctx.carbon)")
    with meter.window(name, unit="model") as w:
        result = step()
        w.count += 1
    measurement = window_measurement(w)
    result = dataclasses.replace(result, measurement=measurement)
    if ledger is not None:
        ledger.record_footprint(
            app=app, run_id=run_id, phase="compress", measurement=measurement,
            intensity=carbon.intensity(at=None), pue=pue,
            notes=f"{result.kind}: {result.size_bytes_before} → {result.size_bytes_after} bytes",
        )
    logger.info("%s (%s) used %.3g J", name, result.kind, measurement.energy_j)
    return result
