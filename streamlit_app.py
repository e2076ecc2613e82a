"""greenstack stakeholder dashboard.

Run: ``greenstack dashboard`` (or ``streamlit run streamlit_app.py``). Settings come from
``GREENSTACK_*`` environment variables (at least ``GREENSTACK_ZONE``), read here at the edge.
"""

from __future__ import annotations

import streamlit as st


def _settings_json() -> str:
    from apps.settings import Settings

    return Settings().model_dump_json()


@st.cache_resource(show_spinner="Opening the ledger…")
def _cached_context(settings_json: str):  # one context per settings, shared by all sessions
    from apps.context import build_context
    from apps.settings import Settings

    return build_context(Settings.model_validate_json(settings_json))


def _context():
    return _cached_context(_settings_json())


def main() -> None:
    """Build the navigation from the pages that exist and run the selected one."""
    from apps.dashboard.pages import available_pages, page_callable
    from core.errors import GreenstackError

    st.set_page_config(page_title="greenstack", page_icon="🌿", layout="wide")
    try:
        _context()
    except GreenstackError as e:
        st.title("greenstack")
        st.error(f"The dashboard cannot start: {e}")
        st.info(
            "Set the grid zone the numbers are computed for, e.g. `GREENSTACK_ZONE=US-CISO "
            "greenstack dashboard` (see `greenstack zones`)."
        )
        st.stop()
    pages = [
        st.Page(page_callable(spec, _context), title=spec.title, icon=spec.icon,
                url_path=spec.page_id, default=(i == 0))
        for i, spec in enumerate(available_pages())
    ]
    st.navigation(pages).run()


main()
