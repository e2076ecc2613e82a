"""LiveProvider against a real HTTP server on 127.0.0.1 (no mocked client)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from core.carbon import LiveProvider
from core.errors import ConfigError, DataError, UnknownZoneError

KEY = "test-key-123"


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    mode = "ok"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        type(self).requests.append({"path": url.path, "query": query, "token": self.headers.get("auth-token")})
        if self.headers.get("auth-token") != KEY:
            return self._send(401, {"error": "bad token"})
        if query.get("zone") == "NOWHERE":
            return self._send(404, {"error": "zone"})
        if self.mode == "boom":
            return self._send(500, {"error": "internal"})
        if self.mode == "notjson":
            return self._send(200, None, raw=b"<html>")
        stamp = query.get("datetime", "2024-05-01T12:00:00Z")
        body = {"zone": query["zone"], "carbonIntensity": 123.0 if "datetime" in query else 99.0,
                "datetime": stamp, "emissionFactorType": "lifecycle", "isEstimated": False}
        return self._send(200, body)

    def _send(self, code: int, body: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    _Handler.requests = []
    _Handler.mode = "ok"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_latest_value_is_labelled_and_cached_until_ttl(server: str) -> None:
    clock = _Clock()
    with LiveProvider("de", KEY, base_url=server, ttl_s=60, clock=clock) as live:
        first = live.intensity()
        assert first.g_per_kwh == 99.0 and first.method == "live" and first.zone == "DE"
        assert first.scope == "lifecycle" and first.at == datetime(2024, 5, 1, 12, tzinfo=UTC)
        assert server in first.source
        clock.now += 59
        assert live.intensity() == first and live.requests_made == 1  # cached
        clock.now += 2
        live.intensity()
        assert live.requests_made == 2  # TTL expired → asked again
    assert _Handler.requests[0]["token"] == KEY
    assert _Handler.requests[0]["path"] == "/v3/carbon-intensity/latest"
    assert _Handler.requests[0]["query"] == {"zone": "DE"}


def test_past_hour_is_requested_by_utc_timestamp(server: str) -> None:
    with LiveProvider("FR", KEY, base_url=server, clock=_Clock()) as live:
        i = live.intensity(datetime(2024, 3, 2, 7, 45, tzinfo=UTC))
        live.intensity(datetime(2024, 3, 2, 7, 5, tzinfo=UTC))  # same hour → cache
    assert i.g_per_kwh == 123.0 and i.at == datetime(2024, 3, 2, 7, tzinfo=UTC)
    assert [r["query"].get("datetime") for r in _Handler.requests] == ["2024-03-02T07:00:00Z"]


def test_errors_are_translated(server: str) -> None:
    with pytest.raises(ConfigError, match="rejected the API key"):
        LiveProvider("DE", "wrong", base_url=server).intensity()
    with pytest.raises(UnknownZoneError, match="NOWHERE"):
        LiveProvider("NOWHERE", KEY, base_url=server).intensity()
    _Handler.mode = "boom"
    with pytest.raises(DataError, match="HTTP 500"):
        LiveProvider("DE", KEY, base_url=server).intensity()
    _Handler.mode = "notjson"
    with pytest.raises(DataError, match="not JSON"):
        LiveProvider("DE", KEY, base_url=server).intensity()


def test_unreachable_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DataError, match="unreachable"):
        LiveProvider("DE", KEY, base_url=f"http://127.0.0.1:{port}", timeout_s=2).intensity()


def test_constructor_needs_zone_and_key() -> None:
    with pytest.raises(UnknownZoneError):
        LiveProvider("", KEY)
    with pytest.raises(ConfigError, match="API key"):
        LiveProvider("DE", "")
