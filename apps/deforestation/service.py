"""DeforestationService: the one API the CLI, REST router and Streamlit page call.

``run_pipeline`` runs :func:`apps.deforestation.pipeline.run`; serving is batch jobs, REST jobs,
classify and accounting with the model the gate serves. Surfaces get the service from
:func:`service_for`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.context import cached_service
from apps.deforestation import classify as cl
from apps.deforestation import steps as pl
from apps.deforestation.accounting import LossAccount, account_loss_map
from apps.deforestation.bands import MODEL_BANDS
from apps.deforestation.batch import JobResult, JobSpec, ModelSpec, cached_model
from apps.deforestation.card import CARD_NAME, book_monitoring
from apps.deforestation.change import LOSS
from apps.deforestation.classify import ClassifyReport
from apps.deforestation.jobs import JobManager, check_server_path, check_upload_name
from apps.deforestation.rasters import RasterSource
from apps.deforestation.serving import record_batch, run_metered, served_choice, served_spec
from apps.deforestation.summary import APP, DeforestationRunSummary, summary_path
from apps.deforestation.train import Progress
from apps.deforestation.vectors import GEOJSON_NAME
from core.errors import ConfigError, DataError, ModelError

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.deforestation.jobmap import JobMap

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FinishedJob:
    """A job with outputs on disk: a label for people and its output folder."""

    label: str
    out_dir: Path


class DeforestationService:
    """Train/distil/gate/batch pipeline plus serving calls (jobs, accounting)."""

    def __init__(self, ctx: AppContext, config: pl.PipelineConfig | None = None,
                 allowed_roots: Sequence[Path] | None = None) -> None:
        self.ctx = ctx
        self.config = config or pl.PipelineConfig()
        self._eval_version: str | None = None
        self.jobs = JobManager(ctx.app_cache_dir(APP) / "jobs", self._served_spec, ctx.meter)
        # REST path submissions may only read under these folders (the server's own data).
        self.allowed_roots = tuple(Path(p).resolve() for p in (allowed_roots or (ctx.data_dir,)))

    # -- paths -------------------------------------------------------------------------------
    @property
    def models_dir(self) -> Path:
        return self.ctx.app_models_dir(APP)

    @property
    def card_path(self) -> Path:
        return self.models_dir / CARD_NAME

    def summary_path(self) -> Path:
        return summary_path(self.ctx)

    def last_summary(self) -> dict[str, Any] | None:
        """The last pipeline summary (dict) or None if the pipeline never ran here."""
        p = self.summary_path()
        return json.loads(p.read_text()) if p.exists() else None

    # -- serving -----------------------------------------------------------------------------
    def current_eval_version(self) -> str:
        """Version of the eval set the gate would use now (rebuilt once per service, ~1 s):
        a card gated on another eval set (other config or simulator code) is not trusted."""
        if self._eval_version is None:
            self._eval_version = pl.gate_eval_set(self.config, self.ctx.data_dir).version
        return self._eval_version

    def _served_choice(self) -> Any:
        return served_choice(self.card_path, self.current_eval_version())

    def _served_spec(self, choice: Any = None) -> ModelSpec:
        return served_spec(self.models_dir, choice or self._served_choice())

    def _model_for(self, model: str) -> tuple[ModelSpec, str, str | None]:
        """The weights for ``model`` (served/teacher/student), why, and the gate verdict."""
        if model not in ("served", "teacher", "student"):
            raise ConfigError(f"model {model!r}: use served, teacher or student")
        choice = self._served_choice()
        verdict = choice.gate_verdict
        if model == "served":
            spec = self._served_spec(choice)
            return spec, f"served by the gate: {choice.reason}", verdict
        weights = self.models_dir / f"{model}.pt"
        if not weights.exists():
            raise ModelError(f"{weights} missing; run `greenstack run deforestation` first")
        return (ModelSpec(model, weights, len(MODEL_BANDS)),
                f"requested explicitly (the gate would serve the "
                f"{'student' if choice.served == 'candidate' else 'teacher'}: {choice.reason})",
                verdict)

    def run_tiles(self, before: RasterSource, after: RasterSource, out_dir: Path,
                  model: str = "served", client: Any = None, progress: Progress = None,
                  tile_px: int = 256, overlap_px: int = 32, mmu_ha: float = 0.5,
                  n_workers: int = 1, before_date: str | None = None,
                  after_date: str | None = None) -> JobResult:
        """Batch job (CLI ``greenstack tiles run``); footprint recorded in the ledger.

        Dates (ISO) label the loss polygons; None → what the products state, else unknown.
        """
        spec_model = self._served_spec() if model == "served" else ModelSpec(
            model, self.models_dir / f"{model}.pt", len(MODEL_BANDS))
        spec = JobSpec(before, after, Path(out_dir), spec_model, tile_px, overlap_px, mmu_ha,
                       before_date=before_date, after_date=after_date,
                       continent=self.config.continent)
        return run_metered(self.ctx, spec, client=client, progress=progress, n_workers=n_workers)

    def classify(self, inputs: Sequence[Path], sensor: str, out_dir: Path,
                 model: str = "served", tile_px: int = 256,
                 overlap_px: int = 32) -> ClassifyReport:
        """Class map (0 non-forest, 1 forest, 2 cloud, 255 unknown) of each input on its own grid.

        A file that cannot be read is reported with its error and the others are still written;
        the energy of the whole call is measured and recorded as a ``serve`` footprint.
        """
        from apps.deforestation.bands import sensor_by_name

        sensor_by_name(sensor)  # an unknown sensor is a ConfigError before any work
        paths = [Path(p) for p in inputs]
        if not paths:
            raise ConfigError("no input rasters given; pass one or more IMAGE paths")
        outputs = [cl.output_path(p, out_dir) for p in paths]
        clashes = sorted({o.name for o in outputs if outputs.count(o) > 1})
        if clashes:
            raise ConfigError(f"inputs would overwrite each other's output ({', '.join(clashes)});"
                              " classify files with the same name into separate --out-dir")
        spec, reason, verdict = self._model_for(model)
        net = cached_model(spec)  # loaded once per weights file, as batch jobs do
        files = []
        with self.ctx.meter.window("deforestation:classify", unit="pixel") as w:
            for path, out in zip(paths, outputs, strict=True):
                files.append(self._classify_one(path, out, sensor, net, tile_px, overlap_px))
                w.count += files[-1].pixels
        m = w.measurement
        if m is None:  # the window always sets it on exit; a None here is a meter bug
            raise ModelError("the energy meter returned no measurement for classify")
        energy = {"energy_j": m.energy_j, "method": m.method, "scope": m.scope,
                  "uncertainty_rel": m.uncertainty_rel, "wall_s": m.wall_s,
                  "j_per_megapixel": m.energy_j / (m.count / 1e6) if m.count else None}
        self.ctx.ledger.record_footprint(
            app=APP, run_id=f"classify-{Path(out_dir).name or 'out'}", phase="serve",
            measurement=m, intensity=self.ctx.carbon.intensity(at=None), pue=self.ctx.pue,
            notes=f"classify {len(files)} file(s) with the {spec.kind}; "
                  f"{sum(not f.ok for f in files)} failed")
        return cl.ClassifyReport(tuple(files), spec.kind, str(spec.weights), reason, verdict,
                                 sensor, energy)

    @staticmethod
    def _classify_one(path: Path, out: Path, sensor: str, net: Any, tile_px: int,
                      overlap_px: int) -> cl.ClassifiedFile:
        t0 = time.perf_counter()
        try:
            counts = cl.classify_source(RasterSource(path, sensor), net, out, tile_px, overlap_px)
        except DataError as e:
            logger.info("classify %s failed: %s", path, e)  # reported in the result
            return cl.ClassifiedFile(str(path), None, seconds=time.perf_counter() - t0,
                                     error=str(e))
        return cl.ClassifiedFile(str(path), str(out), sum(counts.values()), cl.shares(counts),
                                 time.perf_counter() - t0)

    @staticmethod
    def open_source(path: Path, sensor: str) -> RasterSource:
        """A raster (file or per-band folder) read with ``sensor``'s band map."""
        return RasterSource(Path(path), sensor)

    def wait_for_window(self, deadline: Any, job_hours: float, power_kw: float,
                        wait: bool = True) -> dict[str, Any]:
        """Lowest-carbon start before ``deadline`` (:mod:`schedule`); waits unless ``wait`` is
        False and books the avoided emissions."""
        from apps.deforestation.schedule import wait_for_window

        return wait_for_window(self, deadline, job_hours, power_kw, wait=wait)

    @staticmethod
    def account_map(map_path: Path, loss_values: Sequence[float], biomass: Path | None = None,
                    continent: str = "americas") -> LossAccount:
        """Hectares and CO2 of any loss/label map; needs no context (no zone, no ledger)."""
        return account_loss_map(Path(map_path), loss_values, biomass, continent)

    def account(self, map_path: Path, loss_values: Sequence[float],
                biomass: Path | None = None, continent: str | None = None) -> LossAccount:
        """Hectares and CO2 of any loss map (same code for official maps and our output)."""
        return account_loss_map(Path(map_path), loss_values, biomass,
                                continent or self.config.continent)

    def book_job_loss(self, run_id: str, result: JobResult, source: str) -> LossAccount | None:
        """Hectares and CO2 of a finished job's loss map, booked as kind ``monitoring`` (never a
        saving); None, and nothing booked, when no tile produced a result: an all-failed job
        has observed nothing, and a 0 ha record would read as "no loss here"."""
        if result.lossmap is None or not result.mapped_any:
            return None
        acct = self.account(result.lossmap, [LOSS])
        book_monitoring(self.ctx, run_id, acct, source)
        return acct

    # -- the pipeline ------------------------------------------------------------------------
    def run_pipeline(self, progress: Progress = None, **options: Any) -> DeforestationRunSummary:
        """prepare → train teacher → distil student → gate → batch on real rasters → account.

        ``budget="full"|"demo"`` (option) selects a training budget (``steps.BUDGETS``) in place
        of the service's config."""
        from apps.deforestation.pipeline import run

        if options.get("budget"):
            self.config = pl.PipelineConfig.for_budget(options["budget"])
        return run(self.ctx, self.config, progress)

    # -- REST jobs ---------------------------------------------------------------------------
    def _check_allowed(self, path: Path) -> Path:
        resolved = Path(path).resolve()
        if not any(resolved.is_relative_to(root) for root in self.allowed_roots):
            raise DataError(f"{path} is outside the data folder this server may read "
                            "(GREENSTACK_DATA_DIR); upload the file instead")
        return resolved

    def _job_done(self, job_id: str, result: JobResult, measurement: Any) -> dict[str, Any] | None:
        if measurement is not None:
            record_batch(self.ctx, measurement, f"job-{job_id}", result)
        acct = self.book_job_loss(f"job-{job_id}", result, f"REST job {job_id}")
        return None if acct is None else acct.to_dict()

    def submit_paths(self, before: Path | str, after: Path | str, sensor: str = "sentinel2_l1c",
                     tile_px: int = 256, overlap_px: int = 32, mmu_ha: float = 0.5) -> str:
        """Start a job on server-side rasters (files or per-band folders) under allowed roots."""
        b = RasterSource(self._check_allowed(check_server_path(str(before), "before")), sensor)
        a = RasterSource(self._check_allowed(check_server_path(str(after), "after")), sensor)
        job_id = self.jobs.new_id()
        return self.jobs.submit(job_id, b, a, tile_px, overlap_px, mmu_ha, self._job_done)

    def submit_uploads(self, before: bytes, after: bytes, sensor: str = "sentinel2_l1c",
                       before_name: str | None = None, after_name: str | None = None,
                       tile_px: int = 256, overlap_px: int = 32, mmu_ha: float = 0.5) -> str:
        """Start a job on two uploaded multi-band rasters (one file per date, client file names
        checked: plain .tif/.tiff/.jp2 names); a rejected upload leaves nothing behind."""
        suffix = check_upload_name(before_name, "before_file")
        check_upload_name(after_name, "after_file")
        return self.jobs.submit_uploads({"before": before, "after": after}, sensor, suffix,
                                        tile_px, overlap_px, mmu_ha, self._job_done)

    def job_status(self, job_id: str) -> dict[str, Any]:
        return self.jobs.status(job_id)

    def job_lossmap(self, job_id: str) -> Path:
        return self.jobs.lossmap(job_id)

    # -- maps --------------------------------------------------------------------------------
    def finished_jobs(self) -> list[FinishedJob]:
        """Jobs with a loss map: the pipeline's demo job first, then REST jobs, newest first."""
        found = []
        summary = self.last_summary()
        lossmap = (summary or {}).get("job", {}).get("lossmap")
        if lossmap and Path(lossmap).exists():
            found.append(FinishedJob("demo job of `greenstack run deforestation`",
                                     Path(lossmap).parent))
        rest = sorted(self.jobs.root.glob("*/out/lossmap.tif"),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        found += [FinishedJob(f"REST job {p.parent.parent.name}", p.parent) for p in rest]
        return found

    def job_map(self, out_dir: Path) -> JobMap:
        """Before/after imagery (PNG in memory, lon/lat bounds) and loss polygons of a job."""
        from apps.deforestation.jobmap import job_map

        return job_map(Path(out_dir))

    def job_loss_geojson(self, job_id: str) -> Path:
        """The finished job's loss polygons (GeoJSON, EPSG:4326); DataError while not finished."""
        path = self.jobs.job_dir(job_id) / "out" / GEOJSON_NAME
        if not path.exists():
            raise DataError(f"job {job_id} has no loss polygons yet (status "
                            f"{self.jobs.status(job_id).get('status')}); poll GET /jobs/{job_id}")
        return path


def service_for(ctx: AppContext) -> DeforestationService:
    """One service (and job manager) per context (what the router, page and CLI call)."""
    return cached_service(ctx, APP, DeforestationService)
