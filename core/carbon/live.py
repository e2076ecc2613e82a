"""Live grid intensity over HTTP (Electricity Maps v3 style), cached with a TTL.

Subclass and override :meth:`LiveProvider._request` and :meth:`LiveProvider._parse` to plug in
another provider; the cache, error translation and provenance labels stay the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.carbon.intensity import Intensity, IntensitySource, as_utc
from core.errors import ConfigError, DataError, UnknownZoneError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)
ELECTRICITY_MAPS_URL = "https://api.electricitymap.org"


class LiveProvider(IntensitySource):
    """Timestamped intensity from a live API; ``method="live"`` on every value.

    ``api_key`` is sent in the ``auth-token`` header. Answers are cached per (zone, hour) for
    ``ttl_s`` seconds measured on ``clock`` (monotonic seconds; injectable for tests).
    ``scope`` labels values whose payload does not state ``emissionFactorType``.
    """

    def __init__(
        self,
        zone: str,
        api_key: str,
        *,
        base_url: str = ELECTRICITY_MAPS_URL,
        ttl_s: float = 300.0,
        timeout_s: float = 10.0,
        scope: str = "lifecycle",
        clock: Callable[[], float] = time.monotonic,
        name: str = "Electricity Maps API",
    ) -> None:
        if not zone or not zone.strip():
            raise UnknownZoneError("LiveProvider needs a zone (e.g. zone='DE'); none was given")
        if not api_key:
            raise ConfigError("LiveProvider needs an API key (api_key=...); none was given")
        self.zone = zone.strip().upper()
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self.scope = scope
        self.name = name
        self._clock = clock
        self._cache: dict[str, tuple[float, Intensity]] = {}
        self._client: httpx.Client | None = None
        self.requests_made = 0  # HTTP requests actually sent (cache misses)

    # -- public ----------------------------------------------------------------------------------
    def intensity(self, at: datetime | None = None) -> Intensity:
        """Latest value (``at=None``) or the value for the hour containing ``at`` (UTC-aware)."""
        hour = None if at is None else as_utc(at).replace(minute=0, second=0, microsecond=0)
        key = "latest" if hour is None else hour.isoformat()
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        path, params = self._request(hour)
        value = self._parse(self._get(path, params))
        self._cache[key] = (now + self.ttl_s, value)
        return value

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> LiveProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- provider hooks --------------------------------------------------------------------------
    def _request(self, hour: datetime | None) -> tuple[str, dict[str, str]]:
        """(path, query params) for the latest value or one past hour."""
        if hour is None:
            return "/v3/carbon-intensity/latest", {"zone": self.zone}
        stamp = hour.strftime("%Y-%m-%dT%H:%M:%SZ")
        return "/v3/carbon-intensity/past", {"zone": self.zone, "datetime": stamp}

    def _parse(self, payload: dict[str, Any]) -> Intensity:
        """Turn the provider's JSON into an Intensity; DataError when a field is missing."""
        try:
            value = float(payload["carbonIntensity"])
            at = datetime.fromisoformat(str(payload["datetime"]).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{self.name} answered without a usable carbonIntensity/datetime: {e}") from e
        scope = str(payload.get("emissionFactorType") or self.scope)
        estimated = " (estimated)" if payload.get("isEstimated") else ""
        return Intensity(
            zone=str(payload.get("zone", self.zone)).upper(),
            g_per_kwh=value,
            source=f"{self.name} {self.base_url}{estimated}",
            year=at.year,
            scope=scope,
            gas="CO2e",
            kind="average",
            method="live",
            at=at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC),
        )

    # -- HTTP ------------------------------------------------------------------------------------
    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        import httpx

        if self._client is None:
            self._client = httpx.Client(
                base_url=self.base_url,
                headers={"auth-token": self._api_key},
                timeout=self.timeout_s,
            )
        self.requests_made += 1
        try:
            response = self._client.get(path, params=params)
        except httpx.TransportError as e:
            raise DataError(
                f"{self.name} unreachable at {self.base_url} ({e}); retry, or use the annual "
                "table / an hourly CSV instead of the live provider"
            ) from e
        self._raise_for_status(response)
        try:
            payload = response.json()
        except ValueError as e:
            raise DataError(f"{self.name} sent a body that is not JSON ({e})") from e
        if not isinstance(payload, dict):
            raise DataError(f"{self.name} sent {type(payload).__name__}, expected a JSON object")
        return payload

    def _raise_for_status(self, response: httpx.Response) -> None:
        code = response.status_code
        if code < 400:
            return
        if code in (401, 403):
            raise ConfigError(f"{self.name} rejected the API key (HTTP {code}); check api_key")
        if code == 404:
            raise UnknownZoneError(f"{self.name} does not know zone {self.zone} (HTTP 404)")
        raise DataError(f"{self.name} answered HTTP {code}: {response.text[:200]}")
