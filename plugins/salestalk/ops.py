"""Operator commands for on-call, wired into ``python -m salestalk`` (see docs/runbooks/README.md).

- ``status``: counts of a source's interval per tenant (default: the newest interval), the rows of it now
  curated and the runs that published them, with the hold-back reason, failing-rule counts and
  quarantine object of one tenant.
- ``alerts``: the local alert log.
- ``deadlines``: the Deadline Alerts and routes each source DAG has.
- ``freshness``: the freshness diagnosis per source and tenant (``--alert`` sends the alerts).
- ``cost``: the month's warehouse spend, projection and budget, and the top spenders (salestalk.cost).
- ``quarantine list | show | redrive``: what was quarantined and why; re-run validate, quarantine and
  publish of one batch from its staged rows (after a suite fix).
- ``dead-letter list | redrive``: the DynamoDB writer's dead letters of a tenant and entity, replayed.
- ``env``: the running local stack's environment as ``export`` lines (``eval "$(make -s env)"``).
- ``airflow -- ARGS``: the airflow CLI with the running local stack's environment.
- ``usage``: a one-line usage error naming the valid sources, tenants or intervals (for make).

Reads the configured warehouse (``SALESTALK_WAREHOUSE``) and, for S3 and DynamoDB, the Airflow
connection ``aws_default`` (``AIRFLOW_CONN_AWS_DEFAULT``), like the pipeline tasks. Run as
``python -m salestalk`` while ``make airflow`` runs, it first loads that stack's client environment
(salestalk.client_env) for every variable the shell does not set. A missing or unknown argument is a
one-line ``usage:`` error listing the valid values, exit 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

CLI = "python -m salestalk"
# Entities the DynamoDB writer handles, with the settings their original writes used.
DEAD_LETTER_ENTITIES = {"insight_summary": {"ttl_days": 400, "timestamp_field": "computedAt"}}
# The job that consumes the curated tables (alerting.freshness.downstream_schedule is its schedule).
DOWNSTREAM_DAG_ID = "app_insight_summaries"
INTERVAL_FORMAT = "an interval start such as 2026-11-01T00:00:00Z"


def fail_usage(line: str, note: str = "") -> NoReturn:
    """``usage: <line>  (<note>)`` on stderr, exit 2."""
    print(f"usage: {line}" + (f"  ({note})" if note else ""), file=sys.stderr)
    raise SystemExit(2)


def _configs() -> dict[str, SourceConfig]:
    from salestalk.config.loader import load_sources

    return load_sources().configs


def _listed(kind: str, values: list[str]) -> str:
    return f"{kind}: {', '.join(values) if values else 'none configured'}"


def _source(name: str | None, line: str) -> SourceConfig:
    """The valid source ``name``; a usage error listing the valid sources when it is missing or unknown."""
    from salestalk.config.loader import load_sources, sources_dir

    if name:
        loaded = load_sources(only=name)
        if name in loaded.configs:
            return loaded.configs[name]
        if any((sources_dir() / f"{name}{suffix}").is_file() for suffix in (".yaml", ".yml")):
            problems = "; ".join(str(e) for e in loaded.errors)
            raise SystemExit(f"source {name!r} has an invalid config: {problems}")
    fail_usage(line, _listed("sources", sorted(_configs())))


def _all_tenants() -> list[str]:
    from salestalk.tenant_registry import all_tenants

    return all_tenants(_configs().values(), any_status=True)


def _source_tenants(source: SourceConfig) -> list[str]:
    """A source's tenants of any status (an offboarded tenant's data stays readable)."""
    from salestalk.tenant_registry import known_tenants

    return known_tenants(source)


def _tenant(
    value: str | None, line: str, source: SourceConfig | None = None, *, required: bool
) -> str | None:
    """``value`` if it is a tenant of ``source`` (of any source without one); else a usage error."""
    if not value and not required:
        return None
    tenants = _source_tenants(source) if source else _all_tenants()
    if value in tenants:
        return value
    fail_usage(line, _listed(f"tenants of {source.name}" if source else "tenants", tenants))


def _interval(
    value: str | None, line: str, source: str, tenant: str | None = None, *, required: bool
) -> str | None:
    """``value`` as a UTC interval start; a usage error naming the recorded intervals when it is bad."""
    from salestalk.batch import format_utc, parse_utc

    if value:
        try:
            return format_utc(parse_utc(value))
        except ValueError:
            pass
    elif not required:
        return None
    recorded = recorded_or_empty(source, tenant)
    fail_usage(line, _listed("recorded intervals", recorded) if recorded else INTERVAL_FORMAT)


def _warehouse():
    from salestalk.warehouse import open_warehouse

    return open_warehouse()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def status(args: argparse.Namespace) -> int:
    from salestalk.accounting import (
        batch_summaries,
        curated_note,
        curated_state,
        format_curated,
        format_table,
    )
    from salestalk.alerting.dq import batch_results, completeness
    from salestalk.warehouse.tables import latest_interval

    line = f"{CLI} status --source <source> [--interval <start>] [--tenant <tenant>]"
    source = _source(args.source, line)
    tenant = _tenant(args.tenant, line, source, required=False)
    interval = _interval(args.interval, line, source.name, required=False)
    warehouse = _warehouse()
    interval = interval or latest_interval(warehouse, source.name)
    if interval is None:
        print(f"{source.name}: never run, no batch has been recorded yet (warehouse {warehouse.location})")
        return 0
    summaries = batch_summaries(warehouse, source, interval)
    curated = curated_state(warehouse, source, interval)
    if tenant:
        summaries = [s for s in summaries if s["tenant"] == tenant]
        curated = {tenant: curated[tenant]}
    print(f"source {source.name}, interval starting {interval}")
    print(format_table(summaries))
    print(f"\ncurated.{source.name} now: the rows of this interval and the runs that published them")
    print(format_curated(curated))
    for summary in summaries:
        note = curated_note(source.name, summary, curated[summary["tenant"]])
        if note:
            print(f"note: {note}")
        if summary.get("problem"):
            print(f"problem: {summary['problem']}")
    if tenant:
        steps = batch_results(warehouse, source, interval).get(tenant, {})
        validation, publish = steps.get("validate", {}), steps.get("publish", {})
        share = completeness(steps)
        print(
            f"\nerror rate:   {validation.get('error_rate', 0):.4%} (hold back above "
            f"{source.quarantine.max_error_rate:.2%}, alert above "
            f"{source.alerting.data_quality.max_error_rate:.2%})"
        )
        print(
            f"completeness: {'-' if share is None else f'{share:.4%}'} (alert below "
            f"{source.alerting.data_quality.min_completeness:.2%})"
        )
        print(f"failing rules: {json.dumps(validation.get('reasons', {}), sort_keys=True)}")
        if validation.get("table_failures"):
            print(f"table-level failures: {validation['table_failures']}")
        if validation.get("unexpected_columns") or validation.get("missing_columns"):
            print(
                f"unexpected columns: {validation.get('unexpected_columns')}, "
                f"missing columns: {validation.get('missing_columns')}"
            )
        if publish.get("held_back"):
            print(f"publish held back: {publish['held_back']}")
        if steps.get("quarantine", {}).get("quarantine_key"):
            print(f"quarantine object: {steps['quarantine']['quarantine_key']}")
    return 1 if any(s.get("problem") for s in summaries) else 0


def alerts(args: argparse.Namespace) -> int:
    from salestalk.alerting.routes import alert_log_path, read_alert_log

    path = alert_log_path()
    entries = [
        a
        for a in read_alert_log(path)
        if (not args.source or a["source"] == args.source)
        and (not args.type or a["alert_type"] == args.type)
        and (not args.tenant or args.tenant in a["tenants"])
    ][-args.last :]
    if args.json:
        _print_json(entries)
        return 0
    print(f"{len(entries)} alert(s) in {path}")
    for a in entries:
        print(
            f"{a['created_at'][:19]}  {a['severity']:<8} {a['alert_type']:<15} {a['source']:<14} "
            f"{','.join(a['tenants']):<22} {a['run_id'] or '-'}"
        )
        print(f"    {a['what']}")
        print(f"    runbook {a['links']['runbook_path']}  dedup {a['dedup_key']}")
    return 0


def deadlines(args: argparse.Namespace) -> int:
    from salestalk.alerting.deadlines import deadline_minutes

    if args.source:
        configs = {args.source: _source(args.source, f"{CLI} deadlines [--source <source>]")}
    else:
        configs = _configs()
    for name in sorted(configs):
        source = configs[name]
        print(f"{source.dag_id}")
        for spec in source.alerting.deadlines:
            print(
                f"  deadline {spec.name}: {deadline_minutes(source, spec.minutes):g} min after "
                f"{spec.reference.replace('_', ' ')}"
            )
        for route in source.alerting.routes:
            target = getattr(route, "connection", None) or getattr(route, "topic_arn", None) or "local log"
            print(f"  route {route.name} ({route.kind}): {target}")
    return 0


def _as_utc(value: Any) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


def downstream_runs() -> tuple[Any, str]:
    """When the downstream job really started, from Airflow's metadata DB when this process has one
    configured (the local stack's or a container's environment): ``(lookup or None, how)``."""
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    assumed = "the downstream job's last run is assumed from alerting.freshness.downstream_schedule"
    if not url:
        return None, f"{assumed} (no Airflow metadata DB configured)"
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(url)
        try:
            with engine.connect() as con:
                started = con.execute(
                    sqlalchemy.text(
                        "SELECT start_date FROM dag_run WHERE dag_id = :dag AND start_date IS NOT NULL"
                    ),
                    {"dag": DOWNSTREAM_DAG_ID},
                ).fetchall()
        finally:
            engine.dispose()
        starts = [_as_utc(row[0]) for row in started]
    except Exception as error:  # unreachable, not migrated, a driver missing: fall back to the schedule
        return None, f"{assumed} (Airflow's metadata DB: {type(error).__name__})"

    def ran_at(source: SourceConfig, now: dt.datetime) -> dt.datetime | None:
        return max((s for s in starts if s <= now), default=None)

    return ran_at, f"the downstream job's runs ({DOWNSTREAM_DAG_ID}: {len(starts)}) are read from Airflow"


def freshness(args: argparse.Namespace) -> int:
    from salestalk.batch import parse_utc
    from salestalk.freshness import Classification, run_monitor

    line = f"{CLI} freshness [--source <source>] [--now <time>] [--alert] [--json] [--partitions]"
    if getattr(args, "partitions", False):
        from salestalk.freshness import partition_report

        return partition_report(as_json=args.json)
    if args.source:
        _source(args.source, line)
    try:
        now = parse_utc(args.now) if args.now else None
    except ValueError:
        fail_usage(line, "--now takes a UTC time such as 2026-11-02T06:00:00Z")
    lookup, how = downstream_runs()
    rows = run_monitor(now, send=args.alert, only=args.source, downstream_ran_at=lookup)
    if args.json:
        _print_json(rows)
    else:
        print(
            f"{'source':<14} {'tenant':<10} {'classification':<19} {'latest _loaded_at':<26} "
            f"{'business date':<13} reason"
        )
        for r in rows:
            shown = "never run" if r["classification"] == Classification.NEVER_RUN else r["classification"]
            print(
                f"{r['source']:<14} {r['tenant']:<10} {shown:<19} "
                f"{(r['latest_loaded_at'] or '-')[:25]:<26} {r['latest_business_date'] or '-':<13} "
                f"{r['reason']}"
            )
        print(f"note: {how}")
    return 1 if any(Classification(r["classification"]).is_problem for r in rows) else 0


def _quarantined(args: argparse.Namespace, line: str, limit: int | None = None) -> list[tuple]:
    """(tenant, interval start, record number, reasons, raw record) of the quarantined rows asked for."""
    from salestalk.batch import format_utc, parse_utc
    from salestalk.names import QUARANTINE_SCHEMA
    from salestalk.warehouse.tables import table_exists

    source = _source(args.source, line)
    tenant = _tenant(args.tenant, line, source, required=False)
    interval = _interval(args.interval, line, source.name, tenant, required=False)
    with _warehouse().connect(tag={"source": source.name, "step": "cli"}) as s:
        d = s.dialect
        i = d.ident
        if not table_exists(s, QUARANTINE_SCHEMA, source.name):
            return []
        where, params = [], []
        if tenant:
            where.append(f"{i('_tenant_id')} = ?")
            params.append(tenant)
        if interval:
            where.append(f"{i('_interval_start')} = CAST(? AS {d.column_type('timestamp')})")
            params.append(interval)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        rows = s.fetchall(
            f"SELECT {i('_tenant_id')}, {i('_interval_start')}, {i('_record_num')}, {i('_reasons')}, "
            f"{i('_raw_record')} FROM {d.table(QUARANTINE_SCHEMA, source.name)}{clause} "
            f"ORDER BY {i('_tenant_id')}, {i('_interval_start')}, {i('_record_num')}"
            + (f" LIMIT {int(limit)}" if limit is not None else ""),
            params,
        )
        return [
            (t, format_utc(parse_utc(start)), int(n), d.as_list(reasons), raw)
            for t, start, n, reasons, raw in rows
        ]


def quarantine_list(args: argparse.Namespace) -> int:
    from collections import Counter

    line = f"{CLI} quarantine list --source <source> [--tenant <tenant>] [--interval <start>]"
    counts = Counter(
        (tenant, interval, reason)
        for tenant, interval, _, reasons, _ in _quarantined(args, line)
        for reason in reasons
    )
    print(f"{'tenant':<10} {'interval':<21} {'rows':>5}  reason")
    for (tenant, interval, reason), count in sorted(counts.items()):
        print(f"{tenant:<10} {interval:<21} {count:>5}  {reason}")
    print(f"{sum(counts.values())} quarantine reason(s) in quarantine.{args.source}")
    return 0


def quarantine_show(args: argparse.Namespace) -> int:
    line = f"{CLI} quarantine show --source <source> [--tenant <tenant>] [--interval <start>] [--limit N]"
    rows = _quarantined(args, line, limit=args.limit)
    for tenant, _, record_num, reasons, raw in rows:
        print(f"{tenant} #{record_num}: {', '.join(reasons)}")
        print(f"    {raw}")
    print(f"{len(rows)} row(s) shown (--limit {args.limit})")
    return 0


def _s3_client():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from salestalk.logs import quiet_third_party
    from salestalk.settings import get_settings

    quiet_third_party()  # Airflow set up its logging on the import above, at INFO
    return S3Hook(aws_conn_id=get_settings().aws_conn_id).get_conn()


def quarantine_redrive(args: argparse.Namespace) -> int:
    """Re-run validate, quarantine and publish of one batch from its staged rows."""
    from salestalk import pipeline
    from salestalk.batch import Batch, parse_utc
    from salestalk.freshness import next_fire
    from salestalk.settings import get_settings

    line = f"{CLI} quarantine redrive --source <source> --tenant <tenant> --interval <start> [--dry-run]"
    source = _source(args.source, line)
    tenant = _tenant(args.tenant, line, source, required=True)
    start = parse_utc(_interval(args.interval, line, source.name, tenant, required=True))
    batch = Batch(
        source=source.name,
        tenant=tenant,
        interval_start=start,
        interval_end=next_fire(source.schedule, start),
        run_id=f"redrive__{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S}",
    )
    services = pipeline.Services(s3_client=_s3_client(), bucket=get_settings().bucket, warehouse=_warehouse())
    validation = pipeline.validate(source, batch, services)
    print(
        f"validate: {validation['rows']} rows, {validation['failing']} failing "
        f"({validation['error_rate']:.2%}), reasons {json.dumps(validation['reasons'], sort_keys=True)}"
    )
    quarantined = pipeline.quarantine(source, batch, services)
    print(f"quarantine: {quarantined['quarantined']} rows -> {quarantined['quarantine_key']}")
    if args.dry_run:
        print("dry run: not publishing")
        return 0
    try:
        published = pipeline.publish(source, batch, services)
    except pipeline.PublishHeldBack as exc:
        print(f"still held back: {exc}")
        return 1
    print(f"publish: {json.dumps(published, sort_keys=True)}")
    return 0


def _dead_letter_args(args: argparse.Namespace) -> str:
    """The tenant, after checking the tenant and the entity; usage errors name the valid ones."""
    line = f"{CLI} dead-letter {args.dead_letter_command} --tenant <tenant> [--entity <entity>]"
    tenant = _tenant(args.tenant, line, required=True)
    if args.entity not in DEAD_LETTER_ENTITIES:
        fail_usage(line, _listed("entities", sorted(DEAD_LETTER_ENTITIES)))
    return tenant


def _dead_letter_store(tenant: str):
    from salestalk.settings import get_settings
    from salestalk.storage.dead_letter import DeadLetterStore
    from salestalk.storage.tenant_s3 import TenantS3

    return DeadLetterStore(TenantS3(_s3_client(), get_settings().bucket, tenant))


def dead_letter_list(args: argparse.Namespace) -> int:
    tenant = _dead_letter_args(args)
    records = _dead_letter_store(tenant).records(args.entity)
    for r in records:
        print(
            f"{r.s3_key}\n    reason {r.reason}, attempts {r.attempts}, key {r.key}, "
            f"replayable {r.replayable}, first seen {r.first_seen}"
        )
    print(f"{len(records)} dead letter(s) for tenant {tenant}, entity {args.entity}")
    return 0


def dead_letter_redrive(args: argparse.Namespace) -> int:
    from salestalk.operators.tenant_dynamodb import dynamodb_client, dynamodb_table
    from salestalk.settings import get_settings
    from salestalk.storage.tenant_dynamodb import TenantDynamoWriter

    tenant = _dead_letter_args(args)
    store = _dead_letter_store(tenant)
    writer = TenantDynamoWriter(
        dynamodb_client(get_settings().aws_conn_id),
        dynamodb_table(),
        tenant,
        args.entity,
        dead_letter=store,
        **DEAD_LETTER_ENTITIES[args.entity],
    )
    counts = store.redrive(writer, args.entity).as_dict()
    print(f"redrive tenant {tenant} entity {args.entity}: {json.dumps(counts, sort_keys=True)}")
    left = len(store.records(args.entity))
    print(f"{left} dead letter(s) left")
    return 1 if left else 0


def cost(args: argparse.Namespace) -> int:
    """The month's warehouse spend, projection and budget, and the top sources and tenants by spend;
    exit 1 when the alert threshold is crossed. ``--alert`` also sends the month's one cost alert."""
    from salestalk.config.loader import ConfigErrors
    from salestalk.cost import budget_status, check_budget, load_config, month_bounds, render

    line = f"{CLI} cost [--month YYYY-MM] [--alert] [--json]"
    today = dt.datetime.now(dt.UTC).date()
    if args.month:
        try:
            first = dt.datetime.strptime(args.month, "%Y-%m").date()
        except ValueError:
            fail_usage(line, f"--month must look like {today:%Y-%m} (got {args.month!r})")
        if (first.year, first.month) != (today.year, today.month):
            today = month_bounds(first)[1]
    try:
        config = load_config()
    except ConfigErrors as exc:
        raise SystemExit(f"invalid cost config:\n{exc}") from None
    if args.alert:
        status = check_budget(_warehouse(), today=today, run_id="cli", config=config)
    else:
        status = budget_status(_warehouse(), today=today, config=config)
    if args.json:
        _print_json(status)
    else:
        print(render(status))
    return 1 if status["crossed"] else 0


def env(args: argparse.Namespace) -> int:
    from salestalk.client_env import local_home, render, running_env

    home = local_home()
    found = running_env(home)
    if found is None:
        print(
            f"no local stack is running in {home} (make airflow starts one); in a docker compose container "
            "the environment is already set",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(render(found))
    return 0


def airflow(args: argparse.Namespace) -> int:
    """Run ``python -m airflow ARGS`` with the running local stack's variables over this environment."""
    import subprocess

    from salestalk.client_env import local_home, running_env

    argv = args.args[1:] if args.args[:1] == ["--"] else args.args
    if not argv:
        fail_usage(f"{CLI} airflow -- <airflow arguments>", "e.g. dags list")
    stack = running_env(local_home())
    if stack is None:
        print("no local stack (make airflow) is running: airflow runs with this environment", file=sys.stderr)
    return subprocess.call([sys.executable, "-m", "airflow", *argv], env={**os.environ, **(stack or {})})


def usage(args: argparse.Namespace) -> int:
    """A one-line usage error for ``line`` naming the valid values of ``--values``; exit 2 (for make)."""
    line = " ".join(args.line)
    source = _configs().get(args.source or "")
    if args.values == "sources":
        fail_usage(line, _listed("sources", sorted(_configs())))
    if args.values == "tenants":
        tenants = _source_tenants(source) if source else _all_tenants()
        fail_usage(line, _listed(f"tenants of {source.name}" if source else "tenants", tenants))
    if args.values == "intervals" and source:
        recorded = recorded_or_empty(source.name, args.tenant)
        fail_usage(line, _listed("recorded intervals", recorded) if recorded else INTERVAL_FORMAT)
    fail_usage(line, INTERVAL_FORMAT if args.values == "intervals" else "")


def recorded_or_empty(source: str, tenant: str | None) -> list[str]:
    from salestalk.accounting import recorded_intervals

    try:
        return recorded_intervals(_warehouse(), source, tenant)
    except Exception:  # a usage message must not fail on a locked or missing warehouse
        return []


def _is_cli_process() -> bool:
    """Whether this process is ``python -m salestalk`` (not a test or a task importing the commands)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None) == "salestalk.__main__"


def tenants_list(args: argparse.Namespace) -> int:
    """The registry's tenants with status and sources, then its rejected entries."""
    from salestalk.tenant_registry import RegistryError, get_registry

    registry = get_registry()
    try:
        listing = registry.listing()
    except RegistryError as exc:
        print(exc, file=sys.stderr)
        return 1
    entries = [e for e in listing.entries if not args.source or args.source in e.sources]
    if args.json:
        _print_json([e.model_dump(mode="json") for e in entries])
        return 0
    readers = sorted(n for n, c in _configs().items() if c.tenants is None)
    print(f"tenant registry: {registry!r}; sources reading it: {', '.join(readers) or '(none: all pinned)'}")
    rows = [("tenant", "status", "sources", "updated")]
    rows += [(e.tenant, e.status.value, ",".join(e.sources) or "-", e.updated_at or "-") for e in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for rejected in listing.rejected:
        print(f"skipped (never run): {rejected}", file=sys.stderr)
    return 1 if listing.rejected else 0


def _tenant_status(args: argparse.Namespace, status: str) -> int:
    from salestalk.tenancy import InvalidTenantId
    from salestalk.tenant_registry import RegistryError, TenantStatus, get_registry, set_status

    line = f"{CLI} tenants {args.tenants_command} --tenant <tenant>" + (
        " --source <source> [--source ...]" if args.tenants_command == "onboard" else ""
    )
    if not args.tenant:
        fail_usage(line)
    sources = getattr(args, "source", None) or None
    if args.tenants_command == "onboard":
        if not sources:
            fail_usage(line, _listed("sources", sorted(_configs())))
        unknown = sorted(set(sources) - set(_configs()))
        if unknown:
            fail_usage(line, f"unknown source(s) {unknown}; " + _listed("sources", sorted(_configs())))
    registry = get_registry()
    try:
        entry = set_status(registry, args.tenant, TenantStatus(status), sources)
    except (InvalidTenantId, RegistryError) as exc:
        print(exc, file=sys.stderr)
        return 1
    pinned = sorted(n for n in entry.sources if n in _configs() and _configs()[n].tenants is not None)
    print(f"{entry.tenant}: {entry.status.value} for {', '.join(entry.sources)} in {registry!r}")
    if status == "offboarded":
        print("its data stays in place: offboarding only stops new runs")
    if pinned:
        print(f"note: {', '.join(pinned)} pin(s) tenants in config and ignore the registry", file=sys.stderr)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the operator commands to ``python -m salestalk``; as that command, load the local stack's env."""
    if _is_cli_process():
        from salestalk.client_env import load

        load()
    show = commands.add_parser("status", help="counts of a source's interval per tenant (default: newest)")
    show.add_argument("--source")
    show.add_argument("--interval", help="interval start, e.g. 2026-11-01T00:00:00Z (default: the newest)")
    show.add_argument("--tenant", help="one tenant, with its error rate, failing rules and hold-back reason")
    show.set_defaults(func=status)

    log = commands.add_parser("alerts", help="the local alert log (newest last)")
    log.add_argument("--source")
    log.add_argument("--tenant")
    log.add_argument(
        "--type", help="deadline_missed, task_failed, dq_error_rate, completeness, freshness, anomaly, cost"
    )
    log.add_argument("--last", type=int, default=20)
    log.add_argument("--json", action="store_true")
    log.set_defaults(func=alerts)

    dl = commands.add_parser("deadlines", help="the Deadline Alerts and alert routes of each source DAG")
    dl.add_argument("--source")
    dl.set_defaults(func=deadlines)

    fresh = commands.add_parser("freshness", help="classify each source and tenant's freshness")
    fresh.add_argument("--source")
    fresh.add_argument("--now", help="evaluate as of this time (default: now), e.g. 2026-11-02T06:00:00Z")
    fresh.add_argument("--alert", action="store_true", help="also send the alerts (once per state)")
    fresh.add_argument("--json", action="store_true")
    fresh.add_argument(
        "--partitions",
        action="store_true",
        help="per tenant and day, from the asset events: source not yet published, or summary not yet run",
    )
    fresh.set_defaults(func=freshness)

    quarantine = commands.add_parser("quarantine", help="inspect and redrive quarantined rows")
    quarantine.set_defaults(
        func=lambda _: fail_usage(f"{CLI} quarantine list|show|redrive --source <source> ...", "see --help")
    )
    q_commands = quarantine.add_subparsers(dest="quarantine_command")
    q_list = q_commands.add_parser("list", help="quarantined rows per tenant, interval and failing rule")
    q_show = q_commands.add_parser("show", help="quarantined rows with their reasons and raw records")
    q_redrive = q_commands.add_parser("redrive", help="re-run validate, quarantine, publish of one batch")
    for parser, func in (
        (q_list, quarantine_list),
        (q_show, quarantine_show),
        (q_redrive, quarantine_redrive),
    ):
        parser.add_argument("--source")
        parser.add_argument("--tenant")
        parser.add_argument("--interval", help="e.g. 2026-11-01T00:00:00Z")
        parser.set_defaults(func=func)
    q_show.add_argument("--limit", type=int, default=20)
    q_redrive.add_argument("--dry-run", action="store_true", help="validate and quarantine only")

    dead = commands.add_parser("dead-letter", help="DynamoDB dead letters: list and redrive")
    dead.set_defaults(func=lambda _: fail_usage(f"{CLI} dead-letter list|redrive --tenant <tenant>"))
    d_commands = dead.add_subparsers(dest="dead_letter_command")
    for name, func in (("list", dead_letter_list), ("redrive", dead_letter_redrive)):
        parser = d_commands.add_parser(name)
        parser.add_argument("--tenant")
        parser.add_argument("--entity", default="insight_summary")
        parser.set_defaults(func=func)

    spend = commands.add_parser("cost", help="warehouse spend this month against the budget, top spenders")
    spend.add_argument("--month", help="YYYY-MM (default: this month, as of today)")
    spend.add_argument("--alert", action="store_true", help="also send the month's cost alert (once a month)")
    spend.add_argument("--json", action="store_true")
    spend.set_defaults(func=cost)

    shell = commands.add_parser(
        "env", help='the local stack\'s environment as export lines: eval "$(make -s env)"'
    )
    shell.set_defaults(func=env)

    air = commands.add_parser(
        "airflow", help="the airflow CLI against the local stack: airflow -- tasks clear ..."
    )
    air.add_argument("args", nargs=argparse.REMAINDER, help="the airflow CLI's arguments, after --")
    air.set_defaults(func=airflow)

    reg = commands.add_parser("tenants", help="the tenant registry: list, onboard, pause, resume, offboard")
    reg.set_defaults(
        func=lambda _: fail_usage(f"{CLI} tenants list|onboard|pause|resume|offboard", "see --help")
    )
    t_commands = reg.add_subparsers(dest="tenants_command")
    t_list = t_commands.add_parser("list", help="each tenant's status and sources")
    t_list.add_argument("--source")
    t_list.add_argument("--json", action="store_true")
    t_list.set_defaults(func=tenants_list)
    for name, state, text in (
        ("onboard", "active", "add a tenant (or add sources to it) as active: its next run includes it"),
        ("pause", "paused", "stop new runs for a tenant; its data stays"),
        ("resume", "active", "make a paused or offboarded tenant active again"),
        ("offboard", "offboarded", "stop new runs for a tenant for good; never deletes its data"),
    ):
        parser = t_commands.add_parser(name, help=text)
        parser.add_argument("--tenant")
        if name == "onboard":
            parser.add_argument("--source", action="append", help="a source the tenant has (repeatable)")
        parser.set_defaults(func=lambda args, state=state: _tenant_status(args, state))

    use = commands.add_parser(
        "usage", help="a one-line usage error naming the valid values, exit 2 (for make)"
    )
    use.add_argument("--values", choices=("sources", "tenants", "intervals", "none"), default="none")
    use.add_argument("--source")
    use.add_argument("--tenant")
    use.add_argument("line", nargs="+", help="the usage line, e.g. make dead-letters TENANT=<tenant>")
    use.set_defaults(func=usage)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m salestalk <command>")
