"""The tank-dispatch linear program of :mod:`apps.cooling.oracle` as sparse matrices.

Variables, in order: ``u`` (W thermal, one per control step: the tank's net rate, > 0 charge),
``y`` (W thermal, one per demand-response event step: the layer's discharge) and ``P`` (kWh
thermal, one per simulation step: what the tank holds after the step's charge or discharge and
before its standing loss, so the stored energy after step k is ``g P_k``, ``g = 1 - loss dt/24``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from apps.cooling.storage import TankParams

DR_PENALTY_KG_PER_KWH = 10.0  # per kWh thermal the DR layer wanted and the tank lacked


@dataclass(frozen=True)
class DispatchProblem:
    """``min cost @ x`` s.t. ``a_ub x <= b_ub``, ``a_eq x = b_eq``, ``bounds``."""

    cost: np.ndarray
    co2_part: np.ndarray  # the CO2 change (kg) per unit of x, without the DR penalty
    a_ub: Any
    b_ub: np.ndarray | None
    a_eq: Any
    b_eq: np.ndarray
    bounds: list[tuple[float, float]]
    n_hours: int
    event_steps: np.ndarray  # simulation-step indices of the event steps
    y_max_w: np.ndarray  # the layer's wanted discharge per event step
    loss_factor: float
    dt_h: float

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """(net rate per control step W, stored kWh per step, DR shortfall kWh thermal)."""
        ne = len(self.event_steps)
        u, y, p = x[:self.n_hours], x[self.n_hours:self.n_hours + ne], x[self.n_hours + ne:]
        return (u.copy(), self.loss_factor * p,
                float(np.sum(self.y_max_w - y) * self.dt_h / 1000.0))


def _hours_to_event(dr: np.ndarray, steps_per_day: int) -> np.ndarray:
    """Per step: steps until the day's next event start (-1: none ahead, or in an event)."""
    out = np.full(len(dr), -1)
    for day0 in range(0, len(dr), steps_per_day):
        nxt = -1
        for k in range(min(day0 + steps_per_day, len(dr)) - 1, day0 - 1, -1):
            nxt = k if dr[k] else nxt
            out[k] = -1 if dr[k] or nxt < 0 else nxt - k
    return out


def _event_weights(dr: np.ndarray) -> np.ndarray:
    """Per event step, 2 at a block's start falling toward 1 at its end, so the LP prefers
    discharging early in an event, as the env's layer does."""
    w, idx = [], np.flatnonzero(dr)
    start = 0
    for i in range(len(idx) + 1):
        if i == len(idx) or (i > start and idx[i] != idx[i - 1] + 1):
            n = i - start
            w += [1.0 + (n - j) / n for j in range(n)]
            start = i
    return np.array(w)


def dispatch_problem(tr: Any, tank: TankParams) -> DispatchProblem:
    """Build the LP for a :class:`apps.cooling.oracle.StepTrace`."""
    n, s = len(tr.mech_w_th), tr.substeps
    if n % s:
        raise ValueError("the trace must hold whole control steps")
    n_h, dt_h = n // s, tr.dt_s / 3600.0
    dr = np.asarray(tr.dr_event, bool)
    if np.any(dr.reshape(n_h, s).any(axis=1) != dr.reshape(n_h, s).all(axis=1)):
        raise ValueError("demand-response events must cover whole control steps")
    ev = np.flatnonzero(dr)
    ne, rate, cap = len(ev), tank.max_rate_w_th, tank.capacity_kwh_th
    g = 1.0 - tank.loss_per_day * dt_h / 24.0
    hour = np.arange(n) // s
    w_co2 = tr.ci_g_per_kwh / tr.cop * dt_h / 1e6  # kg per W thermal held one step
    # the layer's wanted discharge (aims 1 W under the limit), W thermal
    need = np.maximum(tr.elec_w - (tr.dr_limit_w - 1.0), 0.0) * tr.cop
    y_max = np.minimum(np.minimum(need, rate), np.maximum(tr.mech_w_th, 0.0))[ev]
    nv = n_h + ne + n
    co2 = np.zeros(nv)
    np.add.at(co2, hour[~dr], w_co2[~dr])
    co2[n_h:n_h + ne] = -w_co2[ev]
    cost = co2.copy()
    cost[n_h:n_h + ne] -= DR_PENALTY_KG_PER_KWH * _event_weights(dr) * dt_h / 1000.0
    # dynamics: P_k - g P_{k-1} - dt/1000 * net_k = 0
    rows = np.r_[np.arange(n), np.arange(1, n), np.flatnonzero(~dr), ev].astype(int)
    cols = np.r_[n_h + ne + np.arange(n), n_h + ne + np.arange(n - 1), hour[~dr],
                 n_h + np.arange(ne)].astype(int)
    vals = np.r_[np.ones(n), -g * np.ones(n - 1), -dt_h / 1000.0 * np.ones(int((~dr).sum())),
                 dt_h / 1000.0 * np.ones(ne)]
    a_eq = sparse.csr_matrix((vals, (rows, cols)), shape=(n, nv))
    a_ub, b_ub = _prepare_rows(dr, hour, n_h, ne, nv, g, rate, cap, tank.hours_to_full, dt_h,
                               int(round(24.0 / dt_h)))
    mech = tr.mech_w_th.reshape(n_h, s).min(axis=1)
    head = np.maximum(tr.plant_capacity_w_th - tr.mech_w_th, 0.0).reshape(n_h, s).min(axis=1)
    ev_h = np.asarray(dr.reshape(n_h, s).any(axis=1), bool)
    bounds = [(0.0, 0.0) if ev_h[h] else (-min(rate, max(mech[h], 0.0)), min(rate, head[h]))
              for h in range(n_h)]
    bounds += [(0.0, float(y)) for y in y_max] + [(0.0, cap)] * n
    return DispatchProblem(cost, co2, a_ub, b_ub, a_eq, np.zeros(n), bounds, n_h, ev, y_max,
                           g, dt_h)


def _prepare_rows(dr: np.ndarray, hour: np.ndarray, n_h: int, ne: int, nv: int, g: float,
                  rate: float, cap: float, hours_to_full: float, dt_h: float,
                  steps_per_day: int) -> tuple[Any, np.ndarray | None]:
    """Before an event the same day the layer charges at least the share that fills the tank
    by the event's start: ``u_h >= rate H (1 - g P_{k-1} / cap) / hours_k`` per step k."""
    ahead = _hours_to_event(dr, steps_per_day)
    ks = np.flatnonzero(ahead > 0)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    b: list[float] = []
    for r, k in enumerate(int(k) for k in ks):
        a = rate * hours_to_full / (ahead[k] * dt_h)
        rows += [r, r] if k > 0 else [r]
        cols += [int(hour[k]), n_h + ne + k - 1] if k > 0 else [int(hour[k])]
        vals += [-1.0, -a * g / cap] if k > 0 else [-1.0]
        b.append(-a)
    if not ks.size:
        return None, None
    a_ub = sparse.csr_matrix((vals, (rows, cols)), shape=(len(ks), nv))
    return a_ub, np.array(b, float)
