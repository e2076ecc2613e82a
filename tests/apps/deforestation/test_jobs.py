"""REST job submission: rejected uploads leave nothing behind and name no server path or job id."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.deforestation.batch import ModelSpec
from apps.deforestation.jobs import (
    JobManager,
    check_server_path,
    check_upload_name,
)
from core.errors import DataError, ModelError

from .conftest import IGUACU


def _no_model() -> ModelSpec:
    raise ModelError("/srv/greenstack/models/deforestation/teacher.pt missing; run "
                     "`greenstack run deforestation` first")


def _left_behind(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("case", ["not_a_raster", "truncated", "empty"])
def test_rejected_upload_leaves_nothing_and_names_no_path(tmp_path: Path, case: str) -> None:
    root = tmp_path / "deep" / "server" / "jobs"
    jobs = JobManager(root, _no_model)
    blob = IGUACU.read_bytes()
    before = {"not_a_raster": b"II*\0 this is not a raster", "empty": b"",
              "truncated": blob[: len(blob) // 2]}[case]
    with pytest.raises(DataError) as err:
        jobs.submit_uploads({"before": before, "after": blob}, "landsat8_bgr")
    message = str(err.value)
    assert _left_behind(root) == [], f"{case} left debris"
    assert str(tmp_path) not in message and "/deep/server" not in message, message
    assert "before_file" in message, message


def test_rejection_after_the_inputs_are_stored_still_cleans_up(tmp_path: Path) -> None:
    # Both rasters are complete, but no model is served: the job is refused (503 upstream) and
    # its stored uploads go with it; the error keeps its class and loses the server path.
    root = tmp_path / "jobs"
    blob = IGUACU.read_bytes()
    with pytest.raises(ModelError) as err:
        JobManager(root, _no_model).submit_uploads({"before": blob, "after": blob},
                                                   "landsat8_bgr")
    assert _left_behind(root) == []
    assert "/srv/" not in str(err.value) and "teacher.pt missing" in str(err.value)


def test_client_text_hides_job_folder_and_id(tmp_path: Path) -> None:
    jobs = JobManager(tmp_path / "jobs", _no_model)
    text = (f"{tmp_path}/jobs/abc123def456/input/before.tif: not a raster "
            f"('{tmp_path}/jobs/abc123def456/input/before.tif'); job abc123def456; 20 g/kWh")
    out = jobs.client_text(text, "abc123def456")
    assert out == "before.tif: not a raster ('before.tif'); job <job>; 20 g/kWh"


def test_overlong_job_ids_are_unknown_jobs_not_errors(tmp_path: Path) -> None:
    jobs = JobManager(tmp_path / "jobs", _no_model)
    with pytest.raises(DataError, match="no job"):
        jobs.status("a" * 5000)  # a 5,000-character name would be ENAMETOOLONG on the disk


@pytest.mark.parametrize("name", ["a.b/c", "../../../../tmp/x", "x" * 300 + ".tif", "..",
                                  "a\x00.tif", "notes.txt", "scene.vrt"])
def test_upload_names_must_be_plain_raster_names(name: str) -> None:
    with pytest.raises(DataError, match="before_file: file name"):
        check_upload_name(name, "before_file")


def test_upload_name_gives_the_suffix() -> None:
    assert check_upload_name("Scene.TIF", "before_file") == ".tif"
    assert check_upload_name("s2.jp2", "after_file") == ".jp2"
    assert check_upload_name(None, "before_file") == ".tif"


@pytest.mark.parametrize("path", ["\x00/etc/passwd", "data/" + "a" * 300, "a/" * 2100])
def test_server_paths_refuse_nul_and_overlong_names(path: str) -> None:
    with pytest.raises(DataError, match="before: the path"):
        check_server_path(path, "before")
