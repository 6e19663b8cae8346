"""The Airflow UI in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-python).

Against the distributed stack after the demo runs (tests/services/conftest.py): log in; every source DAG is
listed; each DAG page has its owner link and its doc; a run's graph; a task's log; the GX Data Docs render
styled with no request leaving 127.0.0.1 (every other host is aborted and recorded); the validate and
quarantine tasks' extra links open their pages; the data-quality dashboard (plugins/salestalk_dashboard.py) draws
every chart from the demo's batches offline, and each of its links resolves; the Assets view lists the
curated tables. Screenshots go to test-artifacts/browser/ (git-ignored; the dashboard's, the Assets view's
and a few others are committed).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.services.conftest import ARTIFACTS, DAYS, SOURCE_DAGS

pytestmark = pytest.mark.services

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ARTIFACTS / "browser"


def _rest_source() -> str:
    """A REST source of the config folder: its run has rows quarantined on the demo days."""
    from salestalk.config.loader import load_sources

    configs = load_sources().configs
    return next(
        n for n in sorted(configs) if configs[n].extract.kind == "rest_api" and f"source_{n}" in SOURCE_DAGS
    )


SOURCE = _rest_source()
DAG = f"source_{SOURCE}"
# What a styled Data Docs page has: Bootstrap's CSS and JS, bootstrap-table, Vega and Font Awesome's font.
STYLED = """async () => ({
    bootstrap_css: getComputedStyle(document.querySelector(".navbar")).display === "flex",
    bootstrap_js: typeof window.jQuery === "function" && typeof window.jQuery.fn.modal === "function",
    bootstrap_table: typeof window.jQuery === "function" && typeof window.jQuery.fn.bootstrapTable === "function",
    vega: typeof window.vegaEmbed === "function",
    font_awesome: (await document.fonts.load('900 16px "Font Awesome 6 Free"')).some(f => f.status === "loaded"),
})"""


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def off_machine() -> list[str]:
    """The URLs the browser tried to fetch from anywhere but 127.0.0.1 (each one was aborted)."""
    return []


@pytest.fixture(scope="module")
def failed_locally() -> list[str]:
    """Local asset requests that got no file: '<status> <url>'."""
    return []


@pytest.fixture(scope="module")
def page(browser, distributed, demo_runs, off_machine, failed_locally):
    stack = distributed.stack
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)

    def stay_on_machine(route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            off_machine.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", stay_on_machine)
    context.on(
        "response",
        lambda r: (
            failed_locally.append(f"{r.status} {r.url}") if r.status >= 400 and "/_static/" in r.url else None
        ),
    )
    opened = context.new_page()
    opened.goto(f"{stack.base_url}/")
    opened.wait_for_url(re.compile(r"/auth/login"))
    opened.fill("input[name=username]", stack.username)
    opened.fill("input[name=password]", stack.password)
    opened.screenshot(path=str(SHOTS / "01-login.png"))
    opened.locator("button[type=submit]").click()
    opened.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"))
    yield opened
    context.close()


def test_login_and_every_source_dag_listed(page, distributed) -> None:
    page.goto(f"{distributed.stack.base_url}/dags")
    for dag_id in SOURCE_DAGS:
        page.locator(f"a[href='/dags/{dag_id}']").first.wait_for()
    page.screenshot(path=str(SHOTS / "02-dags.png"), full_page=True)
    listed = {a.get_attribute("href") for a in page.locator("a[href^='/dags/source_']").all()}
    assert {f"/dags/{d}" for d in SOURCE_DAGS} <= listed


@pytest.mark.parametrize("dag_id", SOURCE_DAGS)
def test_dag_page_shows_owner_links_and_doc(page, distributed, dag_id) -> None:
    from salestalk.config.loader import load_sources

    source = load_sources().configs[dag_id.removeprefix("source_")]
    page.goto(f"{distributed.stack.base_url}/dags/{dag_id}")
    owner = page.locator(f"a[href='{source.oncall.url}']").first
    owner.wait_for()
    assert owner.inner_text().strip() == source.owner
    page.get_by_role("button", name="Dag Docs").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    assert source.description in text and source.owner in text and source.oncall.contact in text, text[:500]
    page.screenshot(path=str(SHOTS / f"03-{dag_id}-doc.png"))
    page.keyboard.press("Escape")


def test_run_graph_and_task_log(page, distributed) -> None:
    base, run_id = distributed.stack.base_url, f"ci__{DAYS[-1]}"
    page.goto(f"{base}/dags/{DAG}/runs/{run_id}")
    page.get_by_role("button", name=re.compile("Show Graph")).click()
    node = page.locator(".react-flow__node").first
    node.wait_for()
    assert page.locator(".react-flow__node").count() >= 2
    page.screenshot(path=str(SHOTS / "04-run-graph.png"))

    page.goto(f"{base}/dags/{DAG}/runs/{run_id}/tasks/tenant.extract/mapped/0")
    log = page.get_by_text(
        re.compile(r"landed|Task instance is in running state|Executing"), exact=False
    ).first
    log.wait_for()
    page.screenshot(path=str(SHOTS / "05-task-log.png"), full_page=True)


def assert_styled(page, off_machine: list[str], failed_locally: list[str]) -> None:
    page.wait_for_load_state("load")
    assert page.evaluate(STYLED) == dict.fromkeys(
        ("bootstrap_css", "bootstrap_js", "bootstrap_table", "vega", "font_awesome"), True
    ), page.url
    assert off_machine == [], f"requests that would leave the machine from {page.url}"
    assert failed_locally == []


def test_gx_data_docs_page(page, distributed, off_machine, failed_locally) -> None:
    base = distributed.stack.base_url
    off_machine.clear()
    response = page.goto(f"{base}/data-docs/index.html")
    assert response is not None and response.status == 200
    assert "Data Docs" in page.title()
    assert_styled(page, off_machine, failed_locally)
    page.screenshot(path=str(SHOTS / "06-data-docs.png"), full_page=True)

    page.locator("tr.clickable-row[data-href^='validations/']").first.click()
    page.wait_for_url(re.compile(r"/data-docs/validations/.+\.html"))
    assert_styled(page, off_machine, failed_locally)
    page.get_by_text(re.compile("Overview|Statistics")).first.wait_for()
    page.screenshot(path=str(SHOTS / "data-docs.png"), full_page=True)

    anonymous = page.context.browser.new_context()
    try:
        for path in ("/data-docs/index.html", "/data-docs/_static/jquery@3.7.1/dist/jquery.min.js"):
            denied = anonymous.new_page().goto(f"{base}{path}")
            assert denied is not None and denied.status in (401, 403), f"{path} needs the Airflow login"
    finally:
        anonymous.close()


def test_validate_task_log_and_its_extra_link(page, distributed, off_machine, failed_locally) -> None:
    base, run_id = distributed.stack.base_url, f"ci__{DAYS[-1]}"
    page.goto(f"{base}/dags/{DAG}/runs/{run_id}/tasks/tenant.validate/mapped/0")
    page.get_by_text(re.compile(r"error rate"), exact=False).first.wait_for()
    text = page.inner_text("body")
    assert "Skipping registering" not in text and "duplicates dropped" in text, text[-3000:]
    full_screen = page.get_by_role("button", name=re.compile("full ?screen", re.I))
    if full_screen.count():
        full_screen.first.click()
        page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "validate-log.png"), full_page=True)
    page.keyboard.press("Escape")

    page.goto(f"{base}/dags/{DAG}/runs/{run_id}/tasks/tenant.validate/mapped/0/details")
    link = page.get_by_role("link", name="GX validation page")
    link.wait_for()
    assert re.search(rf"^/data-docs/validations/{SOURCE}/.+\.html$", link.get_attribute("href") or ""), (
        link.get_attribute("href")
    )
    off_machine.clear()
    link.click()
    page.wait_for_url(re.compile(rf"/data-docs/validations/{SOURCE}/.+\.html"))
    assert_styled(page, off_machine, failed_locally)


def test_quarantine_task_links_its_rows(page, distributed) -> None:
    base, run_id = distributed.stack.base_url, f"ci__{DAYS[-1]}"
    page.goto(f"{base}/dags/{DAG}/runs/{run_id}/tasks/tenant.quarantine/mapped/0/details")
    link = page.get_by_role("link", name="Quarantined rows")
    link.wait_for()
    href = link.get_attribute("href") or ""
    assert href.startswith(f"/data-docs/_quarantine?source={SOURCE}&tenant="), href
    assert f"interval={DAYS[-1]}T00%3A00%3A00Z" in href
    link.click()
    page.get_by_role("heading", name="Quarantined rows").wait_for()
    assert f"quarantine show --source {SOURCE} --tenant" in page.inner_text("pre")
    page.screenshot(path=str(SHOTS / "quarantine.png"), full_page=True)


def test_trigger_form_offers_tenants_and_an_interval(page, distributed) -> None:
    from salestalk.config.loader import load_sources

    source = load_sources().configs[SOURCE]
    page.goto(f"{distributed.stack.base_url}/dags/{DAG}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    dialog.get_by_text("Data interval start (UTC)").first.wait_for()
    page.screenshot(path=str(SHOTS / "trigger-form.png"), full_page=True)
    text = dialog.inner_text()
    assert "Tenants" in text and "The tenants this run processes" in text, text[:2000]
    assert f"schedule `{source.schedule}`" in text or source.schedule in text, text[:2000]
    page.keyboard.press("Escape")


# -- the data-quality dashboard ----------------------------------------------------------------------

DASHBOARD = "/dq-dashboard/"
# Per chart: what the browser drew, and how many data rows the embedded Vega-Lite spec holds.
DRAWN = """async () => {
    await window.dashboardReady;
    const specs = JSON.parse(document.getElementById("dashboard-specs").textContent);
    return Object.fromEntries(Object.keys(specs).map(name => {
        const chart = document.getElementById("chart-" + name);
        const count = selector => chart.querySelectorAll(selector).length;
        return [name, {
            view: name in window.dashboardViews,
            rows: specs[name].data.values.length,
            svg: count("svg"),
            symbols: count("g.mark-symbol.role-mark path"),
            bars: count("g.mark-rect.role-mark path"),
            lines: count("g.mark-line.role-mark path"),
            rules: count("g.mark-rule.role-mark line"),
        }];
    }));
}"""


def _links(page) -> list[str]:
    return sorted(
        set(page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))"))
    )


def test_dq_dashboard_draws_its_charts_offline_and_its_links_resolve(
    page, distributed, demo_runs, off_machine, failed_locally
) -> None:
    from salestalk import REPO_ROOT
    from salestalk.config.loader import load_sources

    stack, base = distributed.stack, distributed.stack.base_url
    plugins = stack.request("GET", "/api/v2/plugins")["plugins"]
    views = [v for p in plugins if p["name"] == "salestalk_dashboard" for v in p["external_views"]]
    assert [(v["href"], v["destination"]) for v in views] == [(DASHBOARD, "nav")], plugins
    # The cost guardrail's usage table, seeded as `make demo` seeds it (DuckDB has no query attribution).
    from dev.cost_seed import seed_demo_usage
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    seed_demo_usage(DuckDBWarehouse(distributed.duckdb_path))
    off_machine.clear()
    failed_locally.clear()
    response = page.goto(f"{base}{DASHBOARD}")
    assert response is not None and response.status == 200
    drawn = page.evaluate(DRAWN)
    assert off_machine == [], "the dashboard must load nothing from off the machine"
    assert failed_locally == []
    for name in ("freshness", "completeness", "error_rate", "anomalies"):
        chart = drawn[name]
        assert chart["view"] and chart["svg"] == 1 and chart["rows"] > 0, (name, chart)
        assert chart["symbols"] == chart["rows"], (name, chart)  # one point per batch
    for name in ("freshness", "completeness", "error_rate"):
        assert drawn[name]["rules"] >= 1, (name, drawn[name])  # the target or limit line
    assert drawn["quarantine"]["bars"] >= 1, drawn["quarantine"]  # the REST source quarantines rows
    assert drawn["cost"]["bars"] >= 1 and drawn["budget"]["bars"] == 2, (drawn["cost"], drawn["budget"])
    page.screenshot(path=str(SHOTS / "dq-dashboard.png"), full_page=True)

    # The demo's batches: every tenant of every demo source, on the day the demo ran.
    configs = load_sources().configs
    rows = page.eval_on_selector_all(
        "#batches tbody tr", "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    shown = {(r[0], r[1], r[2]) for r in rows}
    for dag_id in SOURCE_DAGS:
        source = configs[dag_id.removeprefix("source_")]
        for tenant in source.tenants:
            assert (f"{DAYS[-1]}T00:00:00Z", source.name, tenant) in shown, (source.name, tenant)

    links = _links(page)
    runs = [h for h in links if "/runs/" in h]
    assert runs and any("/data-docs/_quarantine?" in h for h in links) and "/data-docs/index.html" in links
    for href in links:
        target = urlsplit(href)
        if target.hostname not in (None, "127.0.0.1"):
            # Only runbooks leave the UI: a file of docs/runbooks/ on the repository's docs site.
            assert "docs/runbooks/" in target.path, href
            path = target.path[target.path.index("docs/runbooks/") :]
            assert (REPO_ROOT / path).is_file(), href
            continue
        assert page.request.get(f"{base}{href}").status == 200, href
    for href in runs:
        dag_id, run_id = (unquote(p) for p in href.split("/dags/", 1)[1].split("/runs/"))
        assert stack.get_run(dag_id, run_id)["dag_run_id"] == run_id, href

    anonymous = page.context.browser.new_context()
    try:
        denied = anonymous.new_page().goto(f"{base}{DASHBOARD}")
        assert denied is not None and denied.status in (401, 403), "the dashboard needs the Airflow login"
    finally:
        anonymous.close()


def test_assets_view_lists_the_curated_tables(page, distributed, demo_runs) -> None:
    """The UI's Assets page after the demo: each publish's curated-table asset is listed."""
    import importlib.util

    page.goto(f"{distributed.stack.base_url}/assets")
    page.get_by_role("heading").first.wait_for()
    if importlib.util.find_spec("salestalk.assets") is not None:
        from salestalk.assets import curated_asset_name

        page.get_by_text(curated_asset_name(SOURCE)).first.wait_for()
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "assets-view.png"), full_page=True)
