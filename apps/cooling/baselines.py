"""Rule-based controllers: naive, ASHRAE 55 seasonal (office) / fixed 22 degC inlet (data hall),
a tuned heuristic (relaxed setpoint + carbon-aware pre-cooling) and the carbon- and price-aware
rule ``carbon_rule`` (which also runs a chilled-water tank and honours demand-response events).
All return an action in [-1, 1] through the same envelope mapping as the agent, so every
controller gets the same clamp and rate limit; in an env with a tank, the controllers without a
storage rule leave it idle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from apps.cooling.safety import Envelope, setpoint_to_action


class Controller(Protocol):
    """Anything that maps (observation, raw control state) to an action in [-1, 1]."""

    name: str

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> float: ...


class _SetpointController:
    """Base: subclasses choose a setpoint (degC); this maps it to an action."""

    name = "setpoint"

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope

    def setpoint(self, state: dict[str, Any]) -> float:
        raise NotImplementedError

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> float:
        return setpoint_to_action(self.setpoint(state), state["occupied"], self.envelope)

    def _supply(self, controlled_c: float) -> float:
        """Setpoint that yields ``controlled_c`` (data hall: inlet = supply + recirculation)."""
        return controlled_c - self.envelope.temp_offset_k


def _starting_soon(state: dict[str, Any], hours: int) -> bool:
    return any(state["occupied_within_h"][:hours])


class NaiveController(_SetpointController):
    """Office: 23 degC from one hour before occupancy, 28 degC night setback (a common legacy BMS
    schedule). Data hall: fixed 20 degC inlet all year (the legacy 'cold aisle' practice)."""

    name = "naive"

    def setpoint(self, state: dict[str, Any]) -> float:
        if self.envelope.controlled == "supply air temperature":
            return self._supply(20.0)
        return 23.0 if state["occupied"] or _starting_soon(state, 1) else 28.0


class AshraeController(_SetpointController):
    """Office: middle of ASHRAE 55-2020's seasonal operative bands (summer 23-26 -> 24.5 degC,
    winter 20-23.5 -> 22 degC) when occupied, 28 degC setback. Data hall: fixed 22 degC inlet."""

    name = "ashrae"

    def setpoint(self, state: dict[str, Any]) -> float:
        if self.envelope.controlled == "supply air temperature":
            return self._supply(22.0)
        if not (state["occupied"] or _starting_soon(state, 1)):
            return 28.0
        return 24.5 if 5 <= state["month"] <= 9 else 22.0


@dataclass(frozen=True)
class HeuristicParams:
    """Tunable rules, degC of the controlled temperature and hours."""

    relaxed_c: float = 25.5  # occupied setpoint (office air / data-hall inlet)
    precool_c: float = 23.0  # setpoint while pre-cooling
    precool_hours: int = 3  # pre-cool only this close before occupancy (office)
    ci_quantile: float = 0.33  # pre-cool when CI now <= this quantile of the next 24 h
    setback_c: float = 28.0  # unoccupied office setpoint

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class HeuristicController(_SetpointController):
    """Relaxed setpoint plus carbon-aware pre-cooling: cool deeper in low-carbon hours just
    before (office) or during (data hall) operation, drift back to the relaxed setpoint when the
    grid is dirty; hold the relaxed setpoint through demand-response events."""

    name = "heuristic"

    def __init__(self, envelope: Envelope, params: HeuristicParams | None = None) -> None:
        super().__init__(envelope)
        self.params = params or HeuristicParams()

    def _low_carbon(self, state: dict[str, Any]) -> bool:
        return state["ci_now"] <= float(np.quantile(state["ci_24h"], self.params.ci_quantile))

    def setpoint(self, state: dict[str, Any]) -> float:
        p = self.params
        cheap = self._low_carbon(state) and not state["dr_now"]
        if self.envelope.controlled == "supply air temperature":
            return self._supply(p.precool_c if cheap else p.relaxed_c)
        if state["occupied"]:
            return p.precool_c if cheap and p.precool_hours > 0 else p.relaxed_c
        if p.precool_hours > 0 and _starting_soon(state, p.precool_hours) and cheap:
            return p.precool_c
        if _starting_soon(state, 1):
            return p.relaxed_c
        return p.setback_c


@dataclass(frozen=True)
class CarbonRuleParams:
    """The carbon- and price-aware rule's few parameters (tuned on the training pairs)."""

    low_quantile: float = 0.25  # the hour is "clean" when its blended rank is at most this
    high_quantile: float = 0.75  # ... "dirty" when at least this
    price_weight: float = 0.0  # blend of the price rank into the carbon rank (0: carbon only)
    edge_c: float = 26.0  # the comfort edge held otherwise (controlled temperature)
    precool_c: float = 24.0  # pre-cool setpoint in clean hours
    precool_hours: int = 2  # office: pre-cool only this close before and during occupancy
    setback_c: float = 28.0  # unoccupied office setpoint

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _rank(now: float, ahead: np.ndarray) -> float:
    """Share of the next 24 h values at or below ``now`` (0: the cleanest/cheapest hour)."""
    a = np.asarray(ahead, float)
    return float(np.mean(a <= now)) if a.size else 0.5


class CarbonRuleController(_SetpointController):
    """Charge storage and pre-cool when the hour is among the day's cleanest (blended with price
    by ``price_weight``), coast through the dirtiest (hold the comfort edge, discharge the tank),
    hold the comfort edge otherwise; during a demand-response event, coast and discharge."""

    name = "carbon_rule"

    def __init__(self, envelope: Envelope, params: CarbonRuleParams | None = None) -> None:
        super().__init__(envelope)
        self.params = params or CarbonRuleParams()

    def phase(self, state: dict[str, Any]) -> str:
        """"clean", "dirty" or "normal" for the current hour."""
        p = self.params
        if state.get("dr_now"):
            return "dirty"
        r = (1 - p.price_weight) * _rank(state["ci_now"], state["ci_24h"])
        if p.price_weight:
            r += p.price_weight * _rank(state.get("price_now", 0.0), state.get("price_24h", []))
        return "clean" if r <= p.low_quantile else "dirty" if r >= p.high_quantile else "normal"

    def setpoint(self, state: dict[str, Any]) -> float:
        p, phase = self.params, self.phase(state)
        if self.envelope.controlled == "supply air temperature":
            return self._supply(p.precool_c if phase == "clean" else p.edge_c)
        if state["occupied"] or _starting_soon(state, max(p.precool_hours, 1)):
            if phase == "clean" and (state["occupied"] or p.precool_hours > 0):
                return p.precool_c
            return p.edge_c
        return p.setback_c

    def act(self, obs: np.ndarray, state: dict[str, Any]) -> Any:
        sp_action = super().act(obs, state)
        if not state.get("storage"):
            return sp_action
        phase = self.phase(state)
        return np.array([sp_action, 1.0 if phase == "clean" else -1.0 if phase == "dirty" else 0.0])


def carbon_rule_grid(building: str) -> list[CarbonRuleParams]:
    """Candidate rule parameters for tuning on the training pairs."""
    if building == "datahall":
        return [CarbonRuleParams(low_quantile=lo, high_quantile=hi, price_weight=w, edge_c=e,
                                 precool_c=c, precool_hours=0)
                for lo, hi in ((0.25, 0.75), (0.33, 0.67)) for w in (0.0, 0.5)
                for e in (26.0, 27.0) for c in (23.0, 25.0)]
    # Setback up to the envelope's unoccupied top (30 degC), as the agent may: a rule held to the
    # naive 28 degC would be judged with one hand tied.
    return [CarbonRuleParams(low_quantile=lo, high_quantile=hi, price_weight=w, edge_c=e,
                             precool_c=c, precool_hours=h, setback_c=sb)
            for lo, hi in ((0.25, 0.75), (0.33, 0.67)) for w in (0.0, 0.5)
            for e in (25.8, 26.0) for c, h in ((24.0, 2), (25.0, 0)) for sb in (28.0, 30.0)]


def heuristic_grid(building: str) -> list[HeuristicParams]:
    """Candidate rule parameters for tuning on the training scenario."""
    if building == "datahall":
        return [HeuristicParams(relaxed_c=r, precool_c=c, precool_hours=0, ci_quantile=q)
                for r in (25.5, 26.5) for c in (22.0, 24.0, r) for q in (0.25, 0.5)]
    return [HeuristicParams(relaxed_c=r, precool_c=c, precool_hours=h, ci_quantile=q)
            for r in (25.5, 25.8) for c, h in ((22.5, 2), (24.0, 2), (24.0, 4), (25.0, 0))
            for q in (0.25, 0.5)]


def baseline_controllers(envelope: Envelope, heuristic: HeuristicParams | None = None,
                         carbon_rule: CarbonRuleParams | None = None) -> dict[str, Any]:
    """The baselines, keyed by the names the KPI table uses (``carbon_rule`` only when its
    tuned parameters are given)."""
    out: dict[str, Any] = {"naive": NaiveController(envelope), "ashrae": AshraeController(envelope),
                           "heuristic": HeuristicController(envelope, heuristic)}
    if carbon_rule is not None:
        out["carbon_rule"] = CarbonRuleController(envelope, carbon_rule)
    return out
