"""Prometheus metrics for one server instance, on its own CollectorRegistry.

Request counters and latency histograms are per process (each uvicorn worker has its own; scrape
each or run one worker per pod). Energy and CO2 totals come from the ledger database at scrape
time, so every worker reports the same, complete numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.errors import GreenstackError

logger = logging.getLogger(__name__)

# Latency buckets (s) from 5 ms (a cached model call) to 60 s (an LLM answer on 2 CPU cores).
_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class AppTotals:
    """Ledger totals of one app: footprint energy (kWh) and emissions (kgCO2e), savings."""

    app: str
    footprint_energy_kwh: float
    footprint_co2e_kg: float
    saved_co2e_kg: float
    records: int


def app_from_route(template: str, tags: list[str] | tuple[str, ...] = ()) -> str:
    """The app a route belongs to: its router tag (``/v1/chat/completions`` is the assistant's),
    else ``/v1/<app>/...``, else ``server``."""
    from apps.registry import APP_NAMES

    for tag in tags:
        if tag in APP_NAMES:
            return str(tag)
    parts = template.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "v1" and parts[1] in APP_NAMES:
        return parts[1]
    return "server"


class LedgerCollector(Collector):
    """Reads per-app totals from the ledger on each scrape."""

    def __init__(self, totals: Callable[[], list[AppTotals]]) -> None:
        self._totals = totals

    def collect(self) -> Iterator[Metric]:
        energy = CounterMetricFamily(
            "greenstack_ledger_energy_kwh", "Energy recorded in the ledger (kWh)", labels=["app"]
        )
        co2 = CounterMetricFamily(
            "greenstack_ledger_co2e_kg", "Footprint recorded in the ledger (kgCO2e)", labels=["app"]
        )
        # A gauge, not a counter: a re-run estimate supersedes the older one (core.impact), so an
        # app's counted savings can go down; a counter that drops reads as a reset to Prometheus.
        saved = GaugeMetricFamily(
            "greenstack_ledger_saved_co2e_kg",
            "Central savings counted from the ledger (latest estimate per counterfactual, every "
            "event; monitoring excluded) (kgCO2e)",
            labels=["app"],
        )
        up = GaugeMetricFamily("greenstack_ledger_up", "1 if the ledger could be read")
        try:
            rows = self._totals()
        except GreenstackError as e:  # the scrape still answers; the gauge says what happened
            logger.warning("ledger unreadable during /metrics scrape: %s", e)
            up.add_metric([], 0.0)
            yield up
            return
        for row in rows:
            energy.add_metric([row.app], row.footprint_energy_kwh)
            co2.add_metric([row.app], row.footprint_co2e_kg)
            saved.add_metric([row.app], row.saved_co2e_kg)
        up.add_metric([], 1.0)
        yield from (energy, co2, saved, up)


class ServerMetrics:
    """All metrics of one FastAPI app, on a private registry (tests build many apps)."""

    def __init__(self, totals: Callable[[], list[AppTotals]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "greenstack_http_requests",
            "HTTP requests handled by this process",
            ["app", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "greenstack_http_request_duration_seconds",
            "Time from request to the end of the response (s)",
            ["app", "method", "route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(LedgerCollector(totals))

    def observe_request(self, method: str, route: str, status: int, duration_s: float,
                        tags: list[str] | tuple[str, ...] = ()) -> None:
        """Record one finished request (``route`` is the path template, not the raw path)."""
        app = app_from_route(route, tags)
        self.requests.labels(app, method, route, str(status)).inc()
        self.latency.labels(app, method, route).observe(duration_s)

    def render(self) -> bytes:
        """Prometheus text exposition format."""
        return generate_latest(self.registry)
