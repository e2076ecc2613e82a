"""CoolingService: the one API the CLI, REST router and dashboard page call.

Training and evaluation (``run_pipeline``, ``evaluate_files``), what the page shows (card
summary, week traces, impact), the gate recheck, and the BMS/grid serving state (``bms``:
telemetry, recommendations, signals, savings report; :mod:`apps.cooling.bms`).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apps.context import cached_service
from apps.cooling.card import card_path_for
from apps.cooling.scenario import ScenarioSpec, default_train_spec, held_out_specs
from apps.progress import Progress

if TYPE_CHECKING:
    from apps.context import AppContext
    from apps.cooling.baselines import CarbonRuleParams
    from apps.cooling.bms import BmsService
    from apps.cooling.kpis import Trace
    from apps.cooling.summary import CoolingRunSummary
    from core.impact import ImpactReport


class CoolingService:
    """Cooling app service over an :class:`AppContext`."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    @property
    def card_path(self) -> Path:
        """The office agent's model card (the one the BMS endpoints serve)."""
        return self.card_path_for("office")

    def card_path_for(self, building: str, storage_kwh: float = 0.0,
                      split: str = "default") -> Path:
        return card_path_for(self.ctx.app_models_dir("cooling"), building, storage_kwh, split)

    def specs(self, building: str = "office",
              split: str = "default") -> tuple[ScenarioSpec, tuple[ScenarioSpec, ...]]:
        """Training and held-out scenarios of ``split`` from the context's data dir."""
        return (default_train_spec(building, self.ctx.data_dir, split),
                held_out_specs(building, self.ctx.data_dir, split))

    # -- training and evaluation ------------------------------------------------------------
    def run_pipeline(self, progress: Progress = None, **options: Any) -> CoolingRunSummary:
        """The ``greenstack run cooling`` job (:mod:`apps.cooling.pipeline`); options go to
        :class:`apps.cooling.train.TrainPlan`."""
        from apps.cooling.pipeline import run
        from apps.cooling.train import TrainPlan

        return run(self.ctx, TrainPlan(**options), progress)

    def evaluate_files(self, weather: str | Path, grid: str | Path, building: str = "office",
                       days: int | None = None, storage_kwh: float = 0.0) -> dict[str, Any]:
        """Every baseline (``carbon_rule`` included) and the trained agent on one weather file +
        one hourly grid CSV, with a chilled-water tank of ``storage_kwh`` kWh thermal (0: none).
        The agent of the card trained with that tank is used when there is one, and the carbon
        rule it was judged against (:meth:`carbon_rule`)."""
        from apps.cooling.card import load_agents
        from apps.cooling.evaluate import evaluate_pair

        spec = ScenarioSpec(str(weather), str(grid), building)
        card = self._card_with_tank(building, storage_kwh)
        algo, models, heur, _ = load_agents(card, building)
        rule = self.carbon_rule(building, storage_kwh)
        return evaluate_pair(spec, algo, models, heur, days, rule, storage_kwh) | {
            "carbon_rule_params": rule.to_dict(), "card": card.name}

    def _card_with_tank(self, building: str, storage_kwh: float) -> Path:
        """The card trained with that tank (default split first), else the building's card."""
        for split in ("default", "desert-held-out"):
            card = self.card_path_for(building, storage_kwh, split)
            if storage_kwh and card.is_file():
                return card
        return self.card_path_for(building)

    def _split_with_tank(self, building: str, storage_kwh: float) -> str:
        """The split of the card trained with that tank (:meth:`_card_with_tank`)."""
        from core.errors import ModelError
        from core.gates import ModelCard

        try:
            card = ModelCard.load(self._card_with_tank(building, storage_kwh))
        except ModelError:
            return "default"
        return str(card.protocol.get("plan", {}).get("split") or "default")

    def carbon_rule(self, building: str = "office", storage_kwh: float = 0.0) -> CarbonRuleParams:
        """The carbon rule the agent used at that tank is judged against, the one source of its
        parameters for evaluation and the page: the card's (tuned by its pipeline run on that run's
        training pairs) when the card was trained with that tank; otherwise tuned now on the card's
        split's training pairs with that tank (a reusable run: tuned once, then read from the run
        store)."""
        from apps.cooling.card import carbon_rule_params
        from apps.cooling.train import (
            TrainPlan,
            carbon_rule_run,
            run_store_and_keys,
            training_specs,
        )

        card = self._card_with_tank(building, storage_kwh)
        stored = carbon_rule_params(card, storage_kwh) if card.is_file() else None
        if stored is not None:
            return stored
        split = self._split_with_tank(building, storage_kwh)
        plan = TrainPlan(building=building, storage_kwh=storage_kwh, split=split)
        specs = training_specs(default_train_spec(building, self.ctx.data_dir, split), plan)
        store, key_of, _ = run_store_and_keys(self.ctx, [p for s in specs for p in (s.weather, s.grid)])
        return carbon_rule_run(store, key_of, specs, building, plan.tune_days, storage_kwh,
                               self.ctx.force)

    def recheck_gate(self, building: str = "office") -> Any:
        """Rebuild the compact gate's eval set with today's code and data; record its inputs in
        the card if it is the one the gate ran on (:func:`apps.cooling.gating.recheck_card`)."""
        from apps.cooling.gating import recheck_card

        return recheck_card(self.card_path_for(building), self.ctx.data_dir)

    # -- what the page shows ------------------------------------------------------------------
    def card_summary(self, building: str = "office",
                     storage_kwh: float = 0.0) -> dict[str, Any] | None:
        """KPIs, targets and the selected algorithm from the card; None before the first run."""
        from core.errors import ModelError
        from core.gates import ModelCard

        try:
            card = ModelCard.load(self.card_path_for(building, storage_kwh))
        except ModelError:
            return None
        m = card.metrics
        return {"kpis": m["kpis"], "targets": m["targets"], "agent_algo": m["agent_algo"],
                "compact": m.get("compact", {}), "storage_kwh_th": m.get("storage_kwh_th", 0.0),
                "carbon_rule_params": m.get("carbon_rule_params")}

    def storage_sizes(self, building: str = "office") -> list[float]:
        """0 plus the tank sizes (kWh thermal) that have a trained card for ``building``."""
        import re

        base = card_path_for(self.ctx.app_models_dir("cooling"), building).name.removesuffix(".card.json")
        sizes = {float(m.group(1)) for p in self.ctx.app_models_dir("cooling").glob(f"{base}-storage*.card.json")
                 if (m := re.fullmatch(rf"{re.escape(base)}-storage([0-9.]+)(-[a-z-]+)?\.card\.json", p.name))}
        return [0.0, *sorted(sizes)]

    def held_out_labels(self, building: str = "office", storage_kwh: float = 0.0) -> list[str]:
        """The held-out pairs of the card trained with that tank (its split's)."""
        return [s.label for s in self.specs(building, self._split_with_tank(building, storage_kwh))[1]]

    def week_traces(self, spec_index: int = 0, start_day: int = 196, building: str = "office",
                    storage_kwh: float = 0.0) -> dict[str, Trace]:
        """One simulated week of each baseline, the carbon rule (:meth:`carbon_rule`) and the
        agent (seed 0) on held-out pair ``spec_index`` of :meth:`held_out_labels`, with a tank of
        ``storage_kwh`` (0: none)."""
        from apps.cooling.card import load_agents
        from apps.cooling.evaluate import week_traces

        _, models, heur, _ = load_agents(self._card_with_tank(building, storage_kwh), building)
        held_out = self.specs(building, self._split_with_tank(building, storage_kwh))[1]
        return week_traces(held_out, building, models[0], heur, spec_index, start_day,
                           self.carbon_rule(building, storage_kwh), storage_kwh)

    def impact(self) -> ImpactReport:
        """Savings vs footprint of the cooling app from the ledger."""
        from core.impact import ImpactReport

        return ImpactReport.from_ledger(self.ctx.ledger, app="cooling")

    # -- serving (BMS / grid) --------------------------------------------------------------
    @functools.cached_property
    def bms(self) -> BmsService:
        """The BMS/grid serving state (tables in the ledger database)."""
        from apps.cooling.bms import BmsService

        return BmsService(self.ctx, card_path=self.card_path)


def service_for(ctx: AppContext) -> CoolingService:
    """A cached service per context (what the router, page and CLI call)."""
    return cached_service(ctx, "cooling", CoolingService)
