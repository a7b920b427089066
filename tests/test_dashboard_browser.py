"""The dashboard in a real browser: `streamlit run` over the sample month, driven through Debian's Chromium.

Each page is opened by its address, left to finish rendering (script no longer running, charts drawn),
checked for the figures a person would look at, and saved as a screenshot under
tests/artifacts/screenshots/. A second server trusts identity headers, as it would behind oauth2-proxy:
a member of team-ml (through a proxy that signs them in, see tests/services/dashboard.py for why the browser
cannot send those headers itself) sees only ml, and a request without identity sees nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chargeback.build import method
from chargeback.build.demo import sample_data_dir
from chargeback.core import config as config_module
from tests.sample_support import copy_built
from tests.services.dashboard import PERIOD, RESTRICTED_CONFIG, behind_proxy, serving

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
READY = '[data-testid="stApp"][data-test-script-state="notRunning"]'
TIMEOUT_MS = 20_000
ML_HEADERS = {"X-Forwarded-Email": "ann@example.com", "X-Forwarded-Groups": "team-ml"}
OTHER_TENANTS = ("data-eng", "payments", "risk")

# page address -> (screenshot name, charts drawn, figures that must be on it)
PAGES = {
    "": ("overview", 3, ["Overview · 2026-10", "$2,928.07", "all pass (8 invariants"]),
    "bill?tenant=ml": ("tenant_bill", 2, ["Bill · ml · 2026-10", "$1,211.06", "Download CSV"]),
    "explore?tenant=ml&by=namespace": (
        "explore",
        1,
        ["Explore costs", "$1,211.06", "ml-serving", "(rest of the bill)"],
    ),
    "explore?by=label&label=app.kubernetes.io/name&days=2026-10-05..2026-10-18": (
        "explore_label",
        1,
        ["Explore costs", "2026-10-05 to 2026-10-18", "airflow-worker"],
    ),
    "emr": ("emr_jobs", 5, ["EMR jobs · 2026-10", "160", "$7.17"]),  # 159 runs + the charge of one nobody collected
    "nodes-and-idle": ("nodes", 3, ["Nodes and idle · 2026-10", "risk-dedicated", "Savings Plan"]),
    "quality": ("data_quality", 2, ["Data quality · 2026-10", "$3,085.77", "No gaps"]),
    "capacity": ("capacity", 2, ["Capacity and quotas · 2026-10", "Quota use per namespace", "$64.70"]),
}


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, built_sample) -> Path:
    where = tmp_path_factory.mktemp("browser") / "data"
    copy_built(built_sample, where)
    return where


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/run or apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def warm_up(browser, url: str) -> None:
    """Run the app once so Streamlit leaves its folder-based multipage mode (see the note in app.py)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector(READY, timeout=TIMEOUT_MS)
    finally:
        context.close()


@pytest.fixture(scope="module")
def server(data_dir, browser):
    with serving(data_dir) as running:
        warm_up(browser, running.url)
        yield running


@pytest.fixture(scope="module")
def restricted_server(data_dir, browser, tmp_path_factory):
    config = tmp_path_factory.mktemp("identity") / "chargeback.toml"
    config.write_text(RESTRICTED_CONFIG)
    with serving(data_dir, config) as running:
        warm_up(browser, running.url)
        yield running


@pytest.fixture(scope="module")
def team_ml(restricted_server):
    """The restricted server as ann@example.com of team-ml reaches it: through the identity proxy."""
    with behind_proxy(restricted_server, ML_HEADERS) as proxy:
        yield proxy


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- helpers --------------------------------------------------------------------------------------


def settle(page, charts: int = 0) -> None:
    """Wait until the script has finished, nothing is a skeleton any more and ``charts`` charts are drawn."""
    page.wait_for_selector(READY, timeout=TIMEOUT_MS)
    page.wait_for_selector('[data-testid="stSkeleton"]', state="detached", timeout=TIMEOUT_MS)
    if charts:
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n",
            arg=charts,
            timeout=TIMEOUT_MS,
        )
    assert page.get_by_text("Page not found").count() == 0


def visible_text(page) -> str:
    """What the page shows: its text, plus table cells and chart labels (drawn on canvas or in SVG)."""
    return page.locator("body").inner_text() + "\n" + page.content()


def screenshot(page, name: str) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to the content first."""
    page.mouse.move(0, 0)  # no tooltip left over from a click
    height = page.evaluate(
        "() => { document.querySelector('[data-testid=stMain]').scrollTo(0, 0); window.scrollTo(0, 0);"
        " const b = document.querySelector('[data-testid=stMainBlockContainer]');"
        " return Math.ceil(b.getBoundingClientRect().top + b.scrollHeight) + 40; }"
    )
    page.set_viewport_size({"width": 1400, "height": max(height, 800)})
    page.wait_for_timeout(400)  # plotly redraws for the new width
    page.wait_for_selector(READY, timeout=TIMEOUT_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (the way a keyboard user would)."""
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.press("ArrowDown")
    page.get_by_role("option", name=option, exact=True).click()


def sidebar_options(page, label: str) -> list[str]:
    box = page.locator('[data-testid="stSidebar"]').get_by_role("combobox", name=label)
    box.click()
    box.press("ArrowDown")
    options = page.get_by_role("option").all_inner_texts()
    box.press("Escape")
    return options


def cli_csv(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "chargeback", "bill", "--period", PERIOD, *args, "--format", "csv"]
        + ["--data-dir", str(data_dir)],
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


# --- every page, as finance sees it ---------------------------------------------------------------


@pytest.mark.parametrize("address", list(PAGES), ids=[name for name, _, _ in PAGES.values()])
def test_page_renders_charts_and_key_figures(server, page, address):
    name, charts, figures = PAGES[address]
    page.goto(f"{server.url}/{address}")
    settle(page, charts)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    text = visible_text(page)
    for figure in figures:
        assert figure in text, f"{figure!r} not on the {name} page"
    if name == "tenant_bill":  # drill down to one Spark application's job runs before the screenshot
        choose(page, "Namespace", "emr-ml")
        page.get_by_role("heading", name="Workloads in emr-ml").wait_for(timeout=TIMEOUT_MS)
        settle(page, charts)
        choose(page, "Spark application", "feature-build")
        page.get_by_role("heading", name="Job runs of feature-build").wait_for(timeout=TIMEOUT_MS)
        settle(page, charts)
        # the drill-down is in the address: a link to it opens the same job runs
        page.wait_for_url("**/bill?*namespace=emr-ml*workload=feature-build*", timeout=TIMEOUT_MS)
        page.goto(page.url)
        page.get_by_role("heading", name="Job runs of feature-build").wait_for(timeout=TIMEOUT_MS)
        settle(page, charts)
    assert screenshot(page, name).stat().st_size > 10_000


def test_filters_travel_in_the_address_between_pages(server, page):
    page.goto(f"{server.url}/bill?tenant=payments")
    settle(page, 2)
    assert "Bill · payments · 2026-10" in page.locator("h1").all_inner_texts()
    page.locator('[data-testid="stSidebarNav"]').get_by_text("EMR jobs").click()
    page.get_by_role("heading", name="EMR jobs · 2026-10").wait_for(timeout=TIMEOUT_MS)
    settle(page)
    page.wait_for_url("**/emr?*tenant=payments*", timeout=TIMEOUT_MS)
    assert (
        "all clusters · payments"
        in page.locator('[data-testid="stMain"] [data-testid="stCaptionContainer"]').first.inner_text().lower()
    )


# --- who may see what, through the identity headers -----------------------------------------------


def test_team_ml_sees_only_ml(team_ml, page, data_dir):
    page.goto(f"{team_ml.url}/bill")
    settle(page, 2)
    assert sidebar_options(page, "Tenant") == ["ml"]
    text = visible_text(page)
    assert "Bill · ml · 2026-10" in text and "$1,211.06" in text
    for other in OTHER_TENANTS:
        assert other not in text, f"{other!r} shown to a member of team-ml"
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    content = Path(download.value.path()).read_text()
    sample_method = method.fingerprint(method.describe(config_module.load(sample_data_dir() / "chargeback.toml")))
    assert content.splitlines() == [
        "period,currency,tenant,compute,idle,shared,storage,network,emr,tagged,adjustment,total,method",
        f"2026-10,USD,ml,594.45,260.58,189.57,52.25,70.14,4.07,40.00,0.00,1211.06,{sample_method}",
    ]
    assert content.strip("\n") == cli_csv(data_dir, "--tenant", "ml").strip("\n")
    screenshot(page, "tenant_bill_team_ml")


def test_no_identity_is_denied_and_shows_no_money(restricted_server, page):
    page.goto(f"{restricted_server.url}/bill?tenant=ml")
    settle(page)
    page.get_by_role("heading", name="Access denied").wait_for(timeout=TIMEOUT_MS)
    text = page.locator("body").inner_text()
    assert "$" not in text and "2026-10" not in text
    assert page.locator(".js-plotly-plot, [data-testid=stDataFrame], [data-testid=stMetric]").count() == 0
    screenshot(page, "access_denied")
