"""The Data Docs plugin serves GX's pages with vendored assets, behind the login; the step links point at them."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urljoin

import pytest
import salestalk_data_docs as plugin

from salestalk.operators import links

GX_VIEW = Path(__import__("great_expectations").__file__).parent / "render" / "view"
RESOURCE = re.compile(r"""(?:<script[^>]*\ssrc|<link[^>]*\shref)=["'](https?://[^"']+)["']""")
ANY_URL = re.compile(r"""https?://[^\s"')>]+""")
INTERVAL = "2026-11-01T00:00:00Z"


def gx_texts() -> dict[str, str]:
    files = [*(GX_VIEW / "templates").glob("*.j2"), *(GX_VIEW / "static" / "styles").glob("*.css")]
    return {p.name: p.read_text(encoding="utf-8") for p in files}


def vendored(url: str) -> Path:
    rewritten = plugin.rewrite_cdn_urls(url, 0)
    assert rewritten.startswith(f"{plugin.STATIC_PAGE}/"), url
    return plugin.STATIC_DIR / rewritten.removeprefix(f"{plugin.STATIC_PAGE}/")


def test_every_cdn_script_and_stylesheet_of_gx_is_vendored() -> None:
    urls = {url for text in gx_texts().values() for url in RESOURCE.findall(text)}
    assert len(urls) >= 14, urls
    missing = [url for url in sorted(urls) if not vendored(url).is_file()]
    assert missing == []


def test_no_url_a_gx_page_loads_is_left_pointing_off_the_machine() -> None:
    """Everything but plain links to greatexpectations.io is rewritten (GX's images go to the site's copy)."""
    for name, text in gx_texts().items():
        left = [
            u for u in ANY_URL.findall(plugin.rewrite_cdn_urls(text, 2)) if "greatexpectations.io" not in u
        ]
        assert left == [], name
    assert plugin.rewrite_cdn_urls(plugin.GX_WEB_ASSETS + "logo-long.png", 4) == (
        "../../../../static/images/logo-long.png"
    )


def test_subresource_integrity_of_gx_templates_matches_the_vendored_bytes() -> None:
    tags = re.findall(r'src="([^"]+)" integrity="sha384-([^"]+)"', gx_texts()["js_script_imports.j2"])
    assert len(tags) == 2
    for url, digest in tags:
        assert base64.b64encode(hashlib.sha384(vendored(url).read_bytes()).digest()).decode() == digest, url


def test_font_awesome_finds_its_webfonts() -> None:
    css = vendored("https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css")
    fonts = set(re.findall(r"url\((\.\./webfonts/[^)]+\.woff2)\)", css.read_text()))
    assert len(fonts) == 4
    assert all((css.parent / font).resolve().is_file() for font in fonts)


@pytest.fixture
def docs_root(tmp_path, monkeypatch) -> Path:
    """A Data Docs folder with an index and a validation page four folders deep, as GX lays them out."""
    root = tmp_path / "local_site"
    head = "\n".join(
        (GX_VIEW / "templates" / name).read_text() for name in ("page.j2", "js_script_imports.j2")
    )
    page = root / "validations" / "deals" / "run" / "20261102T000000Z" / "batch.html"
    page.parent.mkdir(parents=True)
    page.write_text(head, encoding="utf-8")
    (root / "index.html").write_text(head, encoding="utf-8")
    (root / "validations" / "deals" / "index.html").write_text("<p>suite</p>", encoding="utf-8")
    (root / "static" / "images").mkdir(parents=True)
    (root / "static" / "images" / "logo-long.png").write_bytes(b"\x89PNG")
    monkeypatch.setattr(plugin, "data_docs_root", lambda: root.resolve())
    return root


@pytest.fixture(scope="module")
def app():
    return plugin.create_app()


@pytest.fixture
def client(app):
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    app.dependency_overrides[get_user] = lambda: SimpleNamespace(get_name=lambda: "admin")
    yield TestClient(app)
    app.dependency_overrides.clear()


@pytest.mark.parametrize("page", ["index.html", "validations/deals/run/20261102T000000Z/batch.html"])
def test_pages_are_served_with_local_assets_that_resolve(client, docs_root, page) -> None:
    response = client.get(f"/{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "cdn" not in response.text and "unpkg" not in response.text
    assets = re.findall(r'(?:src|href)="([^"]*_static/[^"]*)"', response.text)
    assert len(assets) >= 14
    for asset in assets:
        served = client.get(urljoin(f"http://testserver/{page}", asset))
        assert served.status_code == 200, asset
        assert served.headers["cache-control"].startswith("private")


def test_a_folder_without_its_slash_is_redirected_so_relative_links_hold(client, docs_root) -> None:
    response = client.get("/validations/deals", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "deals/"
    assert client.get("/validations/deals/").text == "<p>suite</p>"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/../salestalk_data_docs.py", id="outside-root"),
        pytest.param("/_static/../salestalk_data_docs.py", id="outside-static"),
        pytest.param("/_static/bootstrap@4.3.1/LICENSE", id="not-an-asset"),
        pytest.param("/nope.html", id="absent"),
    ],
)
def test_nothing_outside_the_docs_and_assets_is_served(client, docs_root, path) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/index.html",
        "/_static/bootstrap@4.3.1/dist/css/bootstrap.min.css",
        "/_quarantine?source=deals&tenant=acme",
    ],
)
def test_everything_needs_the_airflow_login(app, docs_root, path) -> None:
    from fastapi.testclient import TestClient

    assert TestClient(app).get(path).status_code in (401, 403)


@pytest.fixture
def quarantined(monkeypatch, tmp_path):
    """A DuckDB warehouse with two quarantined acme deals and their recorded validate and quarantine steps."""
    from salestalk.batch import Batch
    from salestalk.config.loader import load_sources
    from salestalk.names import QUARANTINE, QUARANTINE_SCHEMA, VALIDATE
    from salestalk.warehouse import open_warehouse
    from salestalk.warehouse.tables import ensure_tables, record_result

    monkeypatch.setenv("SALESTALK_WAREHOUSE", "duckdb")
    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    source = load_sources(only="deals").configs["deals"]
    batch = Batch("deals", "acme", INTERVAL, "2026-11-02T00:00:00Z", "manual__1")
    with open_warehouse().connect() as s:
        ensure_tables(s, source)
        columns = "_tenant_id, _interval_start, _record_num, _reasons, _raw_record"
        for number, reasons in ((3, ["amount >= 0"]), (7, ["amount >= 0", "currency <b>known</b>"])):
            s.execute(
                f"INSERT INTO {s.dialect.table(QUARANTINE_SCHEMA, 'deals')} ({columns}) VALUES (?, ?, ?, ?, ?)",
                ["acme", INTERVAL, number, reasons, f'{{"deal_id": "d{number}"}}'],
            )
        record_result(s, batch, VALIDATE, {"reasons": {"amount >= 0": 2, "currency <b>known</b>": 1}})
        record_result(s, batch, QUARANTINE, {"quarantined": 2, "quarantine_key": "tenants/acme/quarantine/x"})


def test_quarantine_page_lists_the_batch_rows_reasons_and_commands(client, quarantined) -> None:
    response = client.get("/_quarantine", params={"source": "deals", "tenant": "acme", "interval": INTERVAL})
    assert response.status_code == 200
    text = response.text
    assert "2 row(s) quarantined" in text and "tenants/acme/quarantine/x" in text
    assert "<td>amount &gt;= 0</td><td class='text-right'>2</td>" in text
    assert "currency &lt;b&gt;known&lt;/b&gt;" in text and "<b>known</b>" not in text
    assert "&quot;deal_id&quot;: &quot;d7&quot;" in text
    assert (
        "PYTHONPATH=plugins .venv/bin/python -m salestalk quarantine show --source deals --tenant acme "
        f"--interval {INTERVAL}"
    ) in text
    assert 'href="_static/bootstrap@4.3.1/dist/css/bootstrap.min.css"' in text


def test_quarantine_page_without_interval_lists_every_interval(client, quarantined) -> None:
    text = client.get("/_quarantine", params={"source": "deals", "tenant": "acme"}).text
    assert "every interval" in text and text.count("<tr><td>acme</td>") == 2


@pytest.mark.parametrize(
    ("params", "status"),
    [
        pytest.param({"source": "nope", "tenant": "acme"}, 404, id="unknown-source"),
        pytest.param({"source": "deals", "tenant": "Acme Corp"}, 400, id="bad-tenant"),
        pytest.param({"source": "deals", "tenant": "acme", "interval": "yesterday"}, 400, id="bad-interval"),
    ],
)
def test_quarantine_page_refuses_bad_parameters(client, quarantined, params, status) -> None:
    assert client.get("/_quarantine", params=params).status_code == status


def test_a_real_validation_page_is_linked_and_served_offline(client, tmp_path, monkeypatch) -> None:
    """run_gx returns the batch's own page; its link resolves to it and it is served with no CDN URL."""
    import shutil

    from salestalk.quality import gx_runner
    from salestalk.quality.suite import GX_ROOT
    from tests.unit.quality.test_quality_gx_runner import deals_frame

    root = tmp_path / "great_expectations"
    shutil.copytree(GX_ROOT, root, ignore=shutil.ignore_patterns("uncommitted"))
    monkeypatch.setattr(gx_runner, "GX_ROOT", root)
    outcome = gx_runner.run_gx(deals_frame(), "deals", ["deal_id"], build_docs=True, run_name="deals-acme-x")
    site = root / "uncommitted" / "data_docs" / "local_site"
    assert outcome.docs_index == site / "index.html"
    assert (
        outcome.docs_page.is_file() and outcome.docs_page.parent.parent.parent.parent == site / "validations"
    )
    assert outcome.docs_page.parts[-4:-2] == ("deals", "deals-acme-x")

    monkeypatch.setattr(plugin, "data_docs_root", lambda: site.resolve())
    url = links.validation_page_url({"data_docs_page": str(outcome.docs_page)}, site)
    assert url.startswith("/data-docs/validations/deals/deals-acme-x/")
    page = client.get(url.removeprefix("/data-docs"))
    assert page.status_code == 200 and "deals" in page.text
    assert [u for u in ANY_URL.findall(page.text) if "greatexpectations.io" not in u] == []


# ---- the extra links -------------------------------------------------------------------------------


def test_validation_page_url_prefers_the_batch_page_and_stays_under_the_docs() -> None:
    root = Path("/srv/docs/local_site")
    page = (
        root
        / "validations"
        / "deals"
        / "deals-acme"
        / "20261102T000000Z"
        / "salestalk_runtime-dataframe.html"
    )
    result = {"data_docs": str(root / "index.html"), "data_docs_page": str(page)}
    assert links.validation_page_url(result, root) == (
        "/data-docs/validations/deals/deals-acme/20261102T000000Z/salestalk_runtime-dataframe.html"
    )
    assert links.validation_page_url({"data_docs": str(root / "index.html")}, root) == "/data-docs/index.html"
    assert links.validation_page_url({"data_docs_page": "/etc/passwd"}, root) == ""
    assert links.validation_page_url({"data_docs": None}, root) == ""
    assert links.validation_page_url(None, root) == ""
    spaced = {"data_docs_page": str(root / "validations" / "a b#c.html")}
    assert (
        links.validation_page_url(spaced, root, "/air/data-docs")
        == "/air/data-docs/validations/a%20b%23c.html"
    )


def test_quarantine_url_names_the_batch() -> None:
    import datetime as dt

    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert links.quarantine_url("deals", "acme", start) == (
        "/data-docs/_quarantine?source=deals&tenant=acme&interval=2026-11-01T00%3A00%3A00Z"
    )
    assert links.quarantine_url("deals", "acme", None) == "/data-docs/_quarantine?source=deals&tenant=acme"


def step_operator(step: str, tenants: tuple[str, ...] = ("acme",)) -> SimpleNamespace:
    return SimpleNamespace(step=step, source_name="deals", tenants=list(tenants))


@pytest.fixture
def runtime_ti():
    """What the worker hands get_link when the task ends: the task instance, with its map index."""
    import datetime as dt

    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    return SimpleNamespace(
        dag_id="source_deals",
        task_id="tenant.validate",
        run_id="ci__2026-11-01",
        map_index=1,
        get_template_context=lambda: {"data_interval_start": start},
    )


def test_the_validate_link_reads_its_own_map_index_return_value(monkeypatch, runtime_ti) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    from salestalk.settings import get_settings

    page = get_settings().data_docs_dir / "validations" / "deals" / "r" / "t" / "b.html"
    asked = []

    def get_value(*, ti_key, key):
        asked.append((ti_key.map_index, key))
        return {"acme": {"data_docs_page": str(page)}}

    monkeypatch.setattr(XCom, "get_value", get_value)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080/airflow/")
    link = links.ValidationPageLink()
    assert link.get_link(step_operator("validate"), ti_key=runtime_ti) == (
        "/airflow/data-docs/validations/deals/r/t/b.html"
    )
    assert asked == [(1, "return_value")]
    assert link.get_link(step_operator("extract"), ti_key=runtime_ti) == ""
    assert asked == [(1, "return_value")]


def test_a_shards_validate_link_opens_its_first_tenant_with_failing_rows(monkeypatch, runtime_ti) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    from salestalk.settings import get_settings

    docs = get_settings().data_docs_dir / "validations"
    results = {t: {"failing": n, "data_docs_page": str(docs / f"{t}.html")} for t, n in (("a", 0), ("b", 2))}
    monkeypatch.setattr(XCom, "get_value", lambda *, ti_key, key: results)
    link = links.ValidationPageLink()
    assert link.get_link(step_operator("validate", ("a", "b")), ti_key=runtime_ti).endswith(
        "/validations/b.html"
    )
    results["b"]["failing"] = 0
    assert link.get_link(step_operator("validate", ("a", "b")), ti_key=runtime_ti).endswith(
        "/validations/a.html"
    )


def test_the_quarantine_link_names_source_tenant_and_interval(monkeypatch, runtime_ti) -> None:
    from airflow.sdk.execution_time.xcom import XCom

    monkeypatch.setattr(XCom, "get_value", lambda *, ti_key, key: {"acme": {"quarantined": 0}})
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    link = links.QuarantineLink()
    assert link.get_link(step_operator("quarantine"), ti_key=runtime_ti) == (
        "/data-docs/_quarantine?source=deals&tenant=acme&interval=2026-11-01T00%3A00%3A00Z"
    )
    bare_key = SimpleNamespace(dag_id="source_deals", task_id="tenant.quarantine", run_id="r", map_index=0)
    assert link.get_link(step_operator("quarantine"), ti_key=bare_key).endswith("tenant=acme")
    assert link.get_link(step_operator("publish"), ti_key=runtime_ti) == ""


def test_the_links_survive_dag_serialization_as_xcom_links() -> None:
    """The api-server rebuilds each link from its name and XCom key: no plugin registration needed."""
    import datetime as dt

    from airflow.sdk import DAG, BaseOperator
    from airflow.serialization.serialized_objects import DagSerialization

    class Step(BaseOperator):
        operator_extra_links = links.STEP_LINKS

        def execute(self, context):
            return None

    with DAG("links_probe", schedule=None, start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as dag:
        Step(task_id="validate")
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("validate")
    assert task.extra_links == ["GX validation page", "Quarantined rows"]
    assert {link.name: link.xcom_key for link in task.operator_extra_links} == {
        "GX validation page": "_link_ValidationPageLink",
        "Quarantined rows": "_link_QuarantineLink",
    }
