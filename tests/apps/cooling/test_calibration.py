"""ASHRAE Guideline 14 check of the zone model against the shipped CityLearn building summer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

BUILDING = Path(__file__).resolve().parents[3] / "data" / "building"


def test_guideline14_statistics():
    from apps.cooling.calibration import guideline14

    m = np.array([2.0, 4.0, 6.0])
    g = guideline14(m, np.array([2.0, 4.0, 3.0]))
    assert g["cv_rmse_pct"] == pytest.approx(100 * np.sqrt(9 / 2) / 4)
    assert g["nmbe_pct"] == pytest.approx(100 * 3 / (2 * 4))


def test_calibrated_zone_meets_guideline14_on_the_held_out_weeks():
    from apps.cooling.calibration import (
        SPLIT_HOUR,
        ZoneFit,
        calibrate,
        guideline14,
        load_building,
        simulate,
    )

    out = calibrate(BUILDING, max_evals=150)
    cd = out["metrics"]["cooling_demand"]
    assert cd["n_hours"] == 2208 - SPLIT_HOUR
    assert cd["cv_rmse_pct"] <= 30.0 and abs(cd["nmbe_pct"]) <= 10.0
    # the metric can fail: the same fit with three times the floor area misses badly
    fit = ZoneFit(**out["fit"])
    data = load_building(BUILDING)
    _, cool = simulate(dataclasses.replace(fit, floor_area_m2=3 * fit.floor_area_m2), data)
    assert guideline14(data.cooling_kw[SPLIT_HOUR:], cool[SPLIT_HOUR:])["cv_rmse_pct"] > 30.0
