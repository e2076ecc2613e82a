"""The BMS savings projection is a simulator step: the same office zone, constants and gain
terms as training and evaluation (issue 13)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture(scope="module")
def drivers():
    from apps.cooling.office import OfficeZone
    from apps.cooling.weather import read_weather

    weather = read_weather(DATA / "weather" / "USA_AZ_Phoenix-Sky.Harbor.epw.gz")
    return OfficeZone().drivers(weather, 900.0)


@pytest.mark.parametrize("occupied", [True, False])
def test_projection_equals_simulator_steps(drivers, occupied):
    """One hour of the projection = four simulator steps on the simulator's own drivers for an
    hour of that occupancy, with what the projection cannot know held (outdoor temperature from
    telemetry, no solar)."""
    from apps.cooling.bms_model import project_hour
    from apps.cooling.office import OfficeZone
    from apps.cooling.safety import rate_limit

    k = int(np.flatnonzero(drivers.occupied == occupied)[40])  # a step of that occupancy
    idx = np.full(4, k)
    d = dataclasses.replace(drivers, temp_out_c=np.full(4, 31.0), phi_int_w=drivers.phi_int_w[idx],
                            phi_sol_w=np.zeros(4), occupied=drivers.occupied[idx],
                            h_ve_w_k=drivers.h_ve_w_k[idx])
    for setpoint in (24.0, 26.5):
        zone = OfficeZone()
        zone.reset(25.0)
        current, kwh = 25.0, 0.0
        for step in range(4):
            current = rate_limit(current, setpoint, 900.0)
            kwh += zone.step(d, step, current, 900.0).elec_w / 1000.0 * 0.25
        proj = project_hour(25.0, 31.0, occupied, setpoint, 23.0, 400.0)
        assert proj["kwh"] == pytest.approx(kwh, rel=1e-12)
        assert proj["kg"] == pytest.approx(kwh * 0.4, rel=1e-12)


def test_out_of_hours_gains_include_the_lighting_left_on(drivers):
    from apps.cooling.office import OFF_HOURS_LIGHTING, OfficeZone

    zone = OfficeZone()
    off = float(drivers.phi_int_w[~drivers.occupied][0])
    assert zone.internal_gains_w(False) == off
    assert off > zone.p.floor_area_m2 * zone.p.equipment_w_m2 * zone.p.standby_fraction
    assert OFF_HOURS_LIGHTING > 0
