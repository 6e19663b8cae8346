"""Operator commands for on-call, wired into ``python -m salestalk`` (see docs/runbooks/README.md).

- ``status``: counts of a source's interval per tenant (default: the newest interval), with the
  hold-back reason, failing-rule counts and quarantine object of one tenant.
- ``alerts``: the local alert log.
- ``deadlines``: the Deadline Alerts and routes each source DAG has.
- ``freshness``: the freshness diagnosis per source and tenant (``--alert`` sends the alerts).
- ``quarantine list | show | redrive``: what was quarantined and why; re-run validate, quarantine and
  publish of one batch from its staged rows (after a suite fix).
- ``dead-letter list | redrive``: the DynamoDB writer's dead letters of a tenant and entity, replayed.

Reads the configured warehouse (``SALESTALK_WAREHOUSE``) and, for S3 and DynamoDB, the Airflow
connection ``aws_default`` (``AIRFLOW_CONN_AWS_DEFAULT``), like the pipeline tasks.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

# Entities the DynamoDB writer handles, with the settings their original writes used.
DEAD_LETTER_ENTITIES = {"insight_summary": {"ttl_days": 400, "timestamp_field": "computedAt"}}


def _source(name: str):
    from salestalk.config.loader import load_sources

    loaded = load_sources(only=name)
    if name not in loaded.configs:
        problems = "; ".join(str(e) for e in loaded.errors) or "no such source"
        raise SystemExit(f"unknown or invalid source {name!r}: {problems}")
    return loaded.configs[name]


def _warehouse():
    from salestalk.warehouse import open_warehouse

    return open_warehouse()


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True, default=str))


def status(args: argparse.Namespace) -> int:
    from salestalk.accounting import batch_summaries, format_table
    from salestalk.alerting.dq import batch_results, completeness

    source = _source(args.source)
    warehouse = _warehouse()
    from salestalk.warehouse.tables import latest_interval

    interval = args.interval or latest_interval(warehouse, source.name)
    if interval is None:
        print(f"no batch of {source.name} has been recorded yet (warehouse {warehouse.location})")
        return 1
    summaries = batch_summaries(warehouse, source, interval)
    if args.tenant:
        summaries = [s for s in summaries if s["tenant"] == args.tenant]
        if not summaries:
            raise SystemExit(f"tenant {args.tenant!r} is not a tenant of {source.name}: {source.tenants}")
    print(f"source {source.name}, interval starting {interval}")
    print(format_table(summaries))
    for summary in summaries:
        if summary.get("problem"):
            print(f"problem: {summary['problem']}")
    if args.tenant:
        steps = batch_results(warehouse, source, interval).get(args.tenant, {})
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
    from salestalk.config.loader import load_sources

    configs = load_sources(only=args.source).configs
    for name in sorted(configs):
        if args.source and name != args.source:
            continue
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


def freshness(args: argparse.Namespace) -> int:
    from salestalk.batch import parse_utc
    from salestalk.freshness import run_monitor

    now = parse_utc(args.now) if args.now else None
    rows = run_monitor(now, send=args.alert, only=args.source)
    if args.json:
        _print_json(rows)
    else:
        print(
            f"{'source':<14} {'tenant':<10} {'classification':<19} {'latest _loaded_at':<26} "
            f"{'business date':<13} reason"
        )
        for r in rows:
            print(
                f"{r['source']:<14} {r['tenant']:<10} {r['classification']:<19} "
                f"{(r['latest_loaded_at'] or '-')[:25]:<26} {r['latest_business_date'] or '-':<13} "
                f"{r['reason']}"
            )
    return 1 if any(r["classification"] != "healthy" for r in rows) else 0


def _quarantined(args: argparse.Namespace, limit: int | None = None) -> list[tuple]:
    """(tenant, interval start, record number, reasons, raw record) of the quarantined rows asked for."""
    from salestalk.batch import format_utc, parse_utc
    from salestalk.names import QUARANTINE_SCHEMA
    from salestalk.warehouse.tables import table_exists

    source = _source(args.source)
    with _warehouse().connect(tag={"source": source.name, "step": "cli"}) as s:
        d = s.dialect
        i = d.ident
        if not table_exists(s, QUARANTINE_SCHEMA, source.name):
            return []
        where, params = [], []
        if getattr(args, "tenant", None):
            where.append(f"{i('_tenant_id')} = ?")
            params.append(args.tenant)
        if getattr(args, "interval", None):
            where.append(f"{i('_interval_start')} = CAST(? AS {d.column_type('timestamp')})")
            params.append(format_utc(parse_utc(args.interval)))
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

    counts = Counter(
        (tenant, interval, reason)
        for tenant, interval, _, reasons, _ in _quarantined(args)
        for reason in reasons
    )
    print(f"{'tenant':<10} {'interval':<21} {'rows':>5}  reason")
    for (tenant, interval, reason), count in sorted(counts.items()):
        print(f"{tenant:<10} {interval:<21} {count:>5}  {reason}")
    print(f"{sum(counts.values())} quarantine reason(s) in quarantine.{args.source}")
    return 0


def quarantine_show(args: argparse.Namespace) -> int:
    rows = _quarantined(args, limit=args.limit)
    for tenant, _, record_num, reasons, raw in rows:
        print(f"{tenant} #{record_num}: {', '.join(reasons)}")
        print(f"    {raw}")
    print(f"{len(rows)} row(s) shown (--limit {args.limit})")
    return 0


def _s3_client():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from salestalk.settings import get_settings

    return S3Hook(aws_conn_id=get_settings().aws_conn_id).get_conn()


def quarantine_redrive(args: argparse.Namespace) -> int:
    """Re-run validate, quarantine and publish of one batch from its staged rows."""
    from salestalk import pipeline
    from salestalk.batch import Batch, parse_utc
    from salestalk.freshness import next_fire
    from salestalk.settings import get_settings

    source = _source(args.source)
    start = parse_utc(args.interval)
    batch = Batch(
        source=source.name,
        tenant=args.tenant,
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


def _dead_letter_store(tenant: str):
    from salestalk.settings import get_settings
    from salestalk.storage.dead_letter import DeadLetterStore
    from salestalk.storage.tenant_s3 import TenantS3

    return DeadLetterStore(TenantS3(_s3_client(), get_settings().bucket, tenant))


def dead_letter_list(args: argparse.Namespace) -> int:
    records = _dead_letter_store(args.tenant).records(args.entity)
    for r in records:
        print(
            f"{r.s3_key}\n    reason {r.reason}, attempts {r.attempts}, key {r.key}, "
            f"replayable {r.replayable}, first seen {r.first_seen}"
        )
    print(f"{len(records)} dead letter(s) for tenant {args.tenant}, entity {args.entity}")
    return 0


def dead_letter_redrive(args: argparse.Namespace) -> int:
    from salestalk.operators.tenant_dynamodb import dynamodb_client, dynamodb_table
    from salestalk.settings import get_settings
    from salestalk.storage.tenant_dynamodb import TenantDynamoWriter

    if args.entity not in DEAD_LETTER_ENTITIES:
        raise SystemExit(f"unknown entity {args.entity!r}; known: {sorted(DEAD_LETTER_ENTITIES)}")
    store = _dead_letter_store(args.tenant)
    writer = TenantDynamoWriter(
        dynamodb_client(get_settings().aws_conn_id),
        dynamodb_table(),
        args.tenant,
        args.entity,
        dead_letter=store,
        **DEAD_LETTER_ENTITIES[args.entity],
    )
    counts = store.redrive(writer, args.entity).as_dict()
    print(f"redrive tenant {args.tenant} entity {args.entity}: {json.dumps(counts, sort_keys=True)}")
    left = len(store.records(args.entity))
    print(f"{left} dead letter(s) left")
    return 1 if left else 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the operator commands to ``python -m salestalk``."""
    show = commands.add_parser("status", help="counts of a source's interval per tenant (default: newest)")
    show.add_argument("--source", required=True)
    show.add_argument("--interval", help="interval start, e.g. 2026-11-01T00:00:00Z (default: the newest)")
    show.add_argument("--tenant", help="one tenant, with its error rate, failing rules and hold-back reason")
    show.set_defaults(func=status)

    log = commands.add_parser("alerts", help="the local alert log (newest last)")
    log.add_argument("--source")
    log.add_argument("--tenant")
    log.add_argument("--type", help="deadline_missed, task_failed, dq_error_rate, completeness, freshness")
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
    fresh.set_defaults(func=freshness)

    quarantine = commands.add_parser("quarantine", help="inspect and redrive quarantined rows")
    q_commands = quarantine.add_subparsers(dest="quarantine_command", required=True)
    q_list = q_commands.add_parser("list", help="quarantined rows per tenant, interval and failing rule")
    q_show = q_commands.add_parser("show", help="quarantined rows with their reasons and raw records")
    q_redrive = q_commands.add_parser("redrive", help="re-run validate, quarantine, publish of one batch")
    for parser, func in (
        (q_list, quarantine_list),
        (q_show, quarantine_show),
        (q_redrive, quarantine_redrive),
    ):
        parser.add_argument("--source", required=True)
        parser.add_argument("--tenant", required=parser is q_redrive)
        parser.add_argument("--interval", required=parser is q_redrive, help="e.g. 2026-11-01T00:00:00Z")
        parser.set_defaults(func=func)
    q_show.add_argument("--limit", type=int, default=20)
    q_redrive.add_argument("--dry-run", action="store_true", help="validate and quarantine only")

    dead = commands.add_parser("dead-letter", help="DynamoDB dead letters: list and redrive")
    d_commands = dead.add_subparsers(dest="dead_letter_command", required=True)
    for name, func in (("list", dead_letter_list), ("redrive", dead_letter_redrive)):
        parser = d_commands.add_parser(name)
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--entity", default="insight_summary")
        parser.set_defaults(func=func)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m salestalk <command>")
