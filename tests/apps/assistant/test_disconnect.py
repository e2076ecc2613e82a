"""A streamed chat whose client disconnects frees its queue slot and the runtime lock, stops
generating at once and still books the energy it used (issue 12, defect 1).

Real uvicorn server on loopback; the client reads the first chunks, then closes the socket.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from core.ledger.serving import serving_book
from tests.e2e.e2e_stack import serve_in_thread

MODEL = "smollm2-135m-instruct"
LONG_PROMPT = "Write a very long story about a dragon who learns to bake bread, with many details."


@pytest.fixture()
def served(tmp_path, runtime, embedder, threshold, service_builder):
    """A real uvicorn server with the assistant preloaded on the shared model."""
    from apps.api.server import create_app
    from apps.assistant.service import register_service
    from apps.context import AppContext
    from apps.settings import Settings
    from core.carbon import resolve_source
    from core.energy import Meter
    from core.ledger import Ledger

    ctx = AppContext(data_dir=Path(__file__).resolve().parents[3] / "data",
                     cache_dir=tmp_path / "cache", models_dir=tmp_path / "models",
                     ledger=Ledger(f"sqlite:///{tmp_path / 'ledger.db'}"), meter=Meter(),
                     carbon=resolve_source(zone="US-CISO"))
    service = service_builder(ctx, runtime, embedder, threshold, exact_cache=False,
                              semantic_cache=False)
    register_service(ctx, service)
    app = create_app(Settings(zone="US-CISO", cache_dir=tmp_path / "cache", open_reads=True,
                              open_compute=True),
                     ctx=ctx)
    with serve_in_thread(app) as url:
        yield url, ctx, service


def _cut_stream_after(url: str, chunks: int) -> None:
    """Open a 512-token stream, read ``chunks`` content events, then drop the connection."""
    body = {"model": MODEL, "messages": [{"role": "user", "content": LONG_PROMPT}],
            "max_tokens": 512, "stream": True}
    seen = 0
    with httpx.Client(timeout=60) as client, client.stream(
            "POST", f"{url}/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get(
                    "content"):
                seen += 1
            if seen >= chunks:
                break  # leaving both context managers closes the socket mid-stream
    assert seen == chunks


def _wait_until_idle(service, deadline_s: float = 60.0) -> None:
    # A deadlock guard, not a speed claim: the slot comes back within a token or two.
    end = time.monotonic() + deadline_s
    while service.queue.stats().in_system and time.monotonic() < end:
        time.sleep(0.05)


@pytest.mark.e2e
def test_cut_stream_frees_the_slot_stops_generation_and_books_energy(served):
    url, ctx, service = served
    _cut_stream_after(url, chunks=3)
    _wait_until_idle(service)
    assert service.queue.stats().in_system == 0, "the cut stream still holds its queue slot"
    assert not service.runtime.busy(), "the cut stream still holds the runtime lock"

    serving_book(ctx.ledger).flush(everything=True)  # serving rows are written per minute
    rows = ctx.ledger.footprints(app="assistant", phase="serve")
    assert len(rows) == 1 and "1 request(s)" in rows[0].notes, "the cut request was not booked"
    assert "cancelled=1" in rows[0].notes and rows[0].energy_j > 0
    tokens = int(rows[0].notes.split("completion_tokens=")[1].split()[0].rstrip(";"))
    # Generation stopped at the disconnect, far short of the 512 tokens asked for.
    assert 3 <= tokens < 100

    # The next request is served normally (a hung slot would make it wait forever).
    with httpx.Client(timeout=60) as client:
        resp = client.post(f"{url}/v1/chat/completions", json={
            "model": MODEL, "messages": [{"role": "user", "content": "What is 2 + 2?"}],
            "max_tokens": 8})
    assert resp.status_code == 200 and resp.json()["usage"]["completion_tokens"] > 0
    assert service.stats()["totals"]["cancelled"] == 1
