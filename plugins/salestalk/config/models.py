"""Pydantic models for one source config. Every model forbids unknown keys."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from salestalk.config.alerting import AlertingConfig
from salestalk.config.tags import TAG_VOCABULARY
from salestalk.tenancy import TENANT_ID_MAX_LENGTH, TENANT_ID_PATTERN, validate_tenant_id

IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
SOURCE_NAME = re.compile(r"[a-z][a-z0-9_]{1,40}")
CONN_ID = re.compile(r"[A-Za-z0-9_.-]{1,250}")
CRON_PRESETS = frozenset({"@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly"})
COLUMN_TYPES = Literal["string", "integer", "float", "boolean", "date", "timestamp"]


def _identifier(value: str) -> str:
    if not IDENTIFIER.fullmatch(value):
        raise ValueError(f"must be a lowercase SQL identifier matching {IDENTIFIER.pattern} (got {value!r})")
    return value


def _conn_id(value: str) -> str:
    if not CONN_ID.fullmatch(value):
        raise ValueError(f"must be an Airflow connection id matching {CONN_ID.pattern} (got {value!r})")
    return value


def _tenant(value: str) -> str:
    return validate_tenant_id(value)


def _schedule(value: str) -> str:
    from croniter import croniter

    if value in CRON_PRESETS or croniter.is_valid(value):
        return value
    raise ValueError(f"must be a cron expression or one of {sorted(CRON_PRESETS)} (got {value!r})")


def _cron_pattern() -> str:
    """A JSON Schema pattern for a 5-field cron expression or a preset; croniter has the last word."""
    months = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
    days = "sun|mon|tue|wed|thu|fri|sat"
    numbers = {
        "minute": "[0-5]?[0-9]",
        "hour": "[01]?[0-9]|2[0-3]",
        "day": "0?[1-9]|[12][0-9]|3[01]",
        "month": f"0?[1-9]|1[0-2]|{months}",
        "weekday": f"[0-7]|{days}",
    }
    fields = []
    for number in numbers.values():
        item = rf"(\*|(?:{number})(?:-(?:{number}))?)(?:/[0-9]+)?"
        fields.append(f"{item}(?:,{item})*")
    presets = "|".join(sorted(p.removeprefix("@") for p in CRON_PRESETS))
    return rf"^(@(?:{presets})|{' +'.join(fields)})$"


def _schema(pattern: str, **extra: object) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "pattern": pattern, **extra})


Identifier = Annotated[str, AfterValidator(_identifier), _schema(f"^{IDENTIFIER.pattern}$")]
ConnId = Annotated[str, AfterValidator(_conn_id), _schema(f"^{CONN_ID.pattern}$")]
TenantId = Annotated[
    str,
    AfterValidator(_tenant),
    _schema(f"^(?!.*--){TENANT_ID_PATTERN.pattern}$", maxLength=TENANT_ID_MAX_LENGTH),
]
Schedule = Annotated[str, AfterValidator(_schedule), _schema(_cron_pattern())]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OnCall(Strict):
    team: str = Field(min_length=1)
    contact: str = Field(min_length=1, description="Slack channel or pager alias that on-call watches.")
    url: str = Field(pattern=r"^https?://", description="Link to the on-call rota or channel.")


class Pagination(Strict):
    style: Literal["cursor", "page"]
    page_size: int = Field(gt=0, le=1000)


class Admission(Strict):
    """Which cursor values a record may carry: inside the requested window, give or take these tolerances.

    A record stamped after the window's end plus ``max_clock_skew_minutes`` is quarantined as
    ``clock_skew(<cursor column>)``; one stamped before the window's start minus
    ``max_clock_skew_minutes + max_lateness_minutes`` as ``before_window(<cursor column>)``.
    """

    max_clock_skew_minutes: int = Field(
        default=5, ge=0, le=24 * 60, description="Tolerance on both ends of the window for a source's clock."
    )
    max_lateness_minutes: int = Field(
        default=0, ge=0, le=31 * 24 * 60, description="How much older than the window a record may still be."
    )


class RestApiExtract(Admission):
    kind: Literal["rest_api"]
    connection: ConnId
    path: str = Field(pattern=r"^/.*\{tenant\}", description="URL path; {tenant} is filled from the run.")
    pagination: Pagination
    rate_limit_per_second: float = Field(gt=0, le=1000)
    cursor_field: Identifier
    overlap_minutes: int = Field(ge=0, le=7 * 24 * 60)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    max_attempts: int = Field(default=6, ge=1, le=20)
    max_retry_after_seconds: int = Field(
        default=300,
        gt=0,
        le=3600,
        description="Longest 429 Retry-After the step waits; beyond it the step fails.",
    )


def _inbound_prefix(value: str) -> str:
    unknown = set(re.findall(r"\{([^}]*)\}", value)) - {"ds"}
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; only {{ds}} is allowed")
    if "//" in value or value.startswith("/") or any(s in {".", ".."} for s in value.split("/")):
        raise ValueError(f"must be a relative prefix without empty, '.' or '..' segments (got {value!r})")
    return value


class S3FilesExtract(Admission):
    kind: Literal["s3_files"]
    prefix_pattern: str = Field(
        pattern=r"^[a-z0-9_/{}-]+/$",
        description="Prefix under tenants/{tenant}/ with {ds} for the interval's date; ends with '/'.",
    )
    format: Literal["csv", "jsonl", "parquet"]

    _prefix = field_validator("prefix_pattern")(_inbound_prefix)


CONTRACT_NAME = re.compile(r"[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*")
FIELD_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,7}")


class EventsExtract(Admission):
    kind: Literal["events"]
    contract: str = Field(pattern=CONTRACT_NAME.pattern, description="A contract under include/contracts/.")
    version: int | None = Field(default=None, ge=1, description="Default: the event's own or the latest.")
    prefix_pattern: str = Field(
        pattern=r"^[a-z0-9_./{}-]+/$",
        description="Prefix under tenants/{tenant}/ with {ds} for the arrival date; ends with '/'.",
    )
    fields: dict[Identifier, str] = Field(
        min_length=1, description="Schema column -> dotted path in the event; the only fields that land."
    )
    max_lateness_minutes: int = Field(
        default=7 * 24 * 60,
        ge=0,
        le=31 * 24 * 60,
        description="How much older than the arrival day an event may be (devices send late).",
    )

    _prefix = field_validator("prefix_pattern")(_inbound_prefix)

    @field_validator("fields")
    @classmethod
    def _paths(cls, fields: dict[str, str]) -> dict[str, str]:
        bad = sorted(path for path in fields.values() if not FIELD_PATH.fullmatch(path))
        if bad:
            raise ValueError(f"invalid event field path(s) {bad}; use dotted names like confidence.overall")
        return fields

    @field_validator("contract")
    @classmethod
    def _contract_exists(cls, value: str) -> str:
        from salestalk import REPO_ROOT

        folder = REPO_ROOT / "include" / "contracts" / value
        if not folder.is_dir():
            raise ValueError(f"unknown contract {value!r}: no folder include/contracts/{value}/")
        return value


Extract = Annotated[RestApiExtract | S3FilesExtract | EventsExtract, Field(discriminator="kind")]


class Column(Strict):
    name: Identifier
    type: COLUMN_TYPES
    enum: list[str] | None = None


class TableSchema(Strict):
    columns: list[Column] = Field(min_length=1)
    primary_key: list[Identifier] = Field(min_length=1)
    cursor_column: Identifier
    business_date_column: Identifier
    asset_partition_column: Identifier | None = Field(
        default=None,
        description=(
            "The date or timestamp column whose UTC day names a curated row's asset partition "
            "(tenant|YYYY-MM-DD) in the publish step's Airflow asset events; default business_date_column."
        ),
    )
    pii: dict[Identifier, Literal["hash", "drop"]] = Field(
        default_factory=dict,
        description="PII columns: hashed per tenant (keyed HMAC) or dropped before landing.",
    )

    @model_validator(mode="after")
    def _columns_are_declared(self) -> TableSchema:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column(s) {duplicates}")
        types = {c.name: c.type for c in self.columns}
        referenced = {
            "primary_key": self.primary_key,
            "cursor_column": [self.cursor_column],
            "business_date_column": [self.business_date_column],
            "asset_partition_column": [self.partition_column],
            "pii": list(self.pii),
        }
        for field, columns in referenced.items():
            missing = [c for c in columns if c not in types]
            if missing:
                raise ValueError(f"{field} names undeclared column(s) {missing}")
        if types[self.cursor_column] != "timestamp":
            raise ValueError(f"cursor_column {self.cursor_column!r} must be a timestamp column")
        if types[self.business_date_column] not in {"date", "timestamp"}:
            raise ValueError(f"business_date_column {self.business_date_column!r} must be a date column")
        if types[self.partition_column] not in {"date", "timestamp"}:
            raise ValueError(f"asset_partition_column {self.partition_column!r} must be a date column")
        return self

    @property
    def partition_column(self) -> str:
        """The column whose UTC day is a curated row's asset partition (see docs/assets.md)."""
        return self.asset_partition_column or self.business_date_column

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


class SnowflakeOptions(Strict):
    """Where the Snowflake backend loads raw Parquet parts from; DuckDB ignores this block."""

    stage: str = Field(
        default="staging.salestalk_raw",
        pattern=r"^([a-z_][a-z0-9_]{0,62}\.){0,2}[a-z_][a-z0-9_]{0,62}$",
        description="Stage name, optionally schema- or database.schema-qualified (lowercase identifiers).",
    )
    stage_kind: Literal["external", "internal"] = Field(
        default="external",
        description="external: a stage over the raw bucket's root, COPY by key; internal: PUT parts, then COPY.",
    )


class QuarantinePolicy(Strict):
    max_error_rate: float = Field(default=0.001, ge=0, le=1)
    on_table_failure: Literal["hold", "publish_passing"] = "hold"


DetectorMode = Literal["warn", "hold"]


class VolumeDetector(Strict):
    mode: DetectorMode = "warn"
    max_drop: float = Field(default=0.5, gt=0, le=1, description="Alert below (1 - max_drop) x the baseline.")
    max_rise: float = Field(default=3.0, gt=1, description="Alert above max_rise x the baseline.")
    noise_sigmas: float = Field(default=5.0, ge=0, description="Also beyond this many sqrt(baseline) rows.")


class NullsDetector(Strict):
    mode: DetectorMode = "warn"
    max_increase: float = Field(default=0.2, gt=0, le=1, description="Null-rate rise over its median.")


class DriftDetector(Strict):
    mode: DetectorMode = "warn"
    max_z: float = Field(default=6.0, gt=0, description="Robust z-score of a numeric column's daily mean.")
    columns: list[Identifier] = Field(default_factory=list, description="Default: every numeric column.")


class FreshnessDetector(Strict):
    mode: DetectorMode = "warn"
    max_cadence_multiple: float = Field(default=3.0, gt=1, description="Alert after this many usual gaps.")


class AnomalyConfig(Strict):
    """Per-tenant anomaly detection before publish (salestalk.quality.anomaly)."""

    enabled: bool = True
    training_days: int = Field(default=28, ge=7, le=366)
    min_history_days: int = Field(default=14, ge=2, le=366)
    volume: VolumeDetector = Field(default_factory=VolumeDetector)
    nulls: NullsDetector = Field(default_factory=NullsDetector)
    drift: DriftDetector = Field(default_factory=DriftDetector)
    freshness: FreshnessDetector = Field(default_factory=FreshnessDetector)


REGISTRY_TENANTS = "registry"


def _tenants_schema(schema: dict[str, Any]) -> None:
    """``tenants`` in the JSON Schema: a unique, non-empty list of tenant ids, or ``registry`` (never null)."""

    def branches(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [b for sub in node.get("anyOf", []) for b in branches(sub)] if "anyOf" in node else [node]

    found = branches(schema)
    listed = next(b for b in found if b.get("type") == "array")
    for key in ("anyOf", "minLength"):
        schema.pop(key, None)
    schema["anyOf"] = [
        {**listed, "uniqueItems": True},
        {"const": REGISTRY_TENANTS, "type": "string"},
    ]


POOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,256}")


class Concurrency(Strict):
    """How much of the executor one source may take at once (README, "Size the workers")."""

    max_active_tasks: int = Field(
        default=16,
        ge=1,
        le=1024,
        description="Task instances of the source's DAG running at once, over all its runs (max_active_tasks).",
    )
    max_active_per_step: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Tenants of one step running at once (max_active_tis_per_dag on each step); unset: no limit.",
    )
    api_pool: str | None = Field(
        default=None,
        pattern=f"^{POOL_NAME.pattern}$",
        description=(
            "Airflow pool of the extract step: bounds the calls to one source API over every source that names "
            "the same pool. Unset: the default_pool. The pool must exist (the local launcher creates it)."
        ),
    )
    api_pool_slots: int = Field(
        default=4,
        ge=1,
        le=1024,
        description="Slots the launcher gives api_pool (sources sharing a pool: the largest value).",
    )
    tenants_per_task: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=(
            "Tenants one step task processes (a shard). Unset: 1 up to 12 tenants; beyond, 25 per task within 4 "
            "to 12 tasks per step (e.g. 8 at 30 tenants, 25 at 100 and 300, 84 at 1000)."
        ),
    )
    tenant_threads: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Tenants of a shard a step task runs at once, in threads.",
    )


class SourceConfig(Strict):
    name: str = Field(pattern=SOURCE_NAME.pattern)
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    oncall: OnCall
    tags: list[str] = Field(
        default_factory=list, json_schema_extra={"items": {"type": "string", "enum": sorted(TAG_VOCABULARY)}}
    )
    schedule: Schedule
    start_date: dt.date
    catchup: bool = False
    max_active_runs: int = Field(default=1, ge=1, le=16)
    retries: int = Field(default=3, ge=2, le=10)
    retry_delay_seconds: int = Field(default=30, gt=0)
    max_retry_delay_seconds: int = Field(default=600, gt=0)
    execution_timeout_minutes: int = Field(default=30, gt=0, le=24 * 60)
    # "registry" is stored as None: the source's tenants are the registry's active ones, read at run time.
    tenants: list[TenantId] | None = Field(
        min_length=1,
        json_schema_extra=_tenants_schema,
        description=(
            "The tenants this source runs, pinned; or `registry`: the tenant registry's active tenants that "
            "have this source, read when each run starts (docs/tenancy.md)."
        ),
    )
    extract: Extract
    table_schema: TableSchema = Field(alias="schema")
    expectation_suite: Identifier
    quarantine: QuarantinePolicy = Field(default_factory=QuarantinePolicy)
    snowflake: SnowflakeOptions = Field(default_factory=SnowflakeOptions)
    freshness_target_minutes: int = Field(default=15, gt=0)
    runbook: str = Field(pattern=r"^(docs/runbooks/[A-Za-z0-9_./-]+\.md|https?://\S+)$")
    alerting: AlertingConfig = Field(default_factory=AlertingConfig)
    anomalies: AnomalyConfig = Field(default_factory=AnomalyConfig)
    concurrency: Concurrency = Field(default_factory=Concurrency)

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @field_validator("start_date", mode="before")
    @classmethod
    def _parse_date(cls, value: object) -> object:
        if isinstance(value, str):
            return dt.date.fromisoformat(value)
        return value

    @field_validator("tags")
    @classmethod
    def _tags_in_vocabulary(cls, tags: list[str]) -> list[str]:
        unknown = sorted(set(tags) - TAG_VOCABULARY)
        if unknown:
            raise ValueError(f"unknown tag(s) {unknown}; allowed: {sorted(TAG_VOCABULARY)}")
        return sorted(set(tags))

    @field_validator("tenants", mode="before")
    @classmethod
    def _tenants_given(cls, tenants: object) -> object:
        if tenants == REGISTRY_TENANTS:
            return None
        if tenants is None or isinstance(tenants, str):
            raise ValueError(f"must be a list of tenant ids, or {REGISTRY_TENANTS!r} (got {tenants!r})")
        return tenants

    @field_validator("tenants")
    @classmethod
    def _tenants_unique(cls, tenants: list[str] | None) -> list[str] | None:
        if tenants is None:
            return None
        duplicates = sorted({t for t in tenants if tenants.count(t) > 1})
        if duplicates:
            raise ValueError(f"duplicate tenant(s) {duplicates}")
        return tenants

    @model_validator(mode="after")
    def _cross_field(self) -> SourceConfig:
        if self.max_retry_delay_seconds < self.retry_delay_seconds:
            raise ValueError("max_retry_delay_seconds must be >= retry_delay_seconds")
        if isinstance(self.extract, RestApiExtract) and self.extract.cursor_field not in (
            self.table_schema.column_names
        ):
            raise ValueError(f"extract.cursor_field {self.extract.cursor_field!r} is not a schema column")
        if isinstance(self.extract, EventsExtract):
            mapped, columns = set(self.extract.fields), set(self.table_schema.column_names)
            if mapped != columns:
                raise ValueError(
                    f"extract.fields must map every schema column exactly: missing {sorted(columns - mapped)}, "
                    f"unknown {sorted(mapped - columns)}"
                )
        return self

    @property
    def dag_id(self) -> str:
        return f"source_{self.name}"

    @property
    def all_tags(self) -> list[str]:
        return sorted({"source", self.extract.kind, *self.tags})
