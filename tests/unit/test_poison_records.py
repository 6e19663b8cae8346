"""No single record can fail a batch: arbitrary batches mixing good and poison records, for every source kind.

Each example runs the five real steps (moto over HTTP, DuckDB, GX) on one batch. For every batch:
extracted = passed + quarantined + duplicates dropped, every poison record is quarantined with a reason
naming its field, every good record is published, and no step raises.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev.embedded import ensure_bucket
from dev.fakeapi.events_seed import make_event as good_event
from salestalk import REPO_ROOT, pipeline, rawtext
from salestalk.batch import Batch
from salestalk.config.models import SourceConfig
from salestalk.names import QUARANTINE_SCHEMA
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV, TenantS3
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.support.moto import kms_key

TENANT = "poison-tenant"
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
DAY = "2026-11-01"
COLUMNS = {"id": "string", "n": "integer", "x": "float", "d": "date", "ts": "timestamp", "s": "string"}
SUITE = "poison_records"
TEXT_LIMIT = 64  # rawtext.MAX_TEXT_BYTES, lowered here so examples stay small
LONG = "y" * (TEXT_LIMIT + 1)
EXAMPLES = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


# -- good records and poison values ------------------------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=8)


def good_record(k: int, n: int, x: float, s: str) -> dict:
    return {"id": f"g{k}", "n": n, "x": x, "d": DAY, "ts": f"{DAY}T{k % 24:02d}:00:00Z", "s": s}


goods = st.lists(
    st.tuples(st.integers(-(10**9), 10**9), st.floats(-1e6, 1e6, allow_nan=False), text), max_size=8
).map(lambda rows: [good_record(k, n, x, s) for k, (n, x, s) in enumerate(rows)])

# Cursor values outside the interval's window beyond the default 5-minute clock-skew tolerance.
OUTSIDE_WINDOW = [
    "2099-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
    "2026-10-31T23:54:00Z",
    "2026-11-02T00:05:01Z",
]

NESTED = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
).filter(lambda v: isinstance(v, list | dict))

# (field, value) that must quarantine its record, for sources that carry JSON values.
JSON_POISON = st.one_of(
    st.tuples(st.just("id"), st.sampled_from([None, "", "   ", "\t\n", "\ud83d", LONG])),
    st.tuples(st.just("s"), st.sampled_from(["\ud800x", "a\udfffb", LONG])),
    st.tuples(st.just("x"), st.sampled_from([float("nan"), float("inf"), float("-inf"), "abc", True])),
    st.tuples(st.just("n"), st.sampled_from(["abc", 1.5, True, 2**70, "1e3"])),
    st.tuples(st.just("d"), st.sampled_from([12345, "2026-02-30", "yesterday"])),
    st.tuples(st.just("ts"), st.sampled_from([None, "not a time", 17, *OUTSIDE_WINDOW])),
    st.tuples(st.sampled_from(sorted(COLUMNS)), NESTED),
)


def batches(poison: st.SearchStrategy) -> st.SearchStrategy:
    """Good records with poison ones inserted at random places; each poison record is (record, field)."""

    def mix(goods_and_poison):
        good, bad, positions = goods_and_poison
        records = [(r, None) for r in good]
        for number, ((field, value), where) in enumerate(zip(bad, positions, strict=False)):
            record = good_record(1000 + number, 1, 1.0, "p")
            record[field] = value
            records.insert(where % (len(records) + 1), (record, field))
        return records

    return st.tuples(
        goods, st.lists(poison, min_size=1, max_size=5), st.lists(st.integers(0, 20), min_size=5, max_size=5)
    ).map(mix)


# -- the real steps ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(moto_server, tmp_path_factory):
    """moto with a KMS key and a bucket, and a private GX project holding the test suite."""
    from salestalk.quality import gx_runner, suite

    root = tmp_path_factory.mktemp("gx") / "great_expectations"
    (root / "expectations").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "great_expectations" / "great_expectations.yml", root)
    expectation = {
        "id": str(uuid.uuid4()),
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "id"},
        "meta": {},
    }
    document = {
        "name": SUITE,
        "id": str(uuid.uuid4()),
        "expectations": [expectation],
        "meta": {},
        "notes": None,
    }
    (root / "expectations" / f"{SUITE}.json").write_text(json.dumps(document))
    key = kms_key(moto_server)
    client = moto_server.client("s3")
    ensure_bucket(client, "poison")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(suite, "EXPECTATIONS_DIR", root / "expectations")
        patch.setattr(gx_runner, "GX_ROOT", root)
        patch.setattr(rawtext, "MAX_TEXT_BYTES", TEXT_LIMIT)
        patch.setenv(KMS_KEY_ENV, key.key_id)
        patch.setenv(KMS_ALLOWED_ENV, key.key_id)
        patch.setenv("GX_ANALYTICS_ENABLED", "false")
        yield client


def source_config(
    extract, columns: dict[str, str] = COLUMNS, key: str = "id", cursor: str = "ts"
) -> SourceConfig:
    """A fresh source; ``extract(name)`` gives its extract block."""
    name = f"poison_{uuid.uuid4().hex[:8]}"
    return SourceConfig.model_validate(
        {
            "name": name,
            "description": "poison records",
            "owner": "tests",
            "oncall": {"team": "tests", "contact": "#tests", "url": "https://example.com/oncall"},
            "schedule": "@daily",
            "start_date": "2026-10-01",
            "tenants": [TENANT],
            "runbook": "docs/runbooks/source-pipeline.md",
            "extract": extract(name),
            "schema": {
                "columns": [{"name": n, "type": t} for n, t in columns.items()],
                "primary_key": [key],
                "cursor_column": cursor,
                "business_date_column": cursor,
            },
            "expectation_suite": SUITE,
            "quarantine": {"max_error_rate": 1.0, "on_table_failure": "publish_passing"},
        }
    )


def run_batch(client, source: SourceConfig, tmp: Path, api_url: str | None = None) -> tuple[dict, dict]:
    """All five steps; the step counts, and each quarantined record number's reasons."""
    import requests

    services = pipeline.Services(client, "poison", DuckDBWarehouse(tmp / f"{source.name}.duckdb"))
    if api_url:
        services.http_session, services.api_base_url = requests.Session(), api_url
    batch = Batch(source.name, TENANT, START, START + dt.timedelta(days=1), "poison")
    counts = {
        "extract": pipeline.extract_and_land(source, batch, services),
        "load": pipeline.load_to_staging(source, batch, services),
        "validate": pipeline.validate(source, batch, services),
        "quarantine": pipeline.quarantine(source, batch, services),
        "publish": pipeline.publish(source, batch, services),
    }
    extract = source.extract
    since = START - dt.timedelta(minutes=extract.max_clock_skew_minutes + extract.max_lateness_minutes)
    before = batch.interval_end + dt.timedelta(minutes=extract.max_clock_skew_minutes)
    cursor = source.table_schema.cursor_column
    with services.warehouse.connect() as s:
        rows = s.fetchall(f'SELECT "_record_num", "_reasons" FROM "{QUARANTINE_SCHEMA}"."{source.name}"')
        stray = s.fetchall(
            f'SELECT COUNT(*) FROM curated."{source.name}" WHERE "_tenant_id" <> ? OR "{cursor}" < ? '
            f'OR "{cursor}" > ?',
            [TENANT, since, before],
        )
    assert stray == [(0,)], "nothing of another tenant or outside the window is published"
    return counts, {int(n): list(reasons) for n, reasons in rows}


def check(records: list[tuple[dict, str | None]], counts: dict, quarantined: dict, names=None) -> None:
    """The accounting invariant, every poison record quarantined naming its field, every good one kept."""
    extracted, v = counts["extract"]["extracted"], counts["validate"]
    assert extracted == len(records)
    assert extracted == v["passed"] + counts["quarantine"]["quarantined"] + v["duplicates_dropped"]
    assert counts["publish"]["published"] == v["passed"]
    for number, (record, field) in enumerate(records):
        if field is None:
            assert number not in quarantined, (record, quarantined.get(number))
            continue
        named = {field, *((names or {}).get(field, ()))}
        reasons = quarantined.get(number, [])
        assert any(f"({name}" in r or f".{name}" in r for r in reasons for name in named), (field, reasons)


# -- one test per source kind ------------------------------------------------------------------------------


def drop(client, source: SourceConfig, name: str, body: bytes) -> None:
    s3 = TenantS3(client, "poison", TENANT)
    s3.put_bytes(s3.key("inbound", source.name, DAY, name), body)


def files_source(fmt: str) -> SourceConfig:
    return source_config(
        lambda name: {"kind": "s3_files", "prefix_pattern": f"inbound/{name}/{{ds}}/", "format": fmt}
    )


@EXAMPLES
@given(records=batches(JSON_POISON))
def test_jsonl_poison_records_are_quarantined_by_field(world, tmp_path, records) -> None:
    source = files_source("jsonl")
    drop(world, source, "a.jsonl", b"\n".join(json.dumps(r).encode() for r, _ in records))
    check(records, *run_batch(world, source, tmp_path))


@EXAMPLES
@given(records=batches(JSON_POISON), duplicated=st.sampled_from(sorted(COLUMNS)))
def test_jsonl_duplicate_keys_and_invalid_utf8_are_quarantined_by_field(
    world, tmp_path, records, duplicated
) -> None:
    source = files_source("jsonl")
    lines = [json.dumps(r).encode() for r, _ in records]
    doubled = json.dumps(good_record(99, 1, 1.0, "z"))[:-1] + f', "{duplicated}": null}}'
    broken = json.dumps(good_record(98, 1, 1.0, "MARK")).encode().replace(b"MARK", b"b\xff\xfe")
    lines += [doubled.encode(), broken]
    records = [*records, (good_record(99, 1, 1.0, "z"), duplicated), (good_record(98, 1, 1.0, ""), "s")]
    drop(world, source, "a.jsonl", b"\n".join(lines))
    check(records, *run_batch(world, source, tmp_path))


CSV_POISON = st.one_of(
    st.tuples(st.just("id"), st.sampled_from(["", "   ", LONG, b"\xff"])),
    st.tuples(st.just("s"), st.sampled_from([b"a\xc3(b", b"\xed\xa0\x80", LONG])),
    st.tuples(st.just("x"), st.sampled_from(["NaN", "inf", "-Infinity", "abc", "1,5"])),
    st.tuples(st.just("n"), st.sampled_from(["abc", "1.5", "99999999999999999999", "true"])),
    st.tuples(st.just("d"), st.sampled_from(["2026-02-30", "nope"])),
    st.tuples(st.just("ts"), st.sampled_from(["", "not a time", *OUTSIDE_WINDOW])),
)


@EXAMPLES
@given(records=batches(CSV_POISON))
def test_csv_poison_records_are_quarantined_by_field(world, tmp_path, records) -> None:
    source = files_source("csv")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(COLUMNS))
    raw: dict[str, bytes] = {}
    for record, _ in records:
        row = []
        for column in COLUMNS:
            value = record[column]
            if isinstance(value, bytes):
                raw[token := f"RAWBYTES{len(raw)}X"] = value
                value = token
            row.append("" if value is None else str(value))
        writer.writerow(row)
    body = out.getvalue().encode()
    for token, value in raw.items():
        body = body.replace(token.encode(), value)
    drop(world, source, "a.csv", body)
    check(records, *run_batch(world, source, tmp_path))


PARQUET_POISON = st.one_of(
    st.tuples(st.just("id"), st.sampled_from([None, "", "  ", LONG])),
    st.tuples(st.just("s"), st.sampled_from([b"\xff\xfe", b"ok\xc3", LONG.encode()])),
    st.tuples(st.just("x"), st.sampled_from([float("nan"), float("inf"), float("-inf")])),
    st.tuples(st.just("n"), st.sampled_from(["abc", "1.5"])),
    st.tuples(st.just("d"), st.sampled_from(["2026-13-01"])),
    st.tuples(st.just("ts"), st.sampled_from([None, "soon", *OUTSIDE_WINDOW])),
)


@EXAMPLES
@given(records=batches(PARQUET_POISON))
def test_parquet_poison_records_are_quarantined_by_field(world, tmp_path, records) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = files_source("parquet")

    def column(name: str, kind):
        values = [r[name] for r, _ in records]
        if kind == pa.binary():
            values = [v.encode() if isinstance(v, str) else v for v in values]
        elif kind == pa.string():
            values = [None if v is None else str(v) for v in values]
        return pa.array(values, kind)

    kinds = {"x": pa.float64(), "s": pa.binary()}
    table = pa.table({c: column(c, kinds.get(c, pa.string())) for c in COLUMNS})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    drop(world, source, "a.parquet", sink.getvalue())
    check(records, *run_batch(world, source, tmp_path))


class Pages(BaseHTTPRequestHandler):
    """Serves ``server.records`` as cursor pages of 3, JSON as Python writes it (NaN, escaped surrogates)."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        start = int(query.get("cursor", ["0"])[0])
        records = self.server.records
        body = {
            "data": records[start : start + 3],
            "next_cursor": str(start + 3) if start + 3 < len(records) else None,
        }
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@EXAMPLES
@given(records=batches(JSON_POISON))
def test_rest_poison_records_are_quarantined_by_field(world, api, tmp_path, records) -> None:
    api.records = [r for r, _ in records]
    extract = {
        "kind": "rest_api",
        "connection": "poison_api",
        "path": "/v1/tenants/{tenant}/things",
        "pagination": {"style": "cursor", "page_size": 3},
        "rate_limit_per_second": 1000,
        "cursor_field": "ts",
        "overlap_minutes": 0,
    }
    source = source_config(lambda name: extract)
    check(records, *run_batch(world, source, tmp_path, f"http://127.0.0.1:{api.server_address[1]}"))


EVENT_COLUMNS = {
    "request_id": "string",
    "intent": "string",
    "classified_at": "timestamp",
    "confidence": "float",
}
EVENT_FIELDS = {
    "request_id": "requestId",
    "intent": "intent",
    "classified_at": "time",
    "confidence": "confidence.overall",
}
EVENT_POISON = st.one_of(
    st.tuples(st.just("requestId"), st.sampled_from(["", "   ", "\ud83d", None, LONG, {"a": 1}])),
    st.tuples(st.just("intent"), st.sampled_from(["\udfff", LONG, ["x"], 7])),
    st.tuples(
        st.just("time"),
        st.sampled_from(["garbage", 12345, None, "2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]),
    ),
    st.tuples(st.just("confidence.overall"), st.sampled_from([float("nan"), float("inf"), "high", {"v": 1}])),
    st.tuples(st.just("tenantId"), st.sampled_from(["other-tenant"])),
)


@EXAMPLES
@given(good=st.integers(0, 8), poison=st.lists(EVENT_POISON, min_size=1, max_size=5), places=st.randoms())
def test_event_poison_records_are_quarantined_by_field(world, tmp_path, good, poison, places) -> None:
    rng = random.Random(0)
    moment = START + dt.timedelta(hours=1)
    events = [(good_event(rng, TENANT, f"R-{k}", moment), None) for k in range(good)]
    for number, (path, value) in enumerate(poison):
        event = good_event(rng, TENANT, f"P-{number}", moment)
        target, *rest = path.split(".")
        if rest:
            event[target][rest[0]] = value
        else:
            event[target] = value
        events.insert(places.randint(0, len(events)), (event, path))
    source = source_config(
        lambda name: {
            "kind": "events",
            "contract": "classification.performed",
            "prefix_pattern": f"inbound/events/{name}/{{ds}}/",
            "max_clock_skew_minutes": 5,
            "fields": EVENT_FIELDS,
        },
        EVENT_COLUMNS,
        key="request_id",
        cursor="classified_at",
    )
    body = b"\n".join(json.dumps(e).encode() for e, _ in events)
    s3 = TenantS3(world, "poison", TENANT)
    s3.put_bytes(s3.key("inbound", "events", source.name, DAY, "a.jsonl"), body)
    names = {
        path: {path.split(".")[0], *(c for c, p in EVENT_FIELDS.items() if p == path)}
        for path in EVENT_FIELDS.values()
    }
    names["tenantId"] = {"tenantId"}
    check(events, *run_batch(world, source, tmp_path), names)


@pytest.mark.parametrize("kind", ["jsonl", "csv", "events"])
def test_every_kind_quarantines_cursors_outside_the_window_and_keeps_the_tolerance(
    world, tmp_path, kind
) -> None:
    """The same admission window for file and event sources as for REST: each out-of-window cursor is
    quarantined naming the cursor column, and one at the tolerance's edge is published."""
    edge = "2026-11-02T00:05:00Z"  # the interval's end plus the 5-minute clock-skew tolerance: admitted
    if kind == "events":
        rng = random.Random(0)
        late = ["2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-10-24T23:54:59Z"]
        stamps = [("2026-11-01T01:00:00Z", None), (edge, None), ("2026-10-25T00:00:00Z", None)]
        stamps += [(t, "time") for t in late]
        events = []
        for n, (stamp, field) in enumerate(stamps):
            event = good_event(rng, TENANT, f"W-{n}", START)
            event["time"] = stamp
            events.append((event, field))
        source = source_config(
            lambda name: {
                "kind": "events",
                "contract": "classification.performed",
                "prefix_pattern": f"inbound/events/{name}/{{ds}}/",
                "fields": EVENT_FIELDS,
            },
            EVENT_COLUMNS,
            key="request_id",
            cursor="classified_at",
        )
        assert source.extract.max_lateness_minutes == 7 * 24 * 60, "events arrive late: a week by default"
        s3 = TenantS3(world, "poison", TENANT)
        body = b"\n".join(json.dumps(e).encode() for e, _ in events)
        s3.put_bytes(s3.key("inbound", "events", source.name, DAY, "a.jsonl"), body)
        counts, quarantined = run_batch(world, source, tmp_path)
        check(events, counts, quarantined, {"time": {"classified_at"}})
        return
    records = [(good_record(1, 1, 1.0, "a"), None), ({**good_record(2, 1, 1.0, "b"), "ts": edge}, None)]
    records += [({**good_record(10 + n, 1, 1.0, "c"), "ts": ts}, "ts") for n, ts in enumerate(OUTSIDE_WINDOW)]
    source = files_source(kind)
    if kind == "jsonl":
        body = b"\n".join(json.dumps(r).encode() for r, _ in records)
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(r for r, _ in records)
        body = out.getvalue().encode()
    drop(world, source, f"a.{kind}", body)
    counts, quarantined = run_batch(world, source, tmp_path)
    check(records, counts, quarantined)
    reasons = sorted(r for rs in quarantined.values() for r in rs)
    assert reasons == ["before_window(ts)"] * 2 + ["clock_skew(ts)"] * 2


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_file_whose_header_names_a_column_twice_quarantines_its_rows_and_fails_nothing(
    world, tmp_path, fmt
) -> None:
    """Which of the two values is meant cannot be known: every row is quarantined naming the column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [(good_record(k, k, 1.0, "a"), "s") for k in range(3)]
    names = [*COLUMNS, "s"]
    rows = [[str(r[c]) for c in COLUMNS] + ["other"] for r, _ in records]
    if fmt == "csv":
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows([names, *rows])
        body = out.getvalue().encode()
    else:
        table = pa.Table.from_arrays(
            [pa.array(list(column)) for column in zip(*rows, strict=True)], names=names
        )
        sink = io.BytesIO()
        pq.write_table(table, sink)
        body = sink.getvalue()
    source = files_source(fmt)
    drop(world, source, f"a.{fmt}", body)
    counts, quarantined = run_batch(world, source, tmp_path)
    check(records, counts, quarantined)
    assert all("duplicate_key(s)" in reasons for reasons in quarantined.values())
