"""The alert payload: what every route sends, with links and a dedup key."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from salestalk.config.alerting import ALERT_TYPES, runbook_for

PAYLOAD_SCHEMA = "salestalk.alert/v1"
DOCS_BASE_URL = "https://github.com/salestalk/data-pipelines/blob/main/"
SEVERITIES = ("info", "warning", "error", "critical")
DEFAULT_SEVERITY = {
    "deadline_missed": "error",
    "task_failed": "error",
    "dq_error_rate": "warning",
    "completeness": "error",
    "freshness": "warning",
    "anomaly": "warning",
    "cost": "warning",
}


def docs_url(path: str) -> str:
    """The browsable URL of a repository file (``SALESTALK_DOCS_BASE_URL`` + path)."""
    if path.startswith(("http://", "https://")):
        return path
    return os.environ.get("SALESTALK_DOCS_BASE_URL", DOCS_BASE_URL) + path


def airflow_ui_base() -> str:
    """The Airflow UI's base URL: ``SALESTALK_AIRFLOW_UI_URL``, else ``[api] base_url``, else localhost."""
    for name in ("SALESTALK_AIRFLOW_UI_URL", "AIRFLOW__API__BASE_URL"):
        if os.environ.get(name):
            return os.environ[name].rstrip("/")
    return "http://localhost:8080"


def run_url(dag_id: str, run_id: str | None, task_id: str | None = None, map_index: int | None = None) -> str:
    """A deep link to a DAG run (or one task instance of it) in the Airflow 3 UI."""
    base = f"{airflow_ui_base()}/dags/{quote(dag_id, safe='')}"
    if not run_id:
        return base
    url = f"{base}/runs/{quote(run_id, safe='')}"
    if task_id:
        url += f"/tasks/{quote(task_id, safe='')}"
        if map_index is not None and map_index >= 0:
            url += f"/mapped/{map_index}"
    return url


def dedup_key(
    alert_type: str, dag_id: str, run_id: str | None, tenants: tuple[str, ...], incident: str
) -> str:
    """The same incident always gives the same key: type, DAG, run (or interval), tenants, what broke."""
    identity = "|".join([alert_type, dag_id, run_id or "-", ",".join(sorted(tenants)), incident])
    return "salestalk-" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Alert:
    """One alert. ``incident`` names what broke within the run (deadline name, task id, classification);
    together with the type, DAG, run and tenants it makes the dedup key."""

    alert_type: str
    source: str
    dag_id: str
    run_id: str | None
    tenants: tuple[str, ...]
    what: str
    counts: dict[str, Any]
    incident: str
    severity: str = ""
    run_link: str = ""
    source_runbook: str = "docs/runbooks/source-pipeline.md"
    details: dict[str, Any] = field(default_factory=dict)
    interval_start: str | None = None
    interval_end: str | None = None
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.alert_type not in ALERT_TYPES:
            raise ValueError(f"unknown alert type {self.alert_type!r}; expected one of {ALERT_TYPES}")
        object.__setattr__(self, "tenants", tuple(sorted(set(self.tenants))))
        object.__setattr__(self, "severity", self.severity or DEFAULT_SEVERITY[self.alert_type])
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not self.run_link:
            object.__setattr__(self, "run_link", run_url(self.dag_id, self.run_id))

    @property
    def dedup_key(self) -> str:
        return dedup_key(self.alert_type, self.dag_id, self.run_id, self.tenants, self.incident)

    @property
    def runbook_path(self) -> str:
        return runbook_for(self.alert_type)

    @property
    def title(self) -> str:
        tenants = ",".join(self.tenants) or "-"
        label = self.alert_type.replace("_", " ")
        return f"[{self.severity.upper()}] {label}: {self.source} ({tenants})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": PAYLOAD_SCHEMA,
            "alert_type": self.alert_type,
            "severity": self.severity,
            "title": self.title,
            "source": self.source,
            "dag_id": self.dag_id,
            "tenants": list(self.tenants),
            "run_id": self.run_id,
            "interval_start": self.interval_start,
            "interval_end": self.interval_end,
            "what": self.what,
            "counts": self.counts,
            "details": self.details,
            "links": {
                "run": self.run_link,
                "runbook": docs_url(self.runbook_path),
                "runbook_path": self.runbook_path,
                "source_runbook": docs_url(self.source_runbook),
                "source_runbook_path": self.source_runbook,
            },
            "dedup_key": self.dedup_key,
            "created_at": self.created_at,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    def text(self) -> str:
        """Plain text for chat and e-mail-like routes."""
        counts = ", ".join(f"{k}={v}" for k, v in self.counts.items() if not isinstance(v, dict))
        lines = [
            self.title,
            self.what,
            f"run: {self.run_id or '-'}"
            + (f"  interval: {self.interval_start}" if self.interval_start else ""),
        ]
        if counts:
            lines.append(f"counts: {counts}")
        lines += [
            f"Airflow: {self.run_link}",
            f"Runbook: {docs_url(self.runbook_path)}",
            f"dedup: {self.dedup_key}",
        ]
        return "\n".join(lines)
