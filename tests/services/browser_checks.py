"""The Airflow UI in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-python).

Against the distributed stack after the demo runs (tests/services/conftest.py): log in; every source DAG is
listed; each DAG page has its owner link and its doc; a run's graph; a task's log; the GX Data Docs page.
Screenshots go to test-artifacts/browser/ (git-ignored).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.services.conftest import ARTIFACTS, DAYS, SOURCE_DAGS

pytestmark = pytest.mark.services

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ARTIFACTS / "browser"


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
def page(browser, distributed, demo_runs):
    stack = distributed.stack
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
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
    page.goto(f"{base}/dags/source_deals/runs/{run_id}")
    page.get_by_role("button", name=re.compile("Show Graph")).click()
    node = page.locator(".react-flow__node").first
    node.wait_for()
    assert page.locator(".react-flow__node").count() >= 2
    page.screenshot(path=str(SHOTS / "04-run-graph.png"))

    page.goto(f"{base}/dags/source_deals/runs/{run_id}/tasks/tenant.extract/mapped/0")
    log = page.get_by_text(
        re.compile(r"landed|Task instance is in running state|Executing"), exact=False
    ).first
    log.wait_for()
    page.screenshot(path=str(SHOTS / "05-task-log.png"), full_page=True)


def test_gx_data_docs_page(page, distributed) -> None:
    base = distributed.stack.base_url
    response = page.goto(f"{base}/data-docs/index.html")
    assert response is not None and response.status == 200
    assert "Data Docs" in page.title()
    page.screenshot(path=str(SHOTS / "06-data-docs.png"), full_page=True)
    anonymous = page.context.browser.new_context()
    try:
        denied = anonymous.new_page().goto(f"{base}/data-docs/index.html")
        assert denied is not None and denied.status in (401, 403), "Data Docs need the Airflow login"
    finally:
        anonymous.close()
