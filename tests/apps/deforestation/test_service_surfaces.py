"""The pipeline (tiny config), ledger records, model card, REST jobs and the Streamlit page."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from streamlit.testing.v1 import AppTest

from .conftest import IGUACU

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def dctx(tmp_path_factory: pytest.TempPathFactory):
    from apps.context import AppContext
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    tmp = tmp_path_factory.mktemp("defo")
    (tmp / "cache").mkdir()
    return AppContext(data_dir=PROJECT / "data", cache_dir=tmp / "cache",
                      models_dir=tmp / "models", ledger=Ledger(f"sqlite:///{tmp / 'l.db'}"),
                      meter=Meter(), carbon=resolve_source(zone="US-CISO"))


def _tiny_config():
    from apps.deforestation.steps import PipelineConfig
    from apps.deforestation.train import RealTeacherBudget, TrainConfig

    teacher = RealTeacherBudget(steps=2, batch_size=4, sim_per_batch=1, crop_px=64,
                                sim_scenes=2, bn_batches=2, log_every=1)
    return PipelineConfig(budget="tiny-test", teacher=teacher, student_pairs=2, size_px=64,
                          eval_pairs=3, bench_repeats=3, e2e_repeats=1,
                          train=TrainConfig(student_epochs=1, batch_size=8), chip_limit=2)


@pytest.fixture(scope="module")
def ran(dctx):
    from apps.deforestation.service import DeforestationService

    svc = DeforestationService(dctx, _tiny_config())
    return svc, svc.run_pipeline()


def test_pipeline_summary_card_and_ledger(ran, dctx) -> None:
    svc, s = ran
    d = s.to_dict()
    assert d["gate_verdict"] in ("PASS", "FAIL") and d["gate_rows"]
    slices = {r["slice"] for r in d["gate_rows"]}
    assert {"overall", "forest_edge_3px", "forest_share=lt33", "forest_share=gt67"} <= slices
    assert {r["metric"] for r in d["gate_rows"]} == {"accuracy_points", "forest_f1_points"}
    sim = {r["slice"] for r in d["sim_rows"]}  # reported, not gating
    assert {"overall", "small_clearings_lt_1ha", "cloud_edges", "tile_borders"} <= sim
    assert all(not r["gating"] for r in d["sim_rows"])
    val = json.loads((PROJECT / "data/satellite/amazon_forest/split.json").read_text())["val"]
    assert d["real_val"]["chips"] == sorted(val)[:2]  # chip_limit=2: the first two
    assert d["real_val"]["teacher"]["overall"]["n_chips"] == 2
    names = {c["name"] for c in d["gate_checks"]}
    assert {"agreement_real_ood", "speedup_end_to_end", "speedup"} <= names
    assert d["served_model"] == ("student" if d["gate_verdict"] == "PASS" else "teacher")
    assert Path(d["job"]["lossmap"]).exists() and d["job"]["tiles_total"] == 4
    assert d["official_maps"]["guadeloupe_fcc23_with_agb"]["loss_pixels"] == 55375
    assert svc.card_path.exists()
    phases = {f.phase for f in dctx.ledger.footprints(app="deforestation")}
    assert {"train", "compress", "batch"} <= phases
    mon = dctx.ledger.savings(app="deforestation", kind="monitoring")
    assert mon and "monitoring" in mon[0].notes and "saved" not in mon[0].notes.replace(
        "not a saving", "")
    again = svc.run_pipeline()
    # same config, data and code → the finished runs are reused (keys change only if someone
    # edits core/ or this app between the two calls, which starts fresh runs on purpose)
    if again.teacher_run["key"] == s.teacher_run["key"]:
        assert again.teacher_run["reused"] and again.student_run["reused"]
        assert dctx.ledger.savings(app="deforestation", kind="reuse")


@pytest.fixture(scope="module")
def api(ran, dctx, tmp_path_factory):
    from apps.api.server import create_app
    from apps.settings import Settings

    settings = Settings(zone="US-CISO", cache_dir=tmp_path_factory.mktemp("srv"),
                        open_reads=True)
    app = create_app(settings, ctx=dctx)
    with TestClient(app) as c:
        token = app.state.key_store.create(["jobs"]).token
        yield c, {"Authorization": f"Bearer {token}"}


def _wait(client: TestClient, job_id: str) -> dict:
    for _ in range(1200):
        body = client.get(f"/v1/deforestation/jobs/{job_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_rest_job_with_server_paths(api) -> None:
    client, auth = api
    form = {"before": str(PROJECT / "data/satellite/oscd_aguasclaras/imgs_1"),
            "after": str(PROJECT / "data/satellite/oscd_aguasclaras/imgs_2"), "tile_px": "128"}
    assert client.post("/v1/deforestation/jobs", data=form).status_code == 401
    r = client.post("/v1/deforestation/jobs", data=form, headers=auth)
    assert r.status_code == 202, r.text
    body = _wait(client, r.json()["id"])
    assert body["status"] == "done", body
    assert body["stats"]["tiles_total"] == 4 and "loss_ha" in body["stats"]["account"]
    cog = client.get(f"/v1/deforestation/jobs/{body['id']}/lossmap")
    assert cog.status_code == 200 and cog.content[:2] in (b"II", b"MM")
    assert "cloud-optimized" in cog.headers["content-type"]
    gj = client.get(f"/v1/deforestation/jobs/{body['id']}/loss.geojson")
    assert gj.status_code == 200 and gj.headers["content-type"] == "application/geo+json"
    fc = gj.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == body["stats"][
        "loss_patches"]
    assert sum(f["properties"]["area_ha"] for f in fc["features"]) == pytest.approx(
        body["stats"]["account"]["loss_ha"], rel=1e-9)
    assert {f["properties"]["date_after"] for f in fc["features"]} <= {"2017-10-15"}
    assert client.get("/v1/deforestation/jobs/nope00/loss.geojson").status_code == 404


def test_rest_job_with_uploads_and_bad_requests(api, tmp_path) -> None:
    client, auth = api
    blob = IGUACU.read_bytes()
    files = {"before_file": ("b.tif", blob), "after_file": ("a.tif", blob)}
    r = client.post("/v1/deforestation/jobs", files=files, data={"sensor": "landsat8_bgr"},
                    headers=auth)
    assert r.status_code == 202, r.text
    assert _wait(client, r.json()["id"])["status"] == "done"
    bad = client.post("/v1/deforestation/jobs", files={"before_file": ("b.tif", b"junk"),
                      "after_file": ("a.tif", b"junk")}, headers=auth)
    assert bad.status_code == 422 and "not a raster" in bad.text
    outside = client.post("/v1/deforestation/jobs", data={"before": "/etc", "after": "/etc"},
                          headers=auth)
    assert outside.status_code == 422 and "outside" in outside.text
    assert client.post("/v1/deforestation/jobs", data={}, headers=auth).status_code == 422
    assert client.get("/v1/deforestation/jobs/nope00").status_code == 404


def _page(ctx) -> None:
    from apps.deforestation.page import render

    render(ctx)


def test_page_empty_and_after_a_run(ctx, ran, dctx) -> None:
    at = AppTest.from_function(_page, kwargs={"ctx": ctx}, default_timeout=60)
    at.run()
    assert not at.exception and any("greenstack run deforestation" in i.value for i in at.info)
    at = AppTest.from_function(_page, kwargs={"ctx": dctx}, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert len(at.dataframe) >= 2 and len(at.metric) >= 6
    assert len(at.get("deck_gl_json_chart")) == 1  # the map of the demo job
    assert at.selectbox[0].options[0] == "demo job of `greenstack run deforestation`"


def test_student_served_only_if_gate_passed_on_the_current_eval_set(ran, dctx) -> None:
    import json

    from apps.deforestation.service import DeforestationService

    svc, _ = ran
    card = json.loads(svc.card_path.read_text())
    card["gates"][-1]["passed"] = True  # pretend the gate passed, on the eval set of svc
    card["gates"][-1]["eval_version"] = svc.current_eval_version()
    svc.card_path.write_text(json.dumps(card))
    assert svc._served_spec().kind == "student"
    other = DeforestationService(dctx, dataclasses.replace(_tiny_config(), eval_pairs=6))
    assert other.current_eval_version() == svc.current_eval_version()  # real chips, not sim
    card["gates"][-1]["eval_version"] = "0" * 64  # a gate on other validation pixels
    svc.card_path.write_text(json.dumps(card))
    assert DeforestationService(dctx, _tiny_config())._served_spec().kind == "teacher"
