"""Deliver an alert to each configured route, at most once per dedup key and route.

Before sending, a route claims the key by creating ``{alert dir}/sent/{route}/{dedup key}`` exclusively
(``O_CREAT | O_EXCL``): a second delivery of the same incident, from a retry, a rerun of the callback or
another process, finds the claim and is skipped. A send that fails releases its claim so a later
delivery can try again. Routes are independent: one failing route does not stop the others.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from salestalk.alerting.payload import Alert
    from salestalk.config.alerting import LogRoute, PagerDutyRoute, Route, SlackRoute, SnsRoute

log = logging.getLogger(__name__)

PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
HTTP_TIMEOUT_SECONDS = 10.0
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def alert_dir() -> Path:
    """``SALESTALK_ALERT_DIR``, default ``.local/alerts`` in the repository."""
    from salestalk.settings import LOCAL_DIR

    return Path(os.environ.get("SALESTALK_ALERT_DIR") or LOCAL_DIR / "alerts")


def alert_log_path() -> Path:
    return alert_dir() / "alerts.jsonl"


class DeliveryError(RuntimeError):
    """A route could not deliver an alert."""


def deliver(alert: Alert, routes: Iterable[Route]) -> dict[str, str]:
    """Send ``alert`` to every route; returns ``{route name: sent | duplicate | skipped | error: ...}``."""
    outcome: dict[str, str] = {}
    for route in routes:
        claim = _claim_path(route.name, alert.dedup_key)
        if not _claim(claim):
            log.info("alert %s already delivered to route %s; not sending again", alert.dedup_key, route.name)
            outcome[route.name] = "duplicate"
            continue
        try:
            sent = SENDERS[route.kind](alert, route)
        except Exception as exc:
            claim.unlink(missing_ok=True)
            log.exception("route %s failed to deliver alert %s", route.name, alert.dedup_key)
            outcome[route.name] = f"error: {type(exc).__name__}: {exc}"
            continue
        if sent:
            claim.write_text(json.dumps({"route": route.name, "alert_type": alert.alert_type}))
            outcome[route.name] = "sent"
        else:
            claim.unlink(missing_ok=True)
            outcome[route.name] = "skipped"
    log.warning("alert %s %s -> %s", alert.alert_type, alert.dedup_key, outcome)
    return outcome


def _claim_path(route_name: str, key: str) -> Path:
    return alert_dir() / "sent" / route_name / key


def _claim(path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def send_log(alert: Alert, route: LogRoute) -> bool:
    """Append one JSON line to the local alert log, under an exclusive lock."""
    import fcntl

    path = alert_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (alert.to_json() + "\n").encode()
    with path.open("ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return True


def read_alert_log(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or alert_log_path()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _connection(conn_id: str) -> Any:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def _connection_url(conn: Any, default: str | None = None) -> str:
    host = conn.host or ""
    if not host:
        if default is None:
            raise DeliveryError(f"connection {conn.conn_id!r} has no host (the URL to send to)")
        return default
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
        if conn.port:
            host += f":{conn.port}"
    return host


def post_json(url: str, body: dict[str, Any], timeout: float = HTTP_TIMEOUT_SECONDS) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "salestalk-alerting/1"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        status = response.status
        response.read()
    if not 200 <= status < 300:
        raise DeliveryError(f"POST {url} answered HTTP {status}")
    return status


def slack_body(alert: Alert) -> dict[str, Any]:
    payload = alert.to_dict()
    links = payload["links"]
    return {
        "text": alert.text(),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": alert.what[:2900]}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"<{links['run']}|Airflow run> · <{links['runbook']}|Runbook>",
                    },
                    {"type": "mrkdwn", "text": f"dedup `{alert.dedup_key}`"},
                ],
            },
        ],
    }


def send_slack(alert: Alert, route: SlackRoute) -> bool:
    post_json(_connection_url(_connection(route.connection)), slack_body(alert))
    return True


def pagerduty_body(alert: Alert, routing_key: str) -> dict[str, Any]:
    payload = alert.to_dict()
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.dedup_key,
        "payload": {
            "summary": f"{alert.title}: {alert.what}"[:1024],
            "source": alert.dag_id,
            "severity": alert.severity,
            "component": alert.source,
            "group": ",".join(alert.tenants),
            "class": alert.alert_type,
            "custom_details": {k: payload[k] for k in ("run_id", "tenants", "counts", "details", "what")},
        },
        "links": [
            {"href": payload["links"]["run"], "text": "Airflow run"},
            {"href": payload["links"]["runbook"], "text": "Runbook"},
        ],
        "client": "SalesTalk data pipelines",
        "client_url": payload["links"]["run"],
    }


def send_pagerduty(alert: Alert, route: PagerDutyRoute) -> bool:
    if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[route.min_severity]:
        log.info("alert %s below %s severity; not paging", alert.dedup_key, route.min_severity)
        return False
    conn = _connection(route.connection)
    if not conn.password:
        raise DeliveryError(f"connection {route.connection!r} has no password (the PagerDuty routing key)")
    post_json(_connection_url(conn, PAGERDUTY_EVENTS_URL), pagerduty_body(alert, conn.password))
    return True


def send_sns(alert: Alert, route: SnsRoute) -> bool:
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

    notifier = SnsNotifier(
        aws_conn_id=route.aws_conn_id,
        target_arn=route.topic_arn,
        message=alert.to_json(),
        subject=alert.title[:100],
        message_attributes={"alert_type": alert.alert_type, "dedup_key": alert.dedup_key},
    )
    # notify() directly: the message is JSON, not a template to render.
    notifier.notify({})
    return True


SENDERS = {"log": send_log, "slack": send_slack, "sns": send_sns, "pagerduty": send_pagerduty}
