"""RunStore: reuse a finished run with the same key instead of recomputing it.

Layout per run: ``<root>/<key>/artifacts/`` (what ``fn`` writes), ``record.json`` (outputs and
the measurement), and ``DONE`` — written last, atomically (temp file + rename), so a crash at any
point leaves a run that is not finished. Failed and interrupted runs are never reused: their
folder is removed and the run starts again.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.errors import ConfigError, DataError
from core.runs.measurement_io import measurement_from_dict, window_measurement

if TYPE_CHECKING:
    from core.energy import Measurement, Meter
    from core.ledger import Ledger

logger = logging.getLogger(__name__)
_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{8,128}$")
RunState = Literal["finished", "failed", "interrupted", "absent"]


@dataclass(frozen=True)
class RunResult:
    """A finished run: its artifacts folder, JSON outputs and measured energy."""

    key: str
    artifacts_dir: Path
    outputs: dict[str, Any]
    reused: bool
    measurement: Measurement


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunStore:
    """Content-keyed run cache under ``root``; books run energy and reuse savings in the ledger.

    ``ledger`` is optional; with it, ``carbon`` (an IntensitySource) is required, because a
    saving in kgCO2e needs a stated intensity. ``meter`` defaults to a probing ``Meter()``.
    """

    def __init__(self, root: str | Path, ledger: Ledger | None = None, meter: Meter | None = None,
                 carbon: Any = None, pue: float = 1.0) -> None:
        if ledger is not None and carbon is None:
            raise ConfigError("RunStore with a ledger needs carbon (e.g. ctx.carbon) to convert "
                              "energy to kgCO2e")
        if meter is None:
            from core.energy import Meter

            meter = Meter()
        self.root = Path(root)
        self.ledger, self.meter, self.carbon, self.pue = ledger, meter, carbon, pue

    def _dir(self, key: str) -> Path:
        if not _KEY_RE.match(key):
            raise ConfigError(f"run key {key!r} is not a run_key() hash; build it with run_key()")
        return self.root / key

    def state(self, key: str) -> RunState:
        """finished (DONE present), failed (FAILED present), interrupted (started, neither)."""
        d = self._dir(key)
        if (d / "DONE").exists():
            return "finished"
        if (d / "FAILED").exists():
            return "failed"
        return "interrupted" if d.exists() else "absent"

    def load(self, key: str) -> RunResult:
        """The stored result of a finished run (reused=True); DataError if not finished/corrupt."""
        d = self._dir(key)
        if self.state(key) != "finished":
            raise DataError(f"run {key} is {self.state(key)}, not finished; run it with get_or_run")
        try:
            record = json.loads((d / "record.json").read_text())
            measurement = measurement_from_dict(record["measurement"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"run {key} has an unreadable record ({e}); rerun with force=True") from e
        return RunResult(key, d / "artifacts", record["outputs"], True, measurement)

    def get_or_run(self, key: str, fn: Callable[[Path], dict[str, Any]], app: str,
                   phase: str = "train", force: bool = False) -> RunResult:
        """Reuse the finished run ``key`` (booking a ``reuse`` saving) or run ``fn`` metered."""
        state = self.state(key)
        if state == "finished" and not force:
            result = self.load(key)
            self._book_reuse(result, app)
            logger.info("reusing finished run %s (%.3g J avoided)", key, result.measurement.energy_j)
            return result
        d = self._dir(key)
        if state == "finished":  # force: keep the old result until the new one finishes
            backup = d.with_name(f"{key}.replaced-{os.getpid()}-{time.time_ns()}")
            d.rename(backup)
            try:
                result = self._run(key, fn, app, phase)
            except BaseException:
                shutil.rmtree(d, ignore_errors=True)
                backup.rename(d)
                raise
            shutil.rmtree(backup)
            return result
        if state != "absent":
            logger.info("rerunning %s: previous attempt %s, never reused", key, state)
            shutil.rmtree(d)
        return self._run(key, fn, app, phase)

    def _run(self, key: str, fn: Callable[[Path], dict[str, Any]], app: str,
             phase: str) -> RunResult:
        d = self._dir(key)
        artifacts = d / "artifacts"
        artifacts.mkdir(parents=True)
        _write_atomic(d / "STARTED", json.dumps({"unix_s": time.time(), "pid": os.getpid()}))
        try:
            with self.meter.window(f"run:{key[:12]}", unit="run") as w:
                outputs = fn(artifacts)
                w.count += 1
            measurement = window_measurement(w)
            if not isinstance(outputs, dict):
                raise ConfigError(f"run fn must return a dict of JSON-able outputs, got "
                                  f"{type(outputs).__name__}")
            record = json.dumps({"key": key, "app": app, "phase": phase, "outputs": outputs,
                                 "measurement": measurement.to_dict(),
                                 "finished_unix_s": time.time()}, indent=2)
        except BaseException as e:  # the one boundary that records a failure; always re-raised
            _write_atomic(d / "FAILED", f"{type(e).__name__}: {e}\n")
            raise
        _write_atomic(d / "record.json", record)
        _write_atomic(d / "DONE", key)  # last: the run counts as finished only from here
        self._book_footprint(key, measurement, app, phase)
        return RunResult(key, artifacts, outputs, False, measurement)

    def _book_footprint(self, key: str, m: Measurement, app: str, phase: str) -> None:
        if self.ledger is None:
            return
        self.ledger.record_footprint(app=app, run_id=key, phase=phase, measurement=m,
                                     intensity=self.carbon.intensity(at=None), pue=self.pue,
                                     notes="core.runs fresh run")

    def _book_reuse(self, result: RunResult, app: str) -> None:
        if self.ledger is None:
            return
        from core.units import co2e_kg

        m = result.measurement
        intensity = self.carbon.intensity(at=None)
        central = co2e_kg(m.energy_j, intensity.g_per_kwh, self.pue)
        u = m.uncertainty_rel
        self.ledger.record_saving(
            app=app, run_id=result.key, kind="reuse", counterfactual_id=f"rerun-{result.key}",
            co2e_kg=central,
            co2e_kg_low=central * max(0.0, 1.0 - u), co2e_kg_high=central * (1.0 + u),
            energy_kwh=m.energy_kwh, baseline=f"rerunning finished run {result.key}",
            method=f"stored measurement of the original run ({m.method}, scope {m.scope})",
            assumptions={
                "intensity_g_per_kwh": {"value": intensity.g_per_kwh, "source": intensity.source,
                                        "year": intensity.year, "zone": intensity.zone},
                "pue": {"value": self.pue, "source": "RunStore(pue=...)"},
                "rerun_energy_equals_original": {"value": True, "source": "same key: same config,"
                                                 " data fingerprint and code version"},
            },
        )
