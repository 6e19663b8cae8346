"""The data-quality dashboard's data layer (salestalk.dashboard) on both warehouses, and its plugin page.

A seeded history of recorded batch results: a healthy day, a day above the 0.1% error rate (held back,
rows quarantined by two reasons), a day with a volume anomaly and a completeness gap, a second tenant
published late, and a batch outside the time range. The figures, the links and the chart specs must
follow from those rows, the same on DuckDB and Snowflake (fakesnow).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from types import SimpleNamespace

import pytest

from salestalk.batch import Batch, format_utc
from salestalk.names import LOAD, PUBLISH, QUARANTINE, VALIDATE
from tests.support.sources import a_source

DAY0 = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)
DAYS = [DAY0 + dt.timedelta(days=n) for n in range(3)]
OLD = DAY0 - dt.timedelta(days=60)
REASONS = {"cast_to_float(amount)": 1, "not_null(id)": 2}
VOLUME = {"detector": "volume", "mode": "warn", "what": "row count dropped to 500 against a baseline of 1000"}


def _source():
    return a_source(lambda c: len(c.tenants) >= 2, what="with two tenants")


def _record(s, source, tenant, start, *, landed, failing, published, reasons=None, anomalies=(), late=7):
    from salestalk.warehouse import tables

    batch = Batch(source.name, tenant, start, start + dt.timedelta(days=1), f"scheduled__{format_utc(start)}")
    tables.record_result(s, batch, LOAD, {"landed": landed, "staged": landed})
    tables.record_result(
        s,
        batch,
        VALIDATE,
        {
            "rows": landed,
            "failing": failing,
            "passed": landed - failing,
            "duplicates_dropped": 0,
            "error_rate": failing / landed,
            "reasons": reasons or {},
            "anomalies": list(anomalies),
        },
    )
    tables.record_result(s, batch, QUARANTINE, {"quarantined": failing, "reasons": reasons or {}})
    if failing / landed > source.alerting.data_quality.max_error_rate:
        publish = {"published": 0, "held_back": "error rate above the limit"}
    else:
        publish = {"published": published, "stale_skipped": 0}
    tables.record_result(s, batch, PUBLISH, publish)
    d, i = s.dialect, s.dialect.ident
    ts = d.column_type("timestamp")
    s.execute(
        f"UPDATE {d.table('audit', 'batch_results')} SET {i('recorded_at')} = CAST(? AS {ts}) "
        f"WHERE {i('tenant')} = ? AND {i('interval_start')} = CAST(? AS {ts}) AND {i('step')} = ?",
        [format_utc(batch.interval_end + dt.timedelta(minutes=late)), tenant, format_utc(start), PUBLISH],
    )


@pytest.fixture
def seeded(warehouse):
    from salestalk.warehouse import tables

    source = _source()
    first, second = source.tenants[:2]
    with warehouse.connect() as s:
        tables.ensure_tables(s, source)
        _record(s, source, first, DAYS[0], landed=1000, failing=0, published=1000)
        _record(s, source, first, DAYS[1], landed=1000, failing=3, published=0, reasons=REASONS)
        _record(s, source, first, DAYS[2], landed=500, failing=0, published=495, anomalies=[VOLUME])
        _record(s, source, second, DAYS[0], landed=200, failing=0, published=200, late=40)
        _record(s, source, second, OLD, landed=200, failing=0, published=200)
    return SimpleNamespace(warehouse=warehouse, source=source, first=first, second=second)


WINDOW_ARGS = (DAY0.date(), DAY0.date() + dt.timedelta(days=7))


def test_batches_carry_each_panels_figures_and_links(seeded) -> None:
    from salestalk.dashboard import Window, collect

    board = collect(seeded.warehouse, [seeded.source], window=Window(*WINDOW_ARGS), ui_base="/airflow")
    found = {(b["tenant"], b["day"]): b for b in board.batches}
    assert sorted(found) == sorted(
        [(seeded.first, d.date().isoformat()) for d in DAYS] + [(seeded.second, DAYS[0].date().isoformat())]
    ), "the batch 60 days earlier is outside the range"
    healthy = found[(seeded.first, "2026-10-05")]
    held = found[(seeded.first, "2026-10-06")]
    anomalous = found[(seeded.first, "2026-10-07")]
    late = found[(seeded.second, "2026-10-05")]
    assert (healthy["freshness_minutes"], late["freshness_minutes"]) == (7.0, 40.0)
    assert healthy["freshness_target_minutes"] == seeded.source.freshness_target_minutes
    assert (healthy["status"], held["status"], held["freshness_minutes"]) == ("published", "held back", None)
    assert held["error_rate"] == 0.003 and held["max_error_rate"] == 0.001
    assert held["quarantined"] == 3 and held["reasons"] == REASONS
    assert (healthy["completeness"], anomalous["completeness"], held["completeness"]) == (1.0, 0.99, 0.0)
    assert anomalous["anomalies"] == [VOLUME] and healthy["anomalies"] == []
    run_id = f"scheduled__{format_utc(DAYS[1])}"
    assert held["run_url"] == f"/airflow/dags/{seeded.source.dag_id}/runs/{run_id.replace(':', '%3A')}"
    assert held["quarantine_url"] == (
        f"/airflow/data-docs/_quarantine?source={seeded.source.name}&tenant={seeded.first}"
        f"&interval=2026-10-06T00%3A00%3A00Z"
    )
    assert healthy["quarantine_url"] == ""
    assert {r["tenant"] for r in board.freshness_now} == set(seeded.source.tenants)


def test_tenant_filter_and_default_window(seeded) -> None:
    from salestalk.dashboard import Window, collect, default_window

    board = collect(seeded.warehouse, [seeded.source], window=Window(*WINDOW_ARGS), tenant=seeded.second)
    assert [(b["tenant"], b["day"]) for b in board.batches] == [(seeded.second, "2026-10-05")]
    assert {r["tenant"] for r in board.freshness_now} == {seeded.second}
    window = default_window(seeded.warehouse, [seeded.source.name], days=30)
    assert (window.since, window.until) == (dt.date(2026, 9, 8), dt.date(2026, 10, 8))
    window = default_window(seeded.warehouse, [seeded.source.name], days=90)
    assert window.since == OLD.date(), "a history shorter than the range starts at its oldest batch"
    with pytest.raises(ValueError, match="empty time range"):
        Window(DAY0.date(), DAY0.date())


def test_chart_specs_hold_the_seeded_data_and_their_lines(seeded) -> None:
    from salestalk.dashboard import NO_ANOMALY, Window, charts, collect

    board = collect(seeded.warehouse, [seeded.source], window=Window(*WINDOW_ARGS))
    specs = charts(board)
    assert {"freshness", "completeness", "error_rate", "quarantine", "anomalies"} <= set(specs)

    def layer_values(name: str) -> tuple[list, list]:
        points, rule = specs[name]["layer"]
        return specs[name]["data"]["values"], rule["data"]["values"]

    points, rule = layer_values("error_rate")
    assert len(points) == 4 and rule == [{"max_error_rate": 0.001}]
    points, rule = layer_values("freshness")
    assert sorted(p["freshness_minutes"] for p in points) == [
        7.0,
        7.0,
        40.0,
    ]  # the held batch never published
    assert rule == [{"freshness_target_minutes": seeded.source.freshness_target_minutes}]
    bars = specs["quarantine"]["data"]["values"]
    assert sorted((b["reason"], b["rows"]) for b in bars) == sorted(REASONS.items())
    assert all(b["quarantine_url"].startswith("/data-docs/_quarantine?") for b in bars)
    marks = specs["anomalies"]["data"]["values"]
    assert sorted(m["detector"] for m in marks) == [NO_ANOMALY, NO_ANOMALY, NO_ANOMALY, "volume"]
    json.dumps(specs)  # inlined into the page as JSON


def test_the_page_behind_the_plugin(seeded, monkeypatch) -> None:
    import salestalk_dashboard as plugin
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    app = plugin.create_app()
    app.dependency_overrides[get_user] = lambda: SimpleNamespace(get_name=lambda: "admin")
    client = TestClient(app)
    page = client.get(
        "/", params={"source": seeded.source.name, "since": "2026-10-01", "until": "2026-10-10"}
    )
    assert page.status_code == 200, page.text
    specs = json.loads(re.search(r'id="dashboard-specs"[^>]*>(.*?)</script>', page.text, re.S).group(1))
    assert len(specs["error_rate"]["data"]["values"]) == 4
    for script in re.findall(r'<script src="([^"]+)"', page.text) + re.findall(
        r'stylesheet" href="([^"]+)"', page.text
    ):
        assert script.startswith("/dq-dashboard/_static/"), script
        assert client.get(script.removeprefix("/dq-dashboard")).status_code == 200, script
    assert client.get("/_static/../salestalk_data_docs.py").status_code == 404
    assert "https://" not in "".join(re.findall(r"<(?:script|link)[^>]*>", page.text))
    assert client.get("/", params={"source": "no_such_source"}).status_code == 400
    assert client.get("/", params={"since": "yesterday"}).status_code == 400


def test_cost_panel_and_budget_from_the_tagged_usage(seeded) -> None:
    from dev.cost_seed import create_usage_table, insert_usage, pipeline_tag, usage_row
    from salestalk.cost import load_config
    from salestalk.dashboard import Window, charts, collect

    config = load_config()
    name, first, second = seeded.source.name, seeded.first, seeded.second
    usage = [
        (DAYS[0], name, first, 2.0),
        (DAYS[1], name, first, 1.0),
        (DAYS[1], name, second, 0.5),
        (DAYS[1], "zz_other_source", first, 4.0),
    ]
    create_usage_table(seeded.warehouse, config)
    insert_usage(
        seeded.warehouse,
        [
            usage_row(
                query_id=f"q{n}",
                start_time=day + dt.timedelta(hours=2),
                credits=credits,
                tag=pipeline_tag(source, tenant, LOAD),
            )
            for n, (day, source, tenant, credits) in enumerate(usage)
        ],
        config,
    )
    now = DAYS[1] + dt.timedelta(hours=12)
    price = config.price_per_credit_usd

    board = collect(seeded.warehouse, [seeded.source], window=Window(*WINDOW_ARGS), now=now)
    got = sorted((r["day"], r["source"], r["tenant"], r["cost_usd"]) for r in board.cost_days)
    assert got == sorted((d.date().isoformat(), s, t, round(c * price, 4)) for d, s, t, c in usage)
    assert board.budget["month"] == "2026-10" and board.budget["spent_usd"] == round(7.5 * price, 2)
    specs = charts(board)
    assert len(specs["cost"]["data"]["values"]) == 4
    bars, lines = specs["budget"]["layer"]
    assert specs["budget"]["data"]["values"][0] == {"measure": "spent so far", "usd": 7.5 * price}
    assert [v["usd"] for v in lines["data"]["values"]] == [
        config.budget_usd,
        config.alert_threshold * config.budget_usd,
    ]

    only = collect(
        seeded.warehouse, [seeded.source], window=Window(*WINDOW_ARGS), now=now, every_source=False
    )
    assert {r["source"] for r in only.cost_days} == {name}, "a source filter leaves other sources out"
    one = collect(seeded.warehouse, [seeded.source], window=Window(*WINDOW_ARGS), now=now, tenant=second)
    assert [(r["tenant"], r["cost_usd"]) for r in one.cost_days] == [(second, round(0.5 * price, 4))]
    before = collect(seeded.warehouse, [seeded.source], window=Window(OLD.date(), DAY0.date()), now=now)
    assert before.cost_days == [] and "no warehouse cost recorded" in before.cost_note
    assert "cost" not in charts(before)
