"""Worker side of benchmarks/throughput.py: the synthetic source, its data and the timed runs.

Not meant to be run by hand. ``throughput.py`` imports the source/suite/data helpers and starts this
file in fresh processes as ``python benchmarks/_throughput_worker.py pipeline|compare '<json>'``;
the worker prints one line ``THROUGHPUT_RESULT {json}``.

* ``pipeline``: the five pipeline steps on one batch against the moto server over HTTP, each timed,
  with the process's peak RSS (VmHWM) reset before and read after every step.
* ``compare``: on the already-staged batch, the validate+quarantine split three ways (ours, GX,
  hand-written DuckDB SQL) and the differential check of our verdicts against GX's.

Peak RSS is read from /proc/self/status (VmHWM), not from ``getrusage``: resetting VmHWM between
steps (``clear_refs``) also resets ``ru_maxrss``, and a child's ``ru_maxrss`` starts at its parent's
peak (Linux carries it over at exec), here the process hosting the moto server and its S3 objects.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
for _path in (REPO_ROOT, REPO_ROOT / "plugins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

MARKER = "THROUGHPUT_RESULT "
SOURCE_NAME = "bench_throughput"
BUCKET = "salestalk-bench"
DAY = "2026-11-01"
PART_ROWS = 100_000
SEED = 20261101
BAD_ROW_SHARE = 0.006  # two of the fourteen fault kinds below are edge cases that pass: ~0.5% fail
DUPLICATE_SHARE = 0.01
PLANS = ["free", "starter", "pro", "enterprise"]
REGIONS = ["amer", "emea", "apac"]
DOMAINS = ["example.com", "salestalk.io", "acme.co.uk", "globex-corp.net"]
ID_REGEX = r"^ord-\d{8}$"
EMAIL_REGEX = r"^[a-z0-9._+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$"
NOT_NULL = ["order_id", "account_name", "plan", "seats", "order_date", "updated_at"]
BETWEEN = {
    "seats": (1, 10_000),
    "amount": (0.0, 1_000_000.0),
    "discount_pct": (0.0, 100.0),
    "order_date": ("2020-01-01", "2030-12-31"),
}
COLUMNS = [
    ("order_id", "string"),
    ("account_name", "string"),
    ("owner_email", "string"),
    ("plan", "string"),
    ("region", "string"),
    ("seats", "integer"),
    ("amount", "float"),
    ("discount_pct", "float"),
    ("order_date", "date"),
    ("updated_at", "timestamp"),
]
COLUMN_NAMES = [name for name, _ in COLUMNS]
STEP_NAMES = ("extract_and_land", "load_to_staging", "validate", "quarantine", "publish")


# --------------------------------------------------------------------------- the synthetic source


def source_document() -> dict[str, Any]:
    enums = {"plan": PLANS, "region": REGIONS}
    columns = [{"name": n, "type": t, **({"enum": enums[n]} if n in enums else {})} for n, t in COLUMNS]
    return {
        "name": SOURCE_NAME,
        "description": "Synthetic 10-column orders export for the throughput benchmark.",
        "owner": "data-platform",
        "oncall": {"team": "data-platform", "contact": "#bench", "url": "https://example.com/oncall"},
        "schedule": "@daily",
        "start_date": "2026-10-01",
        "tenants": ["bench"],
        "extract": {
            "kind": "s3_files",
            "prefix_pattern": f"inbound/{SOURCE_NAME}/{{ds}}/",
            "format": "parquet",
        },
        "schema": {
            "columns": columns,
            "primary_key": ["order_id"],
            "cursor_column": "updated_at",
            "business_date_column": "order_date",
        },
        "expectation_suite": SOURCE_NAME,
        "quarantine": {"max_error_rate": 0.02, "on_table_failure": "hold"},
        "runbook": "docs/runbooks/source-pipeline.md",
    }


def source_config():
    from salestalk.config.models import SourceConfig

    return SourceConfig.model_validate(source_document())


def _expectation(kind: str, **kwargs: Any) -> dict[str, Any]:
    ident = uuid.uuid5(uuid.NAMESPACE_URL, f"{SOURCE_NAME}:{kind}:{sorted(kwargs.items())}")
    return {"id": str(ident), "type": kind, "kwargs": kwargs, "meta": {}}


def suite_document() -> dict[str, Any]:
    """Table column set, not-null, between, in-set and regex rules over the ten columns."""
    expectations = [
        _expectation("expect_table_columns_to_match_set", column_set=COLUMN_NAMES, exact_match=True)
    ]
    expectations += [_expectation("expect_column_values_to_not_be_null", column=c) for c in NOT_NULL]
    expectations += [
        _expectation("expect_column_values_to_be_between", column=c, min_value=lo, max_value=hi)
        for c, (lo, hi) in BETWEEN.items()
    ]
    expectations += [
        _expectation("expect_column_values_to_be_in_set", column="plan", value_set=PLANS),
        _expectation("expect_column_values_to_be_in_set", column="region", value_set=REGIONS),
        _expectation("expect_column_values_to_match_regex", column="order_id", regex=ID_REGEX),
        _expectation("expect_column_values_to_match_regex", column="owner_email", regex=EMAIL_REGEX),
    ]
    suite_id = str(uuid.uuid5(uuid.NAMESPACE_URL, SOURCE_NAME))
    return {"name": SOURCE_NAME, "id": suite_id, "expectations": expectations, "meta": {}, "notes": None}


def prepare_gx_root(folder: Path) -> Path:
    """A private GX project (the repo's great_expectations.yml + the benchmark suite) under ``folder``."""
    root = folder / "great_expectations"
    (root / "expectations").mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO_ROOT / "great_expectations" / "great_expectations.yml", root)
    suite_file = root / "expectations" / f"{SOURCE_NAME}.json"
    suite_file.write_text(json.dumps(suite_document(), indent=2, sort_keys=True) + "\n")
    return root


def use_gx_root(root: Path) -> None:
    """Point suite lookup and the GX context at the private project, in this process only."""
    from salestalk.quality import gx_runner, suite

    suite.EXPECTATIONS_DIR = root / "expectations"
    gx_runner.GX_ROOT = root


def bench_suite():
    from salestalk.quality.suite import parse_suite

    return parse_suite(suite_document(), source=f"<{SOURCE_NAME}>")


# --------------------------------------------------------------------------- synthetic data


def tenant_for(rows: int) -> str:
    return f"bench-{rows}"


def s3_client(moto_url: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def tenant_keys(client, tenant: str, *segments: str) -> list[str]:
    """Every key under ``tenants/<tenant>/<segments>/``, sorted."""
    prefix = "/".join(("tenants", tenant, *segments)) + "/"
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return sorted(keys)


def forget_landing(client, tenant: str) -> None:
    """Remove what a run landed (raw parts, cursor), so the next run lands from cold."""
    from salestalk.storage.tenant_s3 import TenantS3

    TenantS3(client, BUCKET, tenant).delete(
        tenant_keys(client, tenant, "raw") + tenant_keys(client, tenant, "state")
    )


def inbound_segments() -> tuple[str, ...]:
    return ("inbound", SOURCE_NAME, DAY)


def _ids(numbers) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = pc.utf8_lpad(pa.array(numbers, pa.int64()).cast(pa.string()), 8, "0")
    return pc.binary_join_element_wise("ord-", digits, "")


def _put_faults(arrays: dict[str, Any], kinds) -> dict[str, Any]:
    """Fourteen fault kinds; kind 3 (email + trailing newline) and 9 (NaN) pass in GX and in SQL."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def set_where(column: str, kind: int, value: Any) -> None:
        mask = pa.array(kinds == kind)
        scalar = pa.scalar(value, arrays[column].type)
        arrays[column] = pc.if_else(mask, scalar, arrays[column])

    set_where("order_id", 0, None)
    set_where("account_name", 1, None)
    set_where("owner_email", 2, "not-an-email")
    newline = pc.binary_join_element_wise(arrays["owner_email"], "\n", "")
    arrays["owner_email"] = pc.if_else(pa.array(kinds == 3), newline, arrays["owner_email"])
    set_where("plan", 4, "Pro")
    set_where("region", 5, "latam")
    set_where("seats", 6, 0)
    set_where("seats", 7, 50_000)
    set_where("amount", 8, -12.5)
    set_where("discount_pct", 9, float("nan"))
    set_where("order_date", 10, "2019-06-30")
    set_where("order_date", 11, "2026-02-30")  # not a date: a cast failure, then not-null fails
    set_where("updated_at", 12, None)
    set_where("seats", 13, None)
    return arrays


def make_part(part: int, rows: int, first_row: int):
    """One inbound Parquet file's rows: deterministic per part, ~0.5% bad, ~1% repeated order ids."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng([SEED, part])
    row = np.arange(first_row, first_row + rows, dtype=np.int64)
    numbers = row.copy()
    repeat = rng.random(rows) < DUPLICATE_SHARE
    back = rng.integers(1, 1000, rows)
    numbers[repeat] = np.maximum(row[repeat] - back[repeat], first_row)
    seconds = (row * 7) % 86_400
    start = np.datetime64(f"{DAY}T00:00:00", "s")
    stamps = pa.array(start + seconds.astype("timedelta64[s]"), pa.timestamp("s"))
    order_days = np.datetime64("2026-01-01") + rng.integers(0, 300, rows).astype("timedelta64[D]")
    discount = np.round(rng.uniform(0, 30, rows), 1)
    arrays = {
        "order_id": _ids(numbers),
        "account_name": pc.binary_join_element_wise(
            "Account ", pa.array(numbers % 50_000).cast(pa.string()), ""
        ),
        "owner_email": pc.binary_join_element_wise(
            "rep",
            pa.array(numbers % 997).cast(pa.string()),
            "@",
            pa.array(DOMAINS).take(pa.array(rng.integers(0, len(DOMAINS), rows))),
            "",
        ),
        "plan": pa.array(PLANS).take(pa.array(rng.integers(0, len(PLANS), rows))),
        "region": pa.array(REGIONS).take(pa.array(rng.integers(0, len(REGIONS), rows))),
        "seats": pa.array(rng.integers(1, 500, rows), pa.int64()),
        "amount": pa.array(np.round(rng.uniform(0, 50_000, rows), 2), pa.float64()),
        "discount_pct": pa.array(discount, pa.float64(), mask=rng.random(rows) < 0.01),
        "order_date": pc.strftime(pa.array(order_days, pa.date32()), format="%Y-%m-%d"),
        "updated_at": pc.strftime(stamps, format="%Y-%m-%dT%H:%M:%SZ"),
    }
    bad = rng.random(rows) < BAD_ROW_SHARE
    kinds = np.where(bad, rng.integers(0, 14, rows), -1)
    return pa.table(_put_faults(arrays, kinds))


def seed_inbound(s3_client, rows: int, part_rows: int = PART_ROWS) -> int:
    """Drop ``rows`` rows as Parquet parts under the size's tenant inbound prefix; returns the parts."""
    import pyarrow.parquet as pq

    from salestalk.storage.tenant_s3 import TenantS3

    s3 = TenantS3(s3_client, BUCKET, tenant_for(rows))
    parts = 0
    for first in range(0, rows, part_rows):
        table = make_part(parts, min(part_rows, rows - first), first)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        s3.put_bytes(s3.key(*inbound_segments(), f"part-{parts:05d}.parquet"), sink.getvalue())
        parts += 1
    return parts


# --------------------------------------------------------------------------- memory


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    gc.collect()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")


def peak_rss_kib() -> int:
    return _status_kib("VmHWM")


def rss_kib() -> int:
    return _status_kib("VmRSS")


# --------------------------------------------------------------------------- pipeline worker


def _services(args: dict[str, Any]):
    from salestalk.pipeline import Services
    from salestalk.settings import get_settings
    from salestalk.warehouse.duckdb import DuckDBWarehouse

    client = s3_client(args["moto_url"])
    settings = get_settings()  # the DuckDB memory limit as the Airflow tasks set it (tasks.make_services)
    limit = getattr(settings, "duckdb_memory_limit", None)
    warehouse = DuckDBWarehouse(Path(args["duckdb"]), **({"memory_limit": limit} if limit else {}))
    return Services(s3_client=client, bucket=BUCKET, warehouse=warehouse)


def bench_batch(rows: int):
    from salestalk.batch import Batch

    start = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC)
    return Batch(SOURCE_NAME, tenant_for(rows), start, start + dt.timedelta(days=1), f"bench-{rows}")


def _warm_up() -> None:
    """Imports and the GX context, so the stage times measure rows, not module loading."""
    import duckdb  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from salestalk.quality.gx_runner import gx_context

    gx_context()


def run_pipeline(args: dict[str, Any]) -> dict[str, Any]:
    from salestalk import pipeline

    use_gx_root(Path(args["gx_root"]))
    began = time.perf_counter()
    _warm_up()
    source, batch, services = source_config(), bench_batch(args["rows"]), _services(args)
    forget_landing(services.s3_client, batch.tenant)
    setup = {"seconds": time.perf_counter() - began, "peak_kib": peak_rss_kib(), "rss_kib": rss_kib()}
    stages = []
    for name in STEP_NAMES:
        reset_peak_rss()
        before = rss_kib()
        start = time.perf_counter()
        counts = getattr(pipeline, name)(source, batch, services)
        seconds = time.perf_counter() - start
        stages.append(
            {
                "name": name,
                "seconds": seconds,
                "rss_before_kib": before,
                "peak_kib": peak_rss_kib(),
                "rss_after_kib": rss_kib(),
                "counts": {k: v for k, v in counts.items() if isinstance(v, int | float | str)},
            }
        )
    limit = getattr(services.warehouse, "memory_limit", "DuckDB default")
    return {"rows": args["rows"], "setup": setup, "stages": stages, "duckdb_memory_limit": limit}


# --------------------------------------------------------------------------- hardware floors


def pyarrow_floor(client, tenant: str) -> float:
    """GET every inbound Parquet part, decode it, encode it again (zstd) and PUT it back through the tenant
    guard (one PutObject each, as landing makes): extract's floor."""
    import pyarrow.parquet as pq

    from salestalk.storage.tenant_s3 import TenantS3

    s3 = TenantS3(client, BUCKET, tenant)
    s3.delete(tenant_keys(client, tenant, "floor"))
    started = time.perf_counter()
    for key in tenant_keys(client, tenant, "inbound"):
        table = pq.read_table(io.BytesIO(client.get_object(Bucket=BUCKET, Key=key)["Body"].read()))
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        s3.put_bytes(key.replace("/inbound/", "/floor/", 1), sink.getvalue())
    return time.perf_counter() - started


def duckdb_floor(client, tenant: str, folder: Path) -> float:
    """GET the landed raw parts to local files and ``CREATE TABLE AS SELECT * FROM read_parquet``: load's floor."""
    import duckdb

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    files = []
    for number, key in enumerate(k for k in tenant_keys(client, tenant, "raw") if k.endswith(".parquet")):
        local = folder / f"part-{number:05d}.parquet"
        local.write_bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        files.append(str(local))
    con = duckdb.connect(str(folder / "floor.duckdb"))
    try:
        con.execute("CREATE TABLE raw AS SELECT * FROM read_parquet(?)", [files])
        rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
    finally:
        con.close()
    seconds = time.perf_counter() - started
    if not rows:
        raise RuntimeError("the DuckDB floor found no landed rows: run the pipeline first")
    return seconds


def run_floors(args: dict[str, Any]) -> dict[str, Any]:
    client = s3_client(args["moto_url"])
    folder = Path(args["folder"])
    pyarrow_floor(client, args["tenant"])  # warm: imports, connections, the guard's first PUT
    return {
        "pyarrow": [pyarrow_floor(client, args["tenant"]) for _ in range(args["repeats"])],
        "duckdb": [duckdb_floor(client, args["tenant"], folder) for _ in range(args["repeats"])],
    }


# --------------------------------------------------------------------------- REST source


REST_RESOURCE = "deals"
REST_TENANT = "acme"
REST_TYPES = {"amount": "float", "close_date": "date", "updated_at": "timestamp"}


def rest_source_document(page_size: int) -> dict[str, Any]:
    """The fake API's deals as a REST source: cursor pages, the owner's email hashed before landing."""
    from dev.fakeapi.seed import FIELDS

    columns = [{"name": n, "type": REST_TYPES.get(n, "string")} for n in FIELDS[REST_RESOURCE]]
    return {
        **source_document(),
        "name": "bench_rest",
        "extract": {
            "kind": "rest_api",
            "connection": "salestalk_source_api",
            "path": f"/v1/tenants/{{tenant}}/{REST_RESOURCE}",
            "pagination": {"style": "cursor", "page_size": page_size},
            "rate_limit_per_second": 1000,
            "cursor_field": "updated_at",
            "overlap_minutes": 0,
        },
        "schema": {
            "columns": columns,
            "primary_key": ["deal_id"],
            "cursor_column": "updated_at",
            "business_date_column": "close_date",
            "pii": {"owner_email": "hash"},
        },
    }


def plain_loop(url: str, params: dict[str, str]) -> int:
    """The baseline: a requests loop over the cursor pages, decoding each page's JSON and nothing else."""
    import requests

    session = requests.Session()
    rows, cursor = 0, None
    while True:
        body = session.get(
            url, params={**params, **({"cursor": cursor} if cursor else {})}, timeout=60
        ).json()
        rows += len(body["data"])
        cursor = body.get("next_cursor")
        if not cursor:
            return rows


def run_rest(args: dict[str, Any]) -> dict[str, Any]:
    import requests

    from salestalk import pipeline
    from salestalk.batch import Batch
    from salestalk.config.models import SourceConfig
    from salestalk.pii import PII_KEY_ENV

    os.environ.setdefault(PII_KEY_ENV, "throughput-benchmark-pii-key")
    use_gx_root(Path(args["gx_root"]))
    source = SourceConfig.model_validate(rest_source_document(args["page_size"]))
    since, before = dt.datetime.fromisoformat(args["since"]), dt.datetime.fromisoformat(args["before"])
    batch = Batch(source.name, REST_TENANT, since, before, "bench-rest")
    client = s3_client(args["moto_url"])
    url = f"{args['api_url']}/v1/tenants/{REST_TENANT}/{REST_RESOURCE}"
    params = {
        "updated_since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_before": before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "page_size": str(args["page_size"]),
        "style": "cursor",
    }
    plain, ours, counts = [], [], {}
    plain_loop(url, params)  # warm both: imports, connections, the PII key and suite
    warm = pipeline.Services(client, BUCKET, None, requests.Session(), args["api_url"])
    pipeline.extract_and_land(source, batch, warm)
    for _ in range(args["repeats"]):
        started = time.perf_counter()
        plain_rows = plain_loop(url, params)
        plain.append(time.perf_counter() - started)
        forget_landing(client, REST_TENANT)
        services = pipeline.Services(client, BUCKET, None, requests.Session(), args["api_url"])
        started = time.perf_counter()
        counts = pipeline.extract_and_land(source, batch, services)
        ours.append(time.perf_counter() - started)
    if counts["extracted"] != plain_rows:
        raise RuntimeError(f"ours landed {counts['extracted']} rows, the plain loop read {plain_rows}")
    return {"rows": plain_rows, "plain": plain, "ours": ours, "requests": counts["requests"]}


# --------------------------------------------------------------------------- split comparison worker


def _batch_view(con, rows: int) -> None:
    """``batch_rows``: the batch's current staged rows, selected exactly as the pipeline steps select them."""
    from salestalk.warehouse import tables
    from salestalk.warehouse.duckdb import DuckDBSession

    session = DuckDBSession(con)
    tables.set_batch(session, bench_batch(rows))
    tables.select_batch_rows(session, source_config())


def split_ours(con, suite) -> int:
    """The compiled suite (materialize_verdicts), then the failing rows to a quarantine table."""
    from salestalk.quality.sql import materialize_verdicts

    result = materialize_verdicts(
        con, "batch_rows", suite, "bench.verdicts_ours", row_id_column="_record_num"
    )
    con.execute(
        "CREATE OR REPLACE TABLE bench.bad_ours AS SELECT b.*, v.reasons FROM batch_rows b "
        "JOIN bench.verdicts_ours v ON v._record_num = b._record_num"
    )
    con.execute(
        "CREATE OR REPLACE TABLE bench.good_ours AS SELECT b.* FROM batch_rows b "
        "ANTI JOIN bench.verdicts_ours v ON v._record_num = b._record_num"
    )
    return result.failing


def hand_written_rules(reasons: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """(predicate, reason) for this suite, written by hand; every predicate is TRUE or FALSE, never NULL."""
    email = EMAIL_REGEX.replace("$", r"\n?$")  # Python's $ also matches before one trailing newline
    not_null = "expect_column_values_to_not_be_null"
    between = "expect_column_values_to_be_between"
    in_set = "expect_column_values_to_be_in_set"
    regex = "expect_column_values_to_match_regex"
    written = [(f"{c} IS NULL", (not_null, c)) for c in NOT_NULL]
    written += [
        ("seats IS NOT NULL AND NOT (seats BETWEEN 1 AND 10000)", (between, "seats")),
        (
            "amount IS NOT NULL AND NOT isnan(amount) AND NOT (amount BETWEEN 0 AND 1000000)",
            (between, "amount"),
        ),
        (
            "discount_pct IS NOT NULL AND NOT isnan(discount_pct) AND NOT (discount_pct BETWEEN 0 AND 100)",
            (between, "discount_pct"),
        ),
        (
            "order_date IS NOT NULL AND NOT (order_date BETWEEN DATE '2020-01-01' AND DATE '2030-12-31')",
            (between, "order_date"),
        ),
        ("plan IS NOT NULL AND plan NOT IN ('free', 'starter', 'pro', 'enterprise')", (in_set, "plan")),
        ("region IS NOT NULL AND region NOT IN ('amer', 'emea', 'apac')", (in_set, "region")),
        (r"order_id IS NOT NULL AND NOT regexp_matches(order_id, '^ord-[0-9]{8}\n?$')", (regex, "order_id")),
        (f"owner_email IS NOT NULL AND NOT regexp_matches(owner_email, '{email}')", (regex, "owner_email")),
    ]
    return [(predicate, reasons[key]) for predicate, key in written]


def split_hand_written(con, rules: list[tuple[str, str]]) -> int:
    cases = ", ".join(f"CASE WHEN {p} THEN '{r}' END" for p, r in rules)
    any_bad = " OR ".join(f"({p})" for p, _ in rules)
    con.execute(
        f"CREATE OR REPLACE TABLE bench.bad_hand AS SELECT *, list_filter([{cases}], lambda r: r IS NOT NULL) "
        f"AS reasons FROM batch_rows WHERE {any_bad}"
    )
    con.execute(f"CREATE OR REPLACE TABLE bench.good_hand AS SELECT * FROM batch_rows WHERE NOT ({any_bad})")
    return con.execute("SELECT count(*) FROM bench.bad_hand").fetchall()[0][0]


def split_gx(con, suite) -> dict[str, Any]:
    """GX COMPLETE on a pandas frame of the same rows, keyed by _record_num; split the frame by those keys."""
    from salestalk.quality.gx_runner import gx_row_verdicts

    start = time.perf_counter()
    frame = con.sql(f"SELECT {', '.join(COLUMN_NAMES)}, _record_num FROM batch_rows").df()
    converted = time.perf_counter()
    verdicts = gx_row_verdicts(frame, suite, key_column="_record_num")
    failing = frame["_record_num"].isin(list(verdicts))
    bad, good = frame[failing], frame[~failing]
    done = time.perf_counter()
    return {
        "conversion_seconds": converted - start,
        "split_seconds": done - converted,
        "failing": len(bad),
        "passing": len(good),
        "verdicts": verdicts,
    }


def _verdicts(con, query: str) -> dict[int, list[str]]:
    return {int(rid): list(reasons) for rid, reasons in con.execute(query).fetchall()}


def _timed(fn, *args) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def differential(ours: dict[int, list[str]], theirs: dict[int, list[str]]) -> dict[str, Any]:
    keys = set(ours) | set(theirs)
    mismatched = sorted(k for k in keys if ours.get(k) != theirs.get(k))
    return {
        "ours_failing": len(ours),
        "theirs_failing": len(theirs),
        "mismatched": len(mismatched),
        "examples": [(k, ours.get(k), theirs.get(k)) for k in mismatched[:5]],
    }


def pipeline_suite_verdicts(con, rows: int, suite_reasons: set[str]) -> dict[int, list[str]]:
    """The pipeline's own audit verdicts for the batch, keeping only the suite's reasons."""
    from salestalk.batch import format_utc

    batch = bench_batch(rows)
    found = con.execute(
        f'SELECT _record_num, array_agg(_reason ORDER BY _reason_pos) FROM audit."{SOURCE_NAME}_verdicts" '
        "WHERE _tenant_id = ? AND _interval_start = ?::TIMESTAMPTZ GROUP BY _record_num",
        [batch.tenant, format_utc(batch.interval_start)],
    ).fetchall()
    kept = {int(rid): [r for r in reasons if r in suite_reasons] for rid, reasons in found}
    return {rid: reasons for rid, reasons in kept.items() if reasons}


def run_compare(args: dict[str, Any]) -> dict[str, Any]:
    import duckdb

    from salestalk.quality.gx_runner import gx_context

    use_gx_root(Path(args["gx_root"]))
    suite = bench_suite()
    reasons = {(e.type, e.column): r for e, r in zip(suite.expectations, suite.reasons, strict=True)}
    rules = hand_written_rules(reasons)
    gx_setup, _ = _timed(gx_context)
    con = duckdb.connect(args["duckdb"])
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE SCHEMA IF NOT EXISTS bench")
        _batch_view(con, args["rows"])
        rows = con.execute("SELECT count(*) FROM batch_rows").fetchall()[0][0]
        ours_runs, hand_runs = [], []
        for _ in range(args["repeats"]):
            ours_runs.append(_timed(split_ours, con, suite))
            hand_runs.append(_timed(split_hand_written, con, rules))
        ours = _verdicts(con, "SELECT _record_num, reasons FROM bench.verdicts_ours")
        hand = _verdicts(con, "SELECT _record_num, reasons FROM bench.bad_hand")
        in_pipeline = pipeline_suite_verdicts(con, args["rows"], set(suite.reasons))
        gx = split_gx(con, suite)
    finally:
        con.close()
    verdicts = gx.pop("verdicts")
    return {
        "rows": rows,
        "repeats": args["repeats"],
        "gx_context_seconds": gx_setup,
        "ours_seconds": sorted(s for s, _ in ours_runs),
        "ours_failing": ours_runs[-1][1],
        "hand_seconds": sorted(s for s, _ in hand_runs),
        "hand_failing": hand_runs[-1][1],
        "gx": gx,
        "diff_gx": differential(ours, verdicts),
        "diff_hand": differential(ours, hand),
        "diff_pipeline": differential(ours, in_pipeline),
    }


def main(argv: list[str]) -> None:
    mode, payload = argv[1], json.loads(argv[2])
    modes = {"pipeline": run_pipeline, "compare": run_compare, "floors": run_floors, "rest": run_rest}
    result = modes[mode](payload)
    print(MARKER + json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv)
