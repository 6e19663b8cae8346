"""SQL hygiene of the Snowflake backend: identifiers, stage paths, query tags, connection, regexes."""

from __future__ import annotations

import json
import re

import pytest

from salestalk.quality.regex import snowflake_search_pattern as search_pattern
from salestalk.warehouse import snowflake as sb
from salestalk.warehouse.dialect import SNOWFLAKE
from tests.unit.warehouse.conftest import SNOWFLAKE_CONNECTION


@pytest.mark.parametrize("name", ["deal_id", "_loaded_at", "A1"])
def test_identifiers_are_quoted_in_upper_case(name) -> None:
    assert SNOWFLAKE.ident(name) == f'"{name.upper()}"'


@pytest.mark.parametrize("name", ['a"b', "a b", "1a", "", "a;drop", "é", "a.b", "x" * 300])
def test_unsafe_identifiers_are_refused(name) -> None:
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        SNOWFLAKE.ident(name)


def test_relations_are_qualified_part_by_part() -> None:
    assert SNOWFLAKE.table("curated", "deals") == '"CURATED"."DEALS"'
    assert sb.qualified_stage("salestalk_raw") == '"STAGING"."SALESTALK_RAW"'
    assert sb.qualified_stage("raw.staging.salestalk_raw") == '"RAW"."STAGING"."SALESTALK_RAW"'
    with pytest.raises(ValueError):
        sb.qualified_stage("a.b.c.d")
    with pytest.raises(ValueError):
        sb.qualified_stage('staging."x')


@pytest.mark.parametrize(
    "path", ["tenants/acme/raw/deals/../x", "/etc/passwd", "a'b", "a b", "a\nb", "tenants/acme/raw/%2e"]
)
def test_stage_paths_that_cannot_be_bound_are_checked(path) -> None:
    with pytest.raises(ValueError, match="unsafe stage path"):
        sb.stage_path(path)


def test_query_tag_protocol_and_qmark_reach_the_connector(monkeypatch) -> None:
    from salestalk.batch import Batch

    extra = {**SNOWFLAKE_CONNECTION["extra"], "protocol": "http", "host": "127.0.0.1", "port": 1234}
    extra["session_parameters"] = {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
    monkeypatch.setenv("AIRFLOW_CONN_SNOWFLAKE_DEFAULT", json.dumps({**SNOWFLAKE_CONNECTION, "extra": extra}))
    from salestalk.pipeline import _tag

    warehouse = sb.SnowflakeWarehouse()
    batch = Batch("deals", "acme", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "run-7")
    params = warehouse.hook(_tag(batch, "publish"))._get_conn_params()
    assert params["protocol"] == "http" and params["host"] == "127.0.0.1" and params["port"] == 1234
    assert params["paramstyle"] == "qmark"
    assert (params["role"], params["warehouse"], params["database"]) == (
        "SALESTALK_LOADER",
        "TRANSFORMING",
        "SALESTALK",
    )
    session = params["session_parameters"]
    assert session["CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED"] is False
    tag = json.loads(session["QUERY_TAG"])
    assert tag == {
        "app": "salestalk",
        "source": "deals",
        "tenant": "acme",
        "run_id": "run-7",
        "step": "publish",
        "interval": "20261101T000000Z_20261102T000000Z",
    }


def test_the_warehouse_is_chosen_by_setting(monkeypatch, tmp_path) -> None:
    from salestalk.warehouse import open_warehouse

    monkeypatch.setenv("SALESTALK_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.delenv("SALESTALK_WAREHOUSE", raising=False)
    assert open_warehouse().dialect.name == "duckdb"
    monkeypatch.setenv("SALESTALK_WAREHOUSE", "snowflake")
    monkeypatch.setenv("SALESTALK_SNOWFLAKE_CONN_ID", "snowflake_prod")
    warehouse = open_warehouse()
    assert (warehouse.dialect.name, warehouse.conn_id) == ("snowflake", "snowflake_prod")
    monkeypatch.setenv("SALESTALK_WAREHOUSE", "bigquery")
    with pytest.raises(ValueError, match="SALESTALK_WAREHOUSE"):
        open_warehouse()


EMAIL = r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
SAMPLES = [
    "a@b.co", "A.B-c+d%e_f@x-y.example.org", "a@b.c", "@b.co", "a@.co", "a@b.co\n", "a@b.co\n\n",
    "\na@b.co", "a@b.co ", " a@b.co", "a@b@c.co", "", "é@b.co", "a@b.c0", "ab.co", "a@b.co.uk",
]  # fmt: skip


@pytest.mark.parametrize(
    "pattern", [EMAIL, r"^[a-z]+$", r"ab|cd", r"x{2,3}", r"^(ab)+", r"[^0-9]$", r"-", r"a\.b"]
)
def test_regex_verdicts_match_python_search_on_fakesnow(pattern, snowflake_patched) -> None:
    """REGEXP_LIKE(value, search_pattern(p), 's') decides every sample as re.search(p) does."""
    import snowflake.connector

    con = snowflake.connector.connect(database="SALESTALK", schema="PUBLIC", paramstyle="qmark")
    translated = search_pattern(pattern)
    for sample in SAMPLES:
        got = con.cursor().execute("SELECT REGEXP_LIKE(?, ?, 's')", [sample, translated]).fetchall()[0][0]
        assert got == bool(re.search(pattern, sample)), (pattern, sample, translated)


@pytest.mark.parametrize("pattern", [r"a.b", r"\d+", r"(?=a)", r"(?i)a", r"\bword", r"a^b", r"[\w]"])
def test_regexes_snowflake_cannot_evaluate_identically_are_refused(pattern) -> None:
    with pytest.raises(ValueError):
        search_pattern(pattern)
