"""Alerting settings of a source: deadlines, notifier routes, data-quality and freshness thresholds.

Set globally in ``include/sources/_defaults.yaml`` under ``alerting:`` and overridden per source (nested
mappings merge; a ``routes`` list replaces the default list). Secrets never live here: Slack and PagerDuty
routes name an Airflow connection that holds the webhook URL or the routing key.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CONN_ID = r"^[A-Za-z0-9_.-]{1,250}$"
ROUTE_NAME = r"^[a-z][a-z0-9_-]{0,40}$"
ALERT_TYPES = (
    "deadline_missed",
    "task_failed",
    "dq_error_rate",
    "completeness",
    "freshness",
    "anomaly",
    "cost",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class LogRoute(_Strict):
    """The local alert log (JSON lines): ``SALESTALK_ALERT_DIR/alerts.jsonl``, default ``.local/alerts/``."""

    kind: Literal["log"]
    name: str = Field(default="log", pattern=ROUTE_NAME)


class SlackRoute(_Strict):
    """A Slack incoming webhook; the connection's host is the full webhook URL."""

    kind: Literal["slack"]
    name: str = Field(default="slack", pattern=ROUTE_NAME)
    connection: str = Field(default="salestalk_slack", pattern=CONN_ID)


class SnsRoute(_Strict):
    """An SNS topic, published to with the amazon provider's ``SnsNotifier``."""

    kind: Literal["sns"]
    name: str = Field(default="sns", pattern=ROUTE_NAME)
    topic_arn: str = Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$")
    aws_conn_id: str = Field(default="aws_default", pattern=CONN_ID)


class PagerDutyRoute(_Strict):
    """PagerDuty Events API v2; the connection's password is the routing key, its host the API URL
    (default ``https://events.pagerduty.com/v2/enqueue``)."""

    kind: Literal["pagerduty"]
    name: str = Field(default="pagerduty", pattern=ROUTE_NAME)
    connection: str = Field(default="salestalk_pagerduty", pattern=CONN_ID)
    min_severity: Literal["info", "warning", "error", "critical"] = "error"


Route = Annotated[LogRoute | SlackRoute | SnsRoute | PagerDutyRoute, Field(discriminator="kind")]


class DeadlineSpec(_Strict):
    """One run deadline: page when the run is unfinished ``minutes`` after it started."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    reference: Literal["run_started"] = Field(
        default="run_started",
        description=(
            "Only run_started: Airflow's queued_at deadlines break clearing tasks under Airflow 3.3 "
            "(apache/airflow#70368) and count time spent queued; see docs/runbooks/deadline-missed.md."
        ),
    )
    minutes: float | None = Field(
        default=None, gt=0, le=7 * 24 * 60, description="Default: the source's freshness_target_minutes."
    )


class DataQualityAlerts(_Strict):
    max_error_rate: float = Field(default=0.001, ge=0, le=1, description="Alert above this failing share.")
    min_completeness: float = Field(
        default=0.995, ge=0, le=1, description="Alert below this share of extracted rows accounted for."
    )


class FreshnessAlerts(_Strict):
    max_load_age_minutes: int = Field(default=36 * 60, gt=0, description="Older latest _loaded_at: stale.")
    max_business_date_lag_days: int = Field(
        default=2, ge=0, description="Older latest business date: behind."
    )
    downstream_schedule: str = Field(
        default="@daily",
        description="Cron of the job that consumes the curated table (app_insight_summaries).",
    )

    @field_validator("downstream_schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if value.startswith("@") or croniter.is_valid(value):
            return value
        raise ValueError(f"must be a cron expression or preset (got {value!r})")


class AlertingConfig(_Strict):
    routes: list[Route] = Field(default_factory=lambda: [LogRoute(kind="log")], min_length=1)
    deadlines: list[DeadlineSpec] = Field(
        default_factory=lambda: [DeadlineSpec(name="freshness_target")],
        description="Deadline Alerts of every run; an empty list means none.",
    )
    data_quality: DataQualityAlerts = Field(default_factory=DataQualityAlerts)
    freshness: FreshnessAlerts = Field(default_factory=FreshnessAlerts)

    @model_validator(mode="after")
    def _unique_names(self) -> AlertingConfig:
        for what, names in (
            ("route", [r.name for r in self.routes]),
            ("deadline", [d.name for d in self.deadlines]),
        ):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise ValueError(f"duplicate {what} name(s) {duplicates}; give each a distinct 'name'")
        return self


# Runbooks that no single alert type owns: the alerts and task errors above lead to them.
OTHER_RUNBOOKS = (
    "quarantine_redrive",
    "dead_letter_redrive",
    "source_api",
    "schema_drift",
    "cross_tenant_write_blocked",
)


def runbook_for(alert_type: str) -> str:
    """The repository path of the runbook for ``alert_type`` (or one of ``OTHER_RUNBOOKS``)."""
    if alert_type not in ALERT_TYPES + OTHER_RUNBOOKS:
        raise ValueError(f"unknown alert type or runbook {alert_type!r}")
    return f"docs/runbooks/{re.sub('_', '-', alert_type)}.md"
