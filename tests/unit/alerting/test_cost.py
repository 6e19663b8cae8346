"""Cost guardrails on both warehouses: attribution from query tags, the budget status and projection, and the
once-a-month cost alert (crossing alerts once, not again the same month; a new month re-arms; reruns and
retries send nothing more). DuckDB reads the seeded usage table; Snowflake (fakesnow's server) a seeded
copy of ``SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY`` under its real name."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dev.cost_seed import create_usage_table, insert_usage, pipeline_tag, usage_row
from salestalk import cost
from salestalk.alerting.routes import read_alert_log
from salestalk.config.cost import CostConfig
from salestalk.warehouse.snowflake import query_tag
from tests.support.sources import configs

UTC = dt.UTC


def pairs(n: int = 3) -> list[tuple[str, str]]:
    """``n`` (source, tenant) pairs from the config folder, never named in the test."""
    found = [(name, t) for name, c in sorted(configs().items()) for t in sorted(c.tenants)]
    assert len(found) >= n, "the config folder needs at least three source/tenant pairs"
    return found[:n]


def config(**overrides) -> CostConfig:
    values = {"budget_usd": 1000.0, "price_per_credit_usd": 2.0, "routes": [{"kind": "log"}], **overrides}
    return CostConfig.model_validate(values)


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def daily_usage(pair: tuple[str, str], days: list[dt.date], credits: float) -> list[dict]:
    source, tenant = pair
    return [
        usage_row(
            query_id=f"q-{source}-{tenant}-{day}",
            start_time=at(day),
            credits=credits,
            tag=pipeline_tag(source, tenant, "publish"),
        )
        for day in days
    ]


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


@pytest.fixture
def usage(warehouse):
    """The backend's usage relation, created empty; ``usage(rows)`` appends rows."""
    create_usage_table(warehouse, config())
    return lambda rows: insert_usage(warehouse, rows, config())


def cost_alerts(alert_dir) -> list[dict]:
    return [a for a in read_alert_log(alert_dir / "alerts.jsonl") if a["alert_type"] == "cost"]


# -- attribution -------------------------------------------------------------------------------------


def test_attribution_sums_credits_per_day_source_and_tenant(warehouse, usage) -> None:
    (s1, t1), (s2, t2), _ = pairs()
    day, next_day = dt.date(2026, 11, 3), dt.date(2026, 11, 4)
    usage(
        [
            usage_row(
                query_id="a",
                start_time=at(day, 0, 0),
                credits=1.25,
                tag=pipeline_tag(s1, t1, "load_to_staging"),
            ),
            usage_row(
                query_id="b",
                start_time=at(day, 23, 59),
                credits=0.75,
                tag=pipeline_tag(s1, t1, "publish"),
                acceleration=0.5,
            ),
            usage_row(query_id="c", start_time=at(day, 8), credits=2.0, tag=pipeline_tag(s2, t2, "validate")),
            usage_row(
                query_id="d", start_time=at(next_day, 0, 0), credits=3.0, tag=pipeline_tag(s1, t1, "publish")
            ),
            usage_row(
                query_id="e", start_time=at(day, 9), credits=0.1, tag=query_tag(source=s1, step="freshness")
            ),
            # Not ours: another tool's JSON tag, free text, no tag; and a day outside the range.
            usage_row(query_id="f", start_time=at(day, 9), credits=50.0, tag='{"app":"looker","source":"x"}'),
            usage_row(query_id="g", start_time=at(day, 9), credits=60.0, tag="nightly {adhoc"),
            usage_row(query_id="h", start_time=at(day, 9), credits=70.0, tag=None),
            usage_row(
                query_id="i",
                start_time=at(dt.date(2026, 11, 5), 1),
                credits=9.0,
                tag=pipeline_tag(s1, t1, "publish"),
            ),
        ]
    )
    rows = cost.cost_by_day(warehouse, since=day, until=next_day, config=config())
    got = [
        (r["day"], r["source"], r["tenant"], round(r["credits"], 6), round(r["cost_usd"], 4)) for r in rows
    ]
    expected = sorted(
        [
            (day, s1, t1, 2.5, 5.0),  # 1.25 + 0.75 + 0.5 acceleration; 23:59 UTC is still the 3rd
            (day, s2, t2, 2.0, 4.0),
            (day, s1, cost.SHARED_TENANT, 0.1, 0.2),
            (next_day, s1, t1, 3.0, 6.0),
        ]
    )
    assert got == expected
    assert all(isinstance(r["day"], dt.date) and not isinstance(r["day"], dt.datetime) for r in rows)
    assert cost.top_spenders(rows, 2) == [
        {"source": s1, "tenant": t1, "credits": 5.5, "cost_usd": 11.0},
        {"source": s2, "tenant": t2, "credits": 2.0, "cost_usd": 4.0},
    ]


def test_no_usage_table_yet_means_no_cost_on_duckdb(tmp_path) -> None:
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb")
    assert (
        cost.cost_by_day(warehouse, since=dt.date(2026, 11, 1), until=dt.date(2026, 11, 30), config=config())
        == []
    )
    status = cost.budget_status(warehouse, today=dt.date(2026, 11, 10), config=config())
    assert (status["spent_usd"], status["crossed"], status["alerted_at"]) == (0, False, None)


# -- budget status and projection ----------------------------------------------------------------------


def test_budget_status_month_to_date_and_both_projections(warehouse, usage) -> None:
    pair = pairs(1)[0]
    # October: 10 credits/day for the trailing window; November: 20 credits/day from the 1st to the 10th.
    usage(daily_usage(pair, days(dt.date(2026, 10, 25), dt.date(2026, 10, 31)), 10.0))
    usage(daily_usage(pair, days(dt.date(2026, 11, 1), dt.date(2026, 11, 10)), 20.0))
    today = dt.date(2026, 11, 10)
    status = cost.budget_status(warehouse, today=today, config=config(budget_usd=2000.0))
    assert status["month"] == "2026-11" and status["spent_usd"] == 400.0  # 10 days x 20 credits x $2
    # Trailing 7 days before the 10th: Nov 3..9, $40/day; 20 days left after today.
    assert status["projected_usd"] == 400.0 + 40.0 * 20
    assert status["alert_threshold"] == 0.8 and status["crossed"] is False and status["alerted_at"] is None
    linear = cost.budget_status(warehouse, today=today, config=config(budget_usd=2000.0, projection="linear"))
    assert linear["projected_usd"] == 400.0 / 10 * 30
    # Early in the month the trailing window reaches back into October.
    early = cost.budget_status(warehouse, today=dt.date(2026, 11, 2), config=config(budget_usd=2000.0))
    assert early["spent_usd"] == 80.0
    assert early["projected_usd"] == round(80.0 + (6 * 20.0 + 1 * 40.0) / 7 * 28, 2)


# -- the once-a-month alert ----------------------------------------------------------------------------


def test_crossing_80_percent_alerts_once_and_not_again_the_same_month(warehouse, usage, alert_dir) -> None:
    pair = pairs(1)[0]
    settings = config(budget_usd=1000.0, projection="linear")  # $20/day: 80% = $800 on the 20th
    usage(daily_usage(pair, days(dt.date(2026, 11, 1), dt.date(2026, 11, 30)), 10.0))
    linear_before = dt.date(2026, 11, 19)  # spent 380; linear projection 600 < 800
    before = cost.check_budget(warehouse, today=linear_before, run_id="r1", config=settings)
    assert before["alert"] == "not_crossed" and cost_alerts(alert_dir) == []

    settings = config(budget_usd=750.0, projection="linear")  # 80% = $600: the 19th's projection of 600
    crossed = cost.check_budget(warehouse, today=linear_before, run_id="r2", config=settings)
    assert crossed["alert"] == "sent" and crossed["crossed_by"] == "projection"
    sent = cost_alerts(alert_dir)
    assert len(sent) == 1
    assert sent[0]["counts"]["month"] == "2026-11" and sent[0]["counts"]["top"][0]["source"] == pair[0]
    assert "docs/runbooks/cost.md" in sent[0]["links"]["runbook_path"]
    assert pair[0] in sent[0]["what"] and "python -m salestalk cost" in sent[0]["what"]

    # The same interval rerun, a retry, later days of the month (spend now past the threshold): no more.
    for run_id, today in (("r2", linear_before), ("r3", linear_before), ("r4", dt.date(2026, 11, 25))):
        again = cost.check_budget(warehouse, today=today, run_id=run_id, config=settings)
        assert again["crossed"] and again["alert"] == "already_sent"
        assert again["alerted_at"] == crossed["alerted_at"]
    assert len(cost_alerts(alert_dir)) == 1
    assert cost.budget_status(warehouse, today=dt.date(2026, 11, 30), config=settings)["alerted_at"]


def test_month_to_date_crossing_alerts_and_a_new_month_rearms(warehouse, usage, alert_dir) -> None:
    pair = pairs(1)[0]
    settings = config(budget_usd=500.0)
    usage(daily_usage(pair, days(dt.date(2026, 11, 1), dt.date(2026, 12, 31)), 10.0))  # $20/day
    november = cost.check_budget(warehouse, today=dt.date(2026, 11, 20), run_id="n", config=settings)
    assert november["alert"] == "sent" and november["crossed_by"] == "spent"  # $400 of $500
    assert november["spent_usd"] == 400.0
    december = cost.check_budget(warehouse, today=dt.date(2026, 12, 20), run_id="d", config=settings)
    assert december["alert"] == "sent" and december["month"] == "2026-12"
    late_november = cost.check_budget(warehouse, today=dt.date(2026, 11, 30), run_id="n2", config=settings)
    assert late_november["alert"] == "already_sent"
    sent = cost_alerts(alert_dir)
    assert [a["counts"]["month"] for a in sent] == ["2026-11", "2026-12"]
    assert sent[0]["dedup_key"] != sent[1]["dedup_key"]
    assert sent[0]["severity"] == "warning"


def test_a_failed_send_is_retried_and_then_sent_once(
    warehouse, usage, alert_dir, receiver, monkeypatch
) -> None:
    pair = pairs(1)[0]
    usage(daily_usage(pair, days(dt.date(2026, 11, 1), dt.date(2026, 11, 20)), 10.0))
    settings = config(budget_usd=300.0, routes=[{"kind": "slack"}])
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESTALK_SLACK", json.dumps({"conn_type": "http", "host": "http://127.0.0.1:9/"})
    )
    with pytest.raises(cost.CostAlertError, match="reached no route"):
        cost.check_budget(warehouse, today=dt.date(2026, 11, 20), run_id="r", config=settings)
    assert cost.budget_status(warehouse, today=dt.date(2026, 11, 20), config=settings)["alerted_at"] is None
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESTALK_SLACK", json.dumps({"conn_type": "http", "host": receiver.url("/slack")})
    )
    retried = cost.check_budget(warehouse, today=dt.date(2026, 11, 20), run_id="r", config=settings)
    assert retried["alert"] == "sent" and retried["routes"] == {"slack": "sent"}
    again = cost.check_budget(warehouse, today=dt.date(2026, 11, 20), run_id="r", config=settings)
    assert again["alert"] == "already_sent"
    assert len(receiver.at("/slack")) == 1


def test_a_claim_left_by_a_killed_worker_blocks_until_stale(warehouse, usage, alert_dir) -> None:
    pair = pairs(1)[0]
    usage(daily_usage(pair, days(dt.date(2026, 11, 1), dt.date(2026, 11, 20)), 10.0))
    settings = config(budget_usd=300.0, stale_claim_minutes=30)
    today, now = dt.date(2026, 11, 20), dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    status = cost.budget_status(warehouse, today=today, config=settings)
    with warehouse.connect() as s:  # a worker claimed the month, then died before sending
        assert cost._claim(s, status, "dead-worker", "r0", now, 30)
    soon = cost.check_budget(
        warehouse, today=today, run_id="r1", now=now + dt.timedelta(minutes=5), config=settings
    )
    assert soon["alert"] == "claimed_elsewhere" and cost_alerts(alert_dir) == []
    later = cost.check_budget(
        warehouse, today=today, run_id="r2", now=now + dt.timedelta(minutes=31), config=settings
    )
    assert later["alert"] == "sent" and len(cost_alerts(alert_dir)) == 1


# -- the query tag --------------------------------------------------------------------------------------


def test_query_tag_is_compact_json_that_attribution_recognises() -> None:
    tag = query_tag(source="s", tenant="t", step="publish", run_id="manual__1", interval="a_b")
    assert tag.startswith(cost.TAG_PREFIX) and " " not in tag
    assert json.loads(tag) == {
        "app": "salestalk",
        "interval": "a_b",
        "run_id": "manual__1",
        "source": "s",
        "step": "publish",
        "tenant": "t",
    }
    long = query_tag(source="s", tenant="t", step="x", run_id="r" * 3000)
    assert len(long) <= 2000 and json.loads(long)["tenant"] == "t" and "run_id" not in json.loads(long)


def test_attribution_sql_is_one_text_transpiled() -> None:
    from salestalk.warehouse.dialect import DUCKDB, SNOWFLAKE

    duck = cost.attribution_sql(DUCKDB, "audit.query_attribution_history")
    snow = cost.attribution_sql(SNOWFLAKE, "SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY")
    assert "json_extract_string" in duck and "JSON_EXTRACT_PATH_TEXT" in snow
    assert "CONVERT_TIMEZONE('UTC', start_time)" in snow and "TIMEZONE(" not in snow.replace(
        "CONVERT_TIMEZONE(", ""
    )


# -- config ---------------------------------------------------------------------------------------------


def test_the_shipped_cost_config_is_valid() -> None:
    from salestalk.config.cost import load_cost_config

    shipped = load_cost_config()
    assert shipped.alert_threshold == 0.8 and shipped.budget_usd > 0 and shipped.price_per_credit_usd > 0


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        pytest.param(
            "budget_usd: 100\nprice_per_credit_usd: 3\nbudjet: 5\n",
            "budjet",
            "did you mean 'budget_usd'",
            id="typo",
        ),
        pytest.param("price_per_credit_usd: 3\n", "budget_usd", "required field is missing", id="missing"),
        pytest.param("budget_usd: -1\nprice_per_credit_usd: 3\n", "budget_usd", "must be > 0", id="negative"),
        pytest.param(
            "budget_usd: 100\nprice_per_credit_usd: 3\nalert_threshold: 80\n",
            "alert_threshold",
            "must be <= 1",
            id="percent",
        ),
        pytest.param(
            "budget_usd: 100\nprice_per_credit_usd: 3\nattribution:\n  snowflake: a;drop\n",
            "attribution.snowflake",
            "must match",
            id="relation",
        ),
        pytest.param(
            "budget_usd: 100\nprice_per_credit_usd: 3\nattribution:\n  duckbd: x\n",
            "attribution.duckbd",
            "did you mean 'duckdb'",
            id="nested",
        ),
        pytest.param(
            "budget_usd: 100\nprice_per_credit_usd: 3\nroutes: []\n", "routes", "at least 1", id="no-route"
        ),
    ],
)
def test_config_errors_name_the_file_and_field(tmp_path, body, field, reason) -> None:
    from salestalk.config.cost import load_cost_config
    from salestalk.config.loader import ConfigErrors

    path = tmp_path / "cost.yaml"
    path.write_text(body)
    with pytest.raises(ConfigErrors) as raised:
        load_cost_config(path)
    [error] = raised.value.errors
    assert (error.file, error.field) == (str(path), field)
    assert reason in error.reason and str(path) in str(raised.value)


# -- the CLI --------------------------------------------------------------------------------------------


def test_cost_cli_prints_the_month_and_the_top_spenders(
    warehouse, usage, tmp_path, monkeypatch, capsys
) -> None:
    from salestalk.__main__ import main

    (s1, t1), (s2, t2), _ = pairs()
    usage(daily_usage((s1, t1), days(dt.date(2026, 11, 1), dt.date(2026, 11, 30)), 10.0))
    usage(daily_usage((s2, t2), days(dt.date(2026, 11, 1), dt.date(2026, 11, 30)), 1.0))
    path = tmp_path / "cost.yaml"
    path.write_text("budget_usd: 800\nprice_per_credit_usd: 2\n")
    monkeypatch.setenv("SALESTALK_COST_CONFIG", str(path))
    assert main(["cost", "--month", "2026-11"]) == 1  # $660 of $800 spent: crossed
    out = capsys.readouterr().out
    assert "2026-11" in out and "$      660.00" in out and "82.5% of budget" in out
    assert "yes, by spent; alert sent never" in out and "docs/runbooks/cost.md" in out
    assert out.index(f"{s1:<24} {t1}") < out.index(f"{s2:<24} {t2}")  # most first
    assert main(["cost", "--month", "2026-11", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["spent_usd"] == 660.0 and status["top"][0] == {
        "source": s1,
        "tenant": t1,
        "credits": 300.0,
        "cost_usd": 600.0,
    }
    with pytest.raises(SystemExit) as bad:
        main(["cost", "--month", "November"])
    assert bad.value.code == 2 and "--month must look like" in capsys.readouterr().err


def test_validate_config_checks_the_cost_file_too(tmp_path, monkeypatch, capsys) -> None:
    from salestalk.__main__ import main

    assert main(["validate-config"]) == 0
    assert "ok    include/cost.yaml" in capsys.readouterr().out
    path = tmp_path / "cost.yaml"
    path.write_text("budget_usd: 100\nprice_per_credit_usd: 0\n")
    monkeypatch.setenv("SALESTALK_COST_CONFIG", str(path))
    assert main(["validate-config"]) == 1
    captured = capsys.readouterr()
    assert f"error {path}: price_per_credit_usd: must be > 0" in captured.err
    assert "1 problem(s)" in captured.out


def test_every_warehouse_session_is_opened_with_a_tag() -> None:
    """Cost is attributed by query tag: a ``<warehouse>.connect()`` without ``tag=`` would be unattributed.
    (Driver connections, ``duckdb.connect`` and SQLAlchemy's ``engine.connect``, are not warehouse sessions.)"""
    import ast

    from salestalk import REPO_ROOT

    offences = []
    for path in sorted([*(REPO_ROOT / "plugins").rglob("*.py"), *(REPO_ROOT / "dags").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            if node.func.attr != "connect" or (
                isinstance(owner, ast.Name) and owner.id in {"duckdb", "engine"}
            ):
                continue
            if not any(k.arg == "tag" for k in node.keywords):
                offences.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offences == [], "warehouse sessions opened without a query tag: " + ", ".join(offences)
