"""AppContext helpers: the run store from the context and one cached service per (context, app)."""

from __future__ import annotations

import dataclasses
import gc
import threading

from apps.context import _SERVICES, cached_service, register_service


def test_run_store_uses_the_context(ctx) -> None:
    store = ctx.run_store()
    assert store.root == ctx.cache_dir / "runs"
    assert store.ledger is ctx.ledger and store.meter is ctx.meter and store.pue == ctx.pue


def test_one_service_per_context_and_app(ctx) -> None:
    built: list[object] = []

    def build(c):
        built.append(c)
        return object()

    first = cached_service(ctx, "a", build)
    assert cached_service(ctx, "a", build) is first and len(built) == 1
    assert cached_service(ctx, "b", build) is not first  # another app, another service
    other = dataclasses.replace(ctx, force=True)  # another context, another service
    assert cached_service(other, "a", build) is not first and len(built) == 3
    preloaded = object()
    register_service(ctx, "a", preloaded)
    assert cached_service(ctx, "a", build) is preloaded and len(built) == 3


def test_concurrent_first_calls_build_once(ctx) -> None:
    calls: list[int] = []
    started = threading.Event()
    release = threading.Event()

    def slow_build(c):
        calls.append(1)
        started.set()
        release.wait(timeout=30)
        return object()

    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(cached_service(ctx, "s", slow_build)))
               for _ in range(4)]
    threads[0].start()
    started.wait(timeout=30)  # the first caller is building; the others must wait for it
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(timeout=30)
    assert len(calls) == 1 and len(results) == 4 and len({id(r) for r in results}) == 1


def test_services_go_with_their_context(ctx) -> None:
    other = dataclasses.replace(ctx, pue=1.5)
    cached_service(other, "a", lambda c: object())
    assert other in _SERVICES
    del other
    gc.collect()
    assert all(c.pue != 1.5 for c in _SERVICES)
