"""The interactive API docs page (Swagger UI) served from this server, never from a CDN.

FastAPI's default ``/docs`` page loads Swagger UI's script and stylesheet from a CDN, so on an
isolated network (building-management and grid systems, this API's users, often are) the page is
blank. Here the same assets come from the installed ``swagger-ui-bundle-v2`` package, mounted as
static files, and the page is built with FastAPI's ``get_swagger_ui_html`` pointing at them.

Why ``swagger-ui-bundle-v2`` and not ``swagger-ui-bundle`` 1.1.0: the latter ships Swagger UI
4.15.5, which refuses FastAPI's OpenAPI 3.1 schema ("Unable to render this definition ... match
openapi: 3.0.n"); the v2 package (same maintainers, same ``swagger_ui_path`` API) ships Swagger
UI 5, which renders 3.1. ReDoc is not in either package, so ``/redoc`` is switched off rather than
left as a CDN page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from core.errors import ConfigError

DOCS_PATH = "/docs"
SWAGGER_STATIC_PATH = "/static/swagger-ui"  # outside /v1 and every system route
_STATIC_NAME = "swagger-ui"


@dataclass(frozen=True)
class SwaggerAssets:
    """Where the Swagger UI files lie on disk and the names of the ones the page loads."""

    directory: Path
    js_file: str = "swagger-ui-bundle.js"
    css_file: str = "swagger-ui.css"
    favicon_file: str = "favicon-32x32.png"


def swagger_assets() -> SwaggerAssets:
    """The Swagger UI files of the installed ``swagger-ui-bundle-v2`` package.

    Raises ConfigError, saying how to install it, when the package is missing.
    """
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError as e:
        raise ConfigError(
            "the API docs need the Swagger UI files of the package swagger-ui-bundle-v2; "
            "reinstall greenstack (`make install` or `pip install -e .`)"
        ) from e
    return SwaggerAssets(directory=Path(str(swagger_ui_path)))


def _require_files(assets: SwaggerAssets) -> None:
    """ConfigError when a file the page loads is absent: a page whose script 404s is blank."""
    missing = [
        name for name in (assets.js_file, assets.css_file, assets.favicon_file)
        if not (assets.directory / name).is_file()
    ]
    if missing:
        raise ConfigError(
            f"Swagger UI files {missing} are missing from {assets.directory}; reinstall "
            "swagger-ui-bundle-v2 (`pip install --force-reinstall swagger-ui-bundle-v2`)"
        )


def mount_api_docs(app: FastAPI, assets: SwaggerAssets | None = None) -> None:
    """Serve Swagger UI at ``/docs`` with its assets under ``/static/swagger-ui``.

    Build the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not added.
    Both routes stay out of the OpenAPI schema and need no API key, like ``/openapi.json``.
    """
    from fastapi.staticfiles import StaticFiles

    assets = assets or swagger_assets()
    _require_files(assets)
    if app.openapi_url is None:
        raise ConfigError("the API docs page needs the OpenAPI schema; keep openapi_url set")
    openapi_url = app.openapi_url
    app.mount(SWAGGER_STATIC_PATH, StaticFiles(directory=assets.directory), name=_STATIC_NAME)

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        # Behind a proxy that strips a prefix, every URL the browser fetches needs it back.
        root = request.scope.get("root_path", "").rstrip("/")
        static = f"{root}{SWAGGER_STATIC_PATH}"
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{static}/{assets.js_file}",
            swagger_css_url=f"{static}/{assets.css_file}",
            swagger_favicon_url=f"{static}/{assets.favicon_file}",
            # API keys are bearer tokens (the Authorize button); no OAuth2 flow to redirect to.
            oauth2_redirect_url=None,
            # Swagger UI's default validator is an outside service; an isolated network lacks it.
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_route(DOCS_PATH, swagger_ui_html, include_in_schema=False)
