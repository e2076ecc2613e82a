"""The dashboard in a real headless Chromium: every page opens and shows its content.

Uses Debian's ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (never a downloaded browser);
skipped, with the reason shown, where they are absent (``.ci/run`` installs them).

Screenshots go to ``$GREENSTACK_SCREENSHOT_DIR`` (default: the test's temp dir). The README's
screenshots are made after ``make demo``, against the demo's own ledger, models and cache::

    GREENSTACK_E2E_DEMO_STATE=1 GREENSTACK_SCREENSHOT_DIR=docs/screenshots \\
        .venv/bin/python -m pytest tests/e2e/test_browser.py
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PAGE_TIMEOUT_S = 120.0  # first render imports torch-based pages on 2 busy cores
STABLE_POLLS = 4  # 2 s of unchanged page text counts as rendered

if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "headless browser test needs Debian's chromium and chromium-driver "
        "(apt-get install chromium chromium-driver; .ci/run installs them)",
        allow_module_level=True,
    )


@pytest.fixture(scope="session")
def driver() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never download anything
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1440,1600", "--hide-scrollbars"):
        options.add_argument(arg)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield drv
    finally:
        drv.quit()


def _screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("GREENSTACK_SCREENSHOT_DIR")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


# Read the page state in one JS call: Streamlit re-renders elements while we look at them, and
# element handles from separate calls go stale.
_PAGE_STATE_JS = """
// A page with st.chat_input has no stMain; both layouts have stMainBlockContainer.
const main = document.querySelector('[data-testid="stMainBlockContainer"]')
    || document.querySelector('[data-testid="stMain"]');
const exc = document.querySelector('[data-testid="stException"]');
const busy = [...document.querySelectorAll(
    '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]')].some(e => e.offsetParent !== null);
return {text: main ? main.innerText : "", busy: busy, error: exc ? exc.innerText : null};
"""


def _wait_rendered(drv, must_contain: str | None) -> str:
    """Wait until the page finished running and its text stopped changing; fail on an exception.

    Streamlit connects over a websocket after the HTML loads, so "loaded" means: no running
    indicator, no skeleton placeholders, and the same main-area text on STABLE_POLLS polls.
    """
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    text, previous, stable = "", None, 0
    while time.monotonic() < deadline:
        state = drv.execute_script(_PAGE_STATE_JS)
        if state["error"]:
            pytest.fail(f"page raised an exception:\n{state['error'][:2000]}")
        text = state["text"]
        ready = bool(text.strip()) and (must_contain is None or must_contain in text)
        stable = stable + 1 if (ready and not state["busy"] and text == previous) else 0
        if stable >= STABLE_POLLS:
            return text
        previous = text
        time.sleep(0.5)
    pytest.fail(f"page did not finish rendering in {PAGE_TIMEOUT_S:.0f} s; visible:\n{text[:2000]}")

def test_every_dashboard_page_in_chromium(dashboard_url, driver, stack, tmp_path_factory) -> None:
    from apps.dashboard.pages import available_pages

    shots = _screenshot_dir(tmp_path_factory)
    pages = available_pages()
    driver.get(dashboard_url)
    text = _wait_rendered(driver, must_contain="Net impact")
    # The overview shows each seeded app with numbers, not an empty-ledger notice.
    apps_shown = [a for a in ("Predictive maintenance", "Building cooling") if a in text]
    assert apps_shown, f"overview shows no app:\n{text[:1500]}"
    driver.save_screenshot(str(shots / "overview.png"))
    for spec in pages[1:]:
        driver.get(f"{dashboard_url}/{spec.page_id}")
        text = _wait_rendered(driver, must_contain=None)
        assert len(text) > 40, f"{spec.title} page shows almost nothing: {text!r}"
        driver.save_screenshot(str(shots / f"{spec.page_id}.png"))
    sidebar = driver.find_element("css selector", '[data-testid="stSidebar"]').text
    for spec in pages:
        assert spec.title in sidebar, f"navigation lacks {spec.title}"


def test_api_answers_the_browser(driver, stack) -> None:
    # The same server the dashboard sits next to, seen by a real browser: health as JSON.
    driver.get(f"{stack.api_url}/health")
    assert '"reachable":true' in driver.page_source.replace(" ", "")
    assert httpx.get(f"{stack.api_url}/openapi.json").json()["info"]["title"] == "greenstack API"


def test_api_docs_render_offline_in_the_browser(driver, stack) -> None:
    # /docs must work on an isolated network: Swagger UI renders the schema and every resource
    # the page loads comes from the server itself (no CDN).
    from urllib.parse import urlparse

    driver.get(f"{stack.api_url}/docs")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not driver.find_elements("css selector", ".opblock"):
        time.sleep(0.5)
    assert driver.find_elements("css selector", ".opblock"), "Swagger UI rendered no operation"
    assert "Unable to render this definition" not in driver.page_source
    api_host = urlparse(stack.api_url).netloc
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(urlparse(u).netloc == api_host for u in loaded), loaded


def _screen_offset(lon: float, lat: float, centre: tuple[float, float], zoom: float
                   ) -> tuple[float, float]:
    """Pixels from the map's centre to (lon, lat) in deck.gl's Web Mercator (512-px world)."""
    import math

    world = 512 * 2**zoom

    def px(lo: float, la: float) -> tuple[float, float]:
        y = math.log(math.tan(math.pi / 4 + math.radians(la) / 2))
        return (lo + 180) / 360 * world, (1 - y / math.pi) / 2 * world

    (x, y), (cx, cy) = px(lon, lat), px(*centre)
    return x - cx, y - cy


def test_deforestation_map_in_chromium(dashboard_url, driver, stack, tmp_path_factory) -> None:
    # A finished job on real imagery, made by the real job code, in the dashboard's cache (with
    # GREENSTACK_E2E_DEMO_STATE=1 the demo's own jobs are shown instead). The map must render
    # offline: imagery as the base layer, loss polygons on top, a tooltip with ha and CO2.
    from urllib.parse import urlparse

    from selenium.webdriver.common.action_chains import ActionChains
    from shapely.geometry import shape

    from apps.deforestation.jobmap import job_map
    from tests.e2e.deforestation_job import seed_finished_job
    from tests.e2e.e2e_stack import DEMO_STATE

    if DEMO_STATE:
        pytest.skip("the demo state's map is screenshotted by test_every_dashboard_page")
    out_dir = seed_finished_job(Path(stack.env["GREENSTACK_CACHE_DIR"]),
                                tmp_path_factory.mktemp("defo_job"))
    m = job_map(out_dir)
    assert m.n_patches > 0
    shots = _screenshot_dir(tmp_path_factory)
    driver.get(f"{dashboard_url}/deforestation")
    text = _wait_rendered(driver, must_contain="Map of a finished job")
    assert f"{m.n_patches} loss patches" in text
    deadline = time.monotonic() + 60
    canvases: list = []
    while time.monotonic() < deadline and not canvases:
        canvases = driver.find_elements("css selector",
                                        '[data-testid="stDeckGlJsonChart"] canvas')
        time.sleep(0.5)
    assert canvases, "the map drew no canvas"
    canvas = canvases[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    time.sleep(3)  # the PNG layers decode and draw after the canvas exists
    driver.save_screenshot(str(shots / "deforestation_map.png"))
    host = urlparse(dashboard_url).netloc
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    # Nothing, the dashboard's favicon included (an emoji, not a Material icon from a font CDN),
    # comes from another host.
    remote = [u for u in loaded if urlparse(u).scheme in ("http", "https", "ws", "wss")
              and urlparse(u).netloc != host]
    assert not remote, f"the map fetched from elsewhere (no tile server is reachable): {remote}"
    # hover the largest patch: its tooltip shows hectares and CO2
    biggest = max(m.loss["features"], key=lambda f: f["properties"]["area_ha"])
    point = shape(biggest["geometry"]).representative_point()
    dx, dy = _screen_offset(point.x, point.y, m.centre_lonlat, m.zoom)
    ActionChains(driver).move_to_element_with_offset(canvas, int(dx), int(dy)).perform()
    tip = ""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and "ha" not in tip:
        tip = driver.execute_script(
            "const t = document.querySelector('.deck-tooltip');"
            "return t && t.offsetParent !== null ? t.innerText : '';")
        time.sleep(0.3)
    props = biggest["properties"]
    assert f"{props['area_ha']:,.2f} ha" in tip and "CO2 with roots" in tip, tip
    driver.save_screenshot(str(shots / "deforestation_map_tooltip.png"))
