"""The pipeline end to end on a small real run: summary, reuse, model card, ledger, serving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from apps.maintenance.service import MaintenanceService
from core.errors import DataError, ModelError


def test_summary_has_the_headline_numbers(trained) -> None:
    _, summary = trained
    d = json.loads(json.dumps(summary.to_dict()))
    for key in ("rmse_capped", "rmse_uncapped", "phm08_score", "mae", "gate_verdict",
                "net_kgco2e"):
        assert key in d
    assert d["gate_verdict"] in ("PASS", "FAIL")
    assert 5.0 < d["rmse_capped"] < 60.0  # a real model on 24 engines, not a constant
    assert d["rmse_uncapped"] >= d["rmse_capped"] - 5
    assert d["footprint_co2e_kg"] > 0
    assert 0.0 <= d["coverage"]["test_capped"] <= 1.0
    assert {"precision", "recall"} <= set(d["alarms"])


def test_second_run_reuses_every_stage_and_books_reuse(trained, small_ctx) -> None:
    service, first = trained
    again = service.run_pipeline(ai4i=False, **SMALL_CFG)
    assert again.reused == {"train": True, "compress": True, "evaluate": True}
    assert again.reference.mean == first.reference.mean
    kinds = {s.kind for s in small_ctx.ledger.savings(app="maintenance")}
    assert "reuse" in kinds and "avoided_maintenance_emissions" in kinds
    # The saving is booked once, not once per invocation.
    booked = small_ctx.ledger.savings(app="maintenance", kind="avoided_maintenance_emissions")
    assert len(booked) == 1


def test_model_card_and_ledger_phases(trained, small_ctx) -> None:
    service, summary = trained
    card = service.model_card()
    assert card["app"] == "maintenance" and card["gates"][-1]["verdict"] == summary.gate["verdict"]
    assert "last observed cycle" in card["protocol"]["text"]
    assert card["data_fingerprint"]
    phases = {f.phase for f in small_ctx.ledger.footprints(app="maintenance")}
    assert {"train", "compress", "evaluate"} <= phases


def test_gate_decides_what_is_served(trained) -> None:
    service, summary = trained
    model = service.served()
    expected = "mlp-compact" if summary.gate["passed"] else "gbm-reference"
    assert model.model_name == expected


def test_predict_frame_returns_intervals_alarms_and_energy(trained, fd001, small_ctx) -> None:
    service, _ = trained
    frame = fd001.test[fd001.test["unit"].isin([1, 2, 3])]
    batch = service.predict_frame(frame)
    assert [p.unit for p in batch.predictions] == [1, 2, 3]
    for p in batch.predictions:
        assert p.rul_low_cycles <= p.rul_cycles <= p.rul_high_cycles
        assert 0.0 <= p.p_fail_within_lead <= 1.0
    assert batch.energy_j >= 0 and batch.energy_method
    from core.ledger.serving import serving_book

    serving_book(small_ctx.ledger).flush(everything=True)  # serving rows are written per minute
    assert any(f.phase == "serve" for f in small_ctx.ledger.footprints(app="maintenance"))


def test_predict_rejects_short_and_unknown_condition(trained, fd001) -> None:
    service, _ = trained
    short = fd001.test[(fd001.test["unit"] == 1) & (fd001.test["cycle"] <= 2)]
    with pytest.raises(DataError, match="cycles"):
        service.predict_frame(short)
    odd = fd001.test[fd001.test["unit"] == 1].copy()
    odd["setting_1"] = 20.0  # FD002-style altitude: not a condition FD001 ever flew
    with pytest.raises(DataError, match="unknown operating condition"):
        service.predict_frame(odd)


def test_no_model_yet_says_how_to_train(ctx) -> None:
    service = MaintenanceService(ctx, subset="FD003")
    with pytest.raises(ModelError, match="greenstack run maintenance --subset FD003"):
        service.served()
    assert service.fleet() is None


def test_fleet_view_has_one_row_per_test_engine(trained) -> None:
    service, _ = trained
    fleet = service.fleet()
    assert len(fleet["units"]) == len(fleet["pred"]) == len(fleet["alarm"]) == 100
    assert np.all(np.array(fleet["low"]) <= np.array(fleet["high"]))


SMALL_CFG = {"seeds": (0,), "max_train_units": 30, "reference_overrides": {"max_iter": 60},
             "compact_epochs": 5, "bench_repeats": 3}
