"""Dashboard wiring: which pages exist and how each is rendered (``streamlit_app.py`` runs it).

Each app contributes ``apps/<app>/page.py`` with ``render(ctx)``; pages of apps that are not
installed yet are simply absent, and a page that fails to import shows its error instead of
taking the whole dashboard down.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apps.registry import APP_NAMES, APP_TITLES, module_exists

if TYPE_CHECKING:
    from apps.context import AppContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageSpec:
    """One dashboard page: its id (URL path), title and Material icon."""

    page_id: str
    title: str
    icon: str


OVERVIEW = PageSpec("overview", "Impact overview", ":material/eco:")
_ICONS = {"maintenance": ":material/build:", "deforestation": ":material/forest:",
          "cooling": ":material/ac_unit:", "assistant": ":material/chat:"}
APP_PAGES: dict[str, PageSpec] = {a: PageSpec(a, APP_TITLES[a], _ICONS[a]) for a in APP_NAMES}


def available_pages() -> list[PageSpec]:
    """The overview plus one page per app whose ``apps/<app>/page.py`` exists."""
    apps = [APP_PAGES[a] for a in APP_NAMES if module_exists(f"apps.{a}.page")]
    return [OVERVIEW, *apps]


def render_page(page_id: str, ctx: AppContext) -> None:
    """Render one page body into the current Streamlit script run."""
    import streamlit as st

    if page_id == OVERVIEW.page_id:
        from apps.dashboard.overview import render

        render(ctx)
        return
    if page_id not in APP_PAGES:
        st.error(f"Unknown page {page_id!r}; pages: {', '.join(APP_PAGES)}")
        return
    try:
        module = importlib.import_module(f"apps.{page_id}.page")
    except Exception as e:  # one app's broken import must not blank the dashboard; shown below
        logger.exception("could not import the %s page", page_id)
        st.error(f"The {APP_PAGES[page_id].title} page could not be loaded: {type(e).__name__}: {e}")
        return
    module.render(ctx)


def page_callable(spec: PageSpec, ctx_getter: Callable[[], AppContext]) -> Callable[[], None]:
    """A zero-argument page function for ``st.Page`` (its name becomes the URL path)."""

    def page() -> None:
        render_page(spec.page_id, ctx_getter())

    page.__name__ = spec.page_id
    return page
