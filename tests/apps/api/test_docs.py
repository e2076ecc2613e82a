"""/docs is Swagger UI served from this server: no asset from another host, assets load, no key."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from apps.api.docs import SWAGGER_STATIC_PATH, SwaggerAssets, mount_api_docs, swagger_assets
from apps.api.server import create_app
from apps.settings import Settings
from core.errors import ConfigError

# Every URL the page's HTML asks a browser to fetch: tag attributes and the schema URL in the script.
_FETCHED_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def _client(ctx, tmp_path: Path, **overrides) -> TestClient:
    settings = Settings(zone="US-CISO", cache_dir=tmp_path / "cache", **overrides)
    return TestClient(create_app(settings, ctx=ctx))


def _fetched_urls(html: str) -> list[str]:
    return [a or b for a, b in _FETCHED_URL.findall(html)]


def test_docs_page_fetches_only_local_urls(ctx, tmp_path: Path) -> None:
    r = _client(ctx, tmp_path, open_reads=True).get("/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _fetched_urls(r.text)
    # the stylesheet, the favicon, the script and the schema: all four must be found to count
    assert len(urls) == 4, urls
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "/openapi.json" in urls
    assert not re.search(r"https?://", r.text), "the page names another host"


@pytest.mark.parametrize("open_reads", [True, False])
def test_docs_assets_load_without_a_key(ctx, tmp_path: Path, open_reads: bool) -> None:
    # Public like /openapi.json, whether or not reads need a key.
    client = _client(ctx, tmp_path, open_reads=open_reads)
    html = client.get("/docs").text
    expected = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
    assets = [u for u in _fetched_urls(html) if u.startswith(SWAGGER_STATIC_PATH + "/")]
    assert {Path(u).suffix for u in assets} == set(expected)
    for url in assets:
        r = client.get(url)
        assert r.status_code == 200, url
        assert expected[Path(url).suffix] in r.headers["content-type"], (url, r.headers)
        assert len(r.content) > 0
    js = client.get(next(u for u in assets if u.endswith(".js"))).text
    assert "SwaggerUIBundle" in js  # the global the page's inline script calls
    assert client.get("/openapi.json").status_code == 200


def test_docs_bundle_renders_openapi_3_1(ctx, tmp_path: Path) -> None:
    # Swagger UI 4 (swagger-ui-bundle 1.1.0) answers a 3.1 schema with "Unable to render this
    # definition"; FastAPI writes 3.1, so the served bundle must know 3.1. Its spec selector
    # `isOAS31` (a property name, kept by minification) exists from Swagger UI 5 on.
    client = _client(ctx, tmp_path, open_reads=True)
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert "isOAS31" in client.get(f"{SWAGGER_STATIC_PATH}/swagger-ui-bundle.js").text


def test_cdn_pages_are_off_and_docs_stay_out_of_the_schema(ctx, tmp_path: Path) -> None:
    client = _client(ctx, tmp_path, open_reads=True)
    assert client.get("/redoc").status_code == 404  # ReDoc is not shipped offline: no CDN page
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/static"))]


def test_docs_urls_follow_the_proxy_root_path(ctx, tmp_path: Path) -> None:
    settings = Settings(zone="US-CISO", cache_dir=tmp_path / "cache", open_reads=True)
    client = TestClient(create_app(settings, ctx=ctx), root_path="/greenstack")
    urls = _fetched_urls(client.get("/docs").text)
    assert urls and all(u.startswith("/greenstack/") for u in urls), urls


def test_missing_bundle_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "swagger_ui_bundle", None)  # import raises ImportError
    with pytest.raises(ConfigError, match="swagger-ui-bundle-v2"):
        swagger_assets()


def test_missing_asset_file_is_an_error_not_a_blank_page(tmp_path: Path) -> None:
    (tmp_path / "swagger-ui.css").write_text("body {}")
    with pytest.raises(ConfigError, match="swagger-ui-bundle.js"):
        mount_api_docs(FastAPI(docs_url=None, redoc_url=None), SwaggerAssets(directory=tmp_path))
