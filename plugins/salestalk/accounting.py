"""Per-batch row accounting: extracted = passed + quarantined + duplicates dropped, or the batch is flagged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salestalk.names import LOAD, PUBLISH, QUARANTINE, VALIDATE, WAREHOUSE_STEPS

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
    from salestalk.warehouse.tables import batch_results

    by_tenant: dict[str, dict[str, dict]] = {t: {} for t in source.tenants}
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
