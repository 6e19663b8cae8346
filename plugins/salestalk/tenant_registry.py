"""The tenant registry: each tenant's status and the sources it has, changed without a deploy.

Airflow-free. Two backends behind one small interface (:class:`TenantRegistry`):

* :class:`FileRegistry` (the embedded default): a YAML file outside the DAG bundle,
  ``.local/tenants.yaml`` unless ``SALESTALK_TENANT_REGISTRY`` names another path. A missing file is an
  empty registry.
* :class:`DynamoRegistry`: items ``pk = REGISTRY#tenants#``, ``sk = <tenant>`` in a DynamoDB table (the app
  table by default). Chosen with ``SALESTALK_TENANT_REGISTRY=dynamodb://<table>`` (``dynamodb://`` alone:
  the app table ``SALESTALK_DYNAMODB_TABLE``). One ``Query`` on one ``pk``; nothing scans.

Only sources whose config says ``tenants: registry`` read the registry, and only at run time (the ``tenants``
select task, the operator commands, the readers); nothing calls it while a DAG file is parsed. A config
that lists ``tenants`` pins them and never reads the registry.

A registry entry whose tenant id is not canonical (:func:`salestalk.tenancy.validate_tenant_id`), or whose
status or sources are malformed, is reported in :attr:`Listing.rejected` and logged, and never run.
Offboarding only changes the status: no data is ever deleted here.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salestalk.tenancy import InvalidTenantId, validate_tenant_id

if TYPE_CHECKING:
    from salestalk.config.models import SourceConfig

log = logging.getLogger(__name__)

REGISTRY_ENV = "SALESTALK_TENANT_REGISTRY"
DYNAMODB_SCHEME = "dynamodb://"
REGISTRY_PK = "REGISTRY#tenants#"


class TenantStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    OFFBOARDED = "offboarded"


class RegistryError(RuntimeError):
    """The registry could not be read or written (unreachable, unreadable file, unknown tenant)."""


class TenantEntry(BaseModel):
    """One tenant of the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str = Field(description="Canonical tenant id (salestalk.tenancy.validate_tenant_id).")
    status: TenantStatus = TenantStatus.ACTIVE
    sources: list[str] = Field(default_factory=list, description="Names of the sources this tenant has.")
    updated_at: str | None = None


class RegistryFile(BaseModel):
    """The file backend's document: ``tenants: [{tenant, status, sources}, ...]``."""

    model_config = ConfigDict(extra="forbid")

    tenants: list[dict[str, Any]] = Field(default_factory=list)


@dataclass(frozen=True)
class Rejected:
    """A registry entry that was skipped, with why."""

    entry: Any
    reason: str

    def __str__(self) -> str:
        return f"{self.entry!r}: {self.reason}"


@dataclass(frozen=True)
class Listing:
    """What the registry holds: valid entries (sorted by tenant) and the rejected ones."""

    entries: tuple[TenantEntry, ...] = ()
    rejected: tuple[Rejected, ...] = field(default_factory=tuple)

    def active_for(self, source: str) -> list[str]:
        """The active tenants that have ``source``, sorted."""
        return [e.tenant for e in self.entries if e.status is TenantStatus.ACTIVE and source in e.sources]

    def get(self, tenant: str) -> TenantEntry | None:
        return next((e for e in self.entries if e.tenant == tenant), None)


def parse_entries(raw: list[Any]) -> Listing:
    """Check each raw entry: canonical id, known status, list of sources; a bad one is rejected, not run."""
    good: dict[str, TenantEntry] = {}
    rejected: list[Rejected] = []
    for item in raw:
        try:
            entry = TenantEntry.model_validate(item)
            validate_tenant_id(entry.tenant)
        except InvalidTenantId as exc:
            rejected.append(Rejected(item, str(exc)))
            continue
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors())
            rejected.append(Rejected(item, reason))
            continue
        if entry.tenant in good:
            rejected.append(Rejected(item, f"duplicate entry for tenant {entry.tenant!r}"))
            continue
        good[entry.tenant] = entry
    for r in rejected:
        log.warning("tenant registry: skipped entry %s", r)
    return Listing(tuple(good[t] for t in sorted(good)), tuple(rejected))


class TenantRegistry(Protocol):
    """Read every entry; write one."""

    def listing(self) -> Listing: ...

    def put(self, entry: TenantEntry) -> None: ...


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FileRegistry:
    """The registry as a YAML file (the embedded default). Writes replace the file atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"file {self.path}"

    def _raw(self) -> list[Any]:
        import yaml

        if not self.path.is_file():
            return []
        try:
            doc = yaml.safe_load(self.path.read_text()) or {}
            return RegistryFile.model_validate(doc).tenants
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise RegistryError(f"tenant registry {self.path} is unreadable: {exc}") from exc

    def listing(self) -> Listing:
        return parse_entries(self._raw())

    def put(self, entry: TenantEntry) -> None:
        import fcntl

        import yaml

        validate_tenant_id(entry.tenant)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(f".{self.path.name}.lock")
        with lock.open("a") as held:  # two commands at once: one read-modify-write after the other
            fcntl.flock(held, fcntl.LOCK_EX)
            raw = [e for e in self._raw() if not (isinstance(e, dict) and e.get("tenant") == entry.tenant)]
            raw.append(entry.model_dump(mode="json"))
            raw.sort(key=lambda e: str(e.get("tenant")) if isinstance(e, dict) else "")
            tmp = self.path.with_name(f".{self.path.name}.partial")
            tmp.write_text(yaml.safe_dump({"tenants": raw}, sort_keys=False))
            tmp.replace(self.path)


class DynamoRegistry:
    """The registry as items of one partition of a DynamoDB table (``pk = REGISTRY#tenants#``)."""

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def __repr__(self) -> str:
        return f"dynamodb table {self.table}"

    def listing(self) -> Listing:
        from boto3.dynamodb.types import TypeDeserializer
        from botocore.exceptions import BotoCoreError, ClientError

        des = TypeDeserializer()
        raw: list[Any] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": REGISTRY_PK}},
        }
        try:
            while True:
                page = self.client.query(**kwargs)
                for item in page.get("Items", []):
                    data = des.deserialize(item["data"]) if "data" in item else {"tenant": item["sk"]["S"]}
                    raw.append(data)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (BotoCoreError, ClientError) as exc:
            raise RegistryError(
                f"tenant registry (dynamodb table {self.table}) is unreachable: {exc}"
            ) from exc
        return parse_entries(raw)

    def put(self, entry: TenantEntry) -> None:
        from boto3.dynamodb.types import TypeSerializer
        from botocore.exceptions import BotoCoreError, ClientError

        validate_tenant_id(entry.tenant)
        data = TypeSerializer().serialize(entry.model_dump(mode="json"))
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": REGISTRY_PK}, "sk": {"S": entry.tenant}, "data": data},
            )
        except (BotoCoreError, ClientError) as exc:
            raise RegistryError(f"tenant registry (dynamodb table {self.table}) write failed: {exc}") from exc


def default_path() -> Path:
    from salestalk.settings import LOCAL_DIR

    return LOCAL_DIR / "tenants.yaml"


def get_registry(location: str | None = None, *, dynamodb_client: Any = None) -> TenantRegistry:
    """The configured registry: ``location`` or ``$SALESTALK_TENANT_REGISTRY`` (a file path or
    ``dynamodb://[table]``), default ``.local/tenants.yaml``. Builds nothing remote until used."""
    where = location if location is not None else os.environ.get(REGISTRY_ENV, "")
    if where.startswith(DYNAMODB_SCHEME):
        from salestalk.settings import get_settings

        table = where[len(DYNAMODB_SCHEME) :] or get_settings().dynamodb_table
        if dynamodb_client is None:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            dynamodb_client = AwsBaseHook(get_settings().aws_conn_id, client_type="dynamodb").get_conn()
        return DynamoRegistry(dynamodb_client, table)
    return FileRegistry(Path(where) if where else default_path())


def from_registry(source: SourceConfig) -> bool:
    """True when the source's config says ``tenants: registry`` (stored as None), so its tenants come from the registry."""
    return source.tenants is None


def pinned_or_empty(source: SourceConfig) -> list[str]:
    """The config's pinned tenants, or ``[]`` for a registry source: for parse time, which never asks."""
    return list(source.tenants or [])


def source_tenants(source: SourceConfig, registry: TenantRegistry | None = None) -> list[str]:
    """The tenants a run of ``source`` processes now: the pinned list, else the registry's active tenants
    that have the source. Run time only: this may call the registry."""
    if not from_registry(source):
        return list(source.tenants)
    return (registry or get_registry()).listing().active_for(source.name)


def known_tenants(source: SourceConfig, registry: TenantRegistry | None = None) -> list[str]:
    """Every tenant ``source`` has or had (any status), for readers of existing data. Run time only."""
    if not from_registry(source):
        return list(source.tenants)
    listing = (registry or get_registry()).listing()
    return [e.tenant for e in listing.entries if source.name in e.sources]


def set_status(
    registry: TenantRegistry, tenant: str, status: TenantStatus, sources: list[str] | None = None
) -> TenantEntry:
    """Write ``tenant``'s status (and, when given, its sources); unknown tenants need ``sources``."""
    validate_tenant_id(tenant)
    current = registry.listing().get(tenant)
    if current is None and sources is None:
        raise RegistryError(f"tenant {tenant!r} is not in the registry ({registry!r}); onboard it first")
    chosen = sorted(set(sources)) if sources is not None else list(current.sources)
    entry = TenantEntry(tenant=tenant, status=status, sources=chosen, updated_at=_now())
    registry.put(entry)
    log.info("tenant registry %r: %s is %s for %s", registry, tenant, status.value, ", ".join(chosen) or "-")
    return entry


def all_tenants(
    configs: Any, registry: TenantRegistry | None = None, *, any_status: bool = False
) -> list[str]:
    """Every tenant of ``configs`` (SourceConfigs), sorted: pinned ones, plus, only if some source reads the
    registry, the registry's active tenants of those sources (``any_status``: of any status, for readers
    of data that offboarded tenants keep). Run time only; asks the registry once."""
    configs = list(configs)
    found = {t for c in configs for t in pinned_or_empty(c)}
    readers = [c for c in configs if from_registry(c)]
    if readers:
        listing = (registry or get_registry()).listing()
        for c in readers:
            if any_status:
                found.update(e.tenant for e in listing.entries if c.name in e.sources)
            else:
                found.update(listing.active_for(c.name))
    return sorted(found)
