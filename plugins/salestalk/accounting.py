"""Per-batch row accounting: extracted = passed + quarantined + duplicates dropped, or the batch is flagged.

Also what a batch left in the curated table (:func:`curated_state`), so a rerun that published nothing new
(every passing row already curated: ``stale_skipped``) reads as what it is (:func:`curated_note`).
Readers go through the Warehouse interface only, so they work on every backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salestalk.names import (
    AUDIT,
    BATCH_RESULTS,
    CURATED,
    LOAD,
    PUBLISH,
    QUARANTINE,
    VALIDATE,
    WAREHOUSE_STEPS,
)

if TYPE_CHECKING:
    import datetime as dt

    from salestalk.config.models import SourceConfig
    from salestalk.warehouse.base import Warehouse

COLUMNS = (
    "extracted",
    "landed",
    "staged",
    "passed",
    "quarantined",
    "duplicates_dropped",
    "published",
    "stale_skipped",
)


def summarise(tenant: str, steps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    load = steps.get(LOAD, {})
    validation = steps.get(VALIDATE, {})
    quarantine = steps.get(QUARANTINE, {})
    publish = steps.get(PUBLISH, {})
    summary: dict[str, Any] = {
        "tenant": tenant,
        "extracted": load.get("landed"),
        "landed": load.get("landed"),
        "staged": load.get("staged"),
        "passed": validation.get("passed"),
        "quarantined": quarantine.get("quarantined"),
        "duplicates_dropped": validation.get("duplicates_dropped"),
        "published": publish.get("published"),
        "stale_skipped": publish.get("stale_skipped"),
    }
    missing = [s for s in WAREHOUSE_STEPS if s not in steps]
    if missing:
        summary["problem"] = f"{tenant}: step(s) {', '.join(missing)} did not complete"
    elif publish.get("held_back"):
        summary["problem"] = f"{tenant}: publish held back: {publish['held_back']}"
    elif summary["extracted"] != summary["passed"] + summary["quarantined"] + summary["duplicates_dropped"]:
        summary["problem"] = (
            f"{tenant}: rows do not balance: extracted {summary['extracted']} != passed {summary['passed']} "
            f"+ quarantined {summary['quarantined']} + duplicates {summary['duplicates_dropped']}"
        )
    return summary


def batch_summaries(
    warehouse: Warehouse, source: SourceConfig, interval_start: dt.datetime | str
) -> list[dict[str, Any]]:
    from salestalk.tenant_registry import source_tenants
    from salestalk.warehouse.tables import batch_results

    expected = source_tenants(source)
    by_tenant: dict[str, dict[str, dict]] = {t: {} for t in expected}
    by_tenant.update(batch_results(warehouse, source.name, interval_start))
    return [summarise(tenant, steps) for tenant, steps in sorted(by_tenant.items())]


def format_table(summaries: list[dict[str, Any]], leading: tuple[str, ...] = ("tenant",)) -> str:
    headers = [*leading, *COLUMNS]
    rows = [[("-" if s.get(h) is None else str(s.get(h))) for h in headers] for s in summaries]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if i >= len(leading) else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded)

    return "\n".join([line(headers), *(line(r) for r in rows)])


def curated_state(
    warehouse: Warehouse, source: SourceConfig, interval_start: dt.datetime | str
) -> dict[str, dict[str, Any]]:
    """Per tenant: the rows of this interval now in ``curated.<source>`` (``curated``), the runs that
    published them with their row counts, most rows first (``published_by``), and the run of the last
    publish attempt recorded for the batch (``last_attempt``)."""
    from salestalk.batch import format_utc, parse_utc
    from salestalk.warehouse.tables import table_exists

    start = format_utc(parse_utc(interval_start))
    state: dict[str, dict[str, Any]] = {}

    def entry(tenant: str) -> dict[str, Any]:
        return state.setdefault(tenant, {"curated": 0, "published_by": [], "last_attempt": None})

    from salestalk.tenant_registry import source_tenants

    for tenant in source_tenants(source):
        entry(tenant)
    with warehouse.connect(tag={"source": source.name, "step": "status"}) as s:
        d = s.dialect
        i = d.ident
        at_start = f"CAST(? AS {d.column_type('timestamp')})"
        if table_exists(s, CURATED, source.name):
            for tenant, run_id, rows in s.fetchall(
                f"SELECT {i('_tenant_id')}, {i('_published_run_id')}, COUNT(*) "
                f"FROM {d.table(CURATED, source.name)} WHERE {i('_interval_start')} = {at_start} "
                f"GROUP BY {i('_tenant_id')}, {i('_published_run_id')}",
                [start],
            ):
                entry(tenant)["curated"] += int(rows)
                entry(tenant)["published_by"].append((run_id, int(rows)))
        if table_exists(s, AUDIT, BATCH_RESULTS):
            for tenant, run_id in s.fetchall(
                f"SELECT {i('tenant')}, {i('run_id')} FROM {d.table(AUDIT, BATCH_RESULTS)} "
                f"WHERE {i('source')} = ? AND {i('interval_start')} = {at_start} AND {i('step')} = ?",
                [source.name, start, PUBLISH],
            ):
                entry(tenant)["last_attempt"] = run_id
    for found in state.values():
        found["published_by"].sort(key=lambda pair: (-pair[1], str(pair[0])))
    return dict(sorted(state.items()))


def recorded_intervals(
    warehouse: Warehouse, source: str, tenant: str | None = None, limit: int = 5
) -> list[str]:
    """The newest interval starts recorded for ``source`` (and ``tenant``), newest first."""
    from salestalk.batch import format_utc, parse_utc
    from salestalk.warehouse.tables import table_exists

    with warehouse.connect(tag={"source": source, "step": "status"}) as s:
        d = s.dialect
        i = d.ident
        if not table_exists(s, AUDIT, BATCH_RESULTS):
            return []
        where, params = [f"{i('source')} = ?"], [source]
        if tenant:
            where.append(f"{i('tenant')} = ?")
            params.append(tenant)
        rows = s.fetchall(
            f"SELECT DISTINCT {i('interval_start')} FROM {d.table(AUDIT, BATCH_RESULTS)} "
            f"WHERE {' AND '.join(where)} ORDER BY {i('interval_start')} DESC LIMIT {int(limit)}",
            params,
        )
    return [format_utc(parse_utc(row[0])) for row in rows]


def _runs(published_by: list[tuple[str, int]]) -> str:
    return ", ".join(f"{run} ({rows})" for run, rows in published_by) or "-"


def format_curated(state: dict[str, dict[str, Any]]) -> str:
    """An aligned table: tenant, curated rows of the interval, the runs that published them, last attempt."""
    headers = ["tenant", "curated", "published by (rows)", "last publish attempt"]
    rows = [
        [tenant, str(found["curated"]), _runs(found["published_by"]), found["last_attempt"] or "-"]
        for tenant, found in state.items()
    ]
    widths = [max(len(h), *(len(r[n]) for r in rows)) if rows else len(h) for n, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if n == 1 else cell.ljust(width)
            for n, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def curated_note(source: str, summary: dict[str, Any], found: dict[str, Any]) -> str | None:
    """In words, when the last attempt published nothing because every passing row was already curated."""
    published, stale = summary.get("published"), summary.get("stale_skipped")
    if published != 0 or not stale:
        return None
    return (
        f"{summary['tenant']}: the last attempt ({found['last_attempt'] or 'unknown run'}) was a rerun: its "
        f"{stale} passing rows were already curated, in this version or a newer one (stale_skipped), so it "
        f"published 0 and nothing is lost; "
        f"{found['curated']} rows of this interval are in curated.{source}, published by "
        f"{_runs(found['published_by'])}"
    )
