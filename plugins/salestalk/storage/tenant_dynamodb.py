"""Tenant-safe DynamoDB writes: one table, every key inside the run's tenant, nothing silently dropped.

Table design
============

One table, ``PAY_PER_REQUEST``, shared by every tenant and entity (see :func:`table_definition`).

=============  =====  ==========================================================================
attribute      type   meaning
=============  =====  ==========================================================================
pk             S      ``TENANT#{tenant}#{entity}#``. Terminated by ``#``, so tenant ``t1`` can never
                      match ``t10``, not even in a ``begins_with``.
sk             S      the entity's own id: 1-512 UTF-8 bytes, NFC, no control characters.
gsi1pk         S      equal to ``pk``; present only when the writer has a ``timestamp_field`` and the
                      item carries it (a sparse index).
gsi1sk         S      that ISO-8601 timestamp (e.g. ``computedAt``). Index ``gsi1`` (projection ALL)
                      answers "latest N of an entity for a tenant".
data           M      the item exactly as given (absent on offloaded items).
payload_hash   S      sha256 of the item's canonical JSON: tells a retry after a lost response
                      (same hash, ``duplicate``) from a conflicting write (different hash).
expires_at     N      epoch seconds, the table's TTL attribute. DynamoDB deletes expired items
                      late (and moto never), so every read filters them out itself.
item_version   N|S    ``put_if_newer`` only: the version its conditional write compares.
offload_key    S      oversize items only: the S3 key ``tenants/{tenant}/offload/{entity}/{sha256}.json``
                      holding the item.
item_size      N      oversize items only: the item's DynamoDB size in bytes.
=============  =====  ==========================================================================

Every read is a ``Query`` on one ``pk`` (or ``gsi1pk``); nothing here ever scans.

Retries
=======

The writer owns retries: throttling, 5xx, timeouts and dropped connections are retried with full-jitter
exponential backoff (:mod:`salestalk.storage.backoff`) up to ``max_attempts`` per request, and whatever
is still unwritten goes to the dead-letter store. Give the writer a client built with
:data:`WRITER_CLIENT_CONFIG` (botocore retries off: ``total_max_attempts=1``), e.g.
``AwsBaseHook(aws_conn_id, client_type="dynamodb", config=WRITER_CLIENT_CONFIG).get_conn()`` (a resource's
``.meta.client`` re-wraps attribute values and is refused). With any other
client the writer accounts for botocore's retries explicitly: they nest inside each of the writer's
attempts, so one request may reach DynamoDB up to ``max_attempts * sdk_attempts_per_call`` times; the
writer logs that bound at construction. Retrying a conditional put is safe because a retry of a write
that already committed fails its condition and is then recognised by its ``payload_hash``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from decimal import Decimal, DecimalException
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol

from boto3.dynamodb.types import DYNAMODB_CONTEXT, TypeDeserializer
from botocore.config import Config

from salestalk.storage.backoff import AWS_CALL_ERRORS, Backoff, error_code, transient_error_code
from salestalk.storage.item_size import dynamodb_item_size
from salestalk.tenancy import validate_tenant_id

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from salestalk.storage.tenant_s3 import TenantS3


class DeadLetterSink(Protocol):
    """Where items that could not be written are filed (:class:`salestalk.storage.dead_letter.DeadLetterStore`)."""

    def record(
        self,
        *,
        entity: str,
        item: Mapping[str, Any],
        key: dict[str, str] | None,
        reason: str,
        attempts: int,
        mode: WriteMode | None,
        details: Mapping[str, Any] | None = None,
    ) -> str: ...


log = logging.getLogger(__name__)

GSI_NAME = "gsi1"
TTL_ATTRIBUTE = "expires_at"
TENANT_FIELD = "tenantId"
MAX_BATCH_ITEMS = 25
MAX_ITEM_ID_BYTES = 512
DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
LEGACY_DYNAMODB_ATTEMPTS = 10
STANDARD_ATTEMPTS = 3
ENTITY_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,62}")
# Errors caused by one item (or one batch's content), as opposed to the table, the credentials or our code.
ITEM_ERROR_CODES = frozenset(
    {
        "ValidationException",
        "ItemCollectionSizeLimitExceededException",
        "ConditionalCheckFailedException",
    }
)
CONDITION_FAILED = "ConditionalCheckFailedException"

WRITER_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 1},
    connect_timeout=5,
    read_timeout=30,
)

_deserializer = TypeDeserializer()


class InvalidItemId(ValueError):
    """An item id that cannot be a sort key. The message never quotes the id."""


class InvalidEntity(ValueError):
    """An entity name that cannot be part of a partition key."""


class CountsMismatch(AssertionError):
    """The writer's counts do not add up: an item would have gone unaccounted for."""


class PartitionMismatch(RuntimeError):
    """A read returned an item from a partition other than the one asked for."""


# ---- keys -----------------------------------------------------------------------------------------


def validate_entity(entity: object) -> str:
    if not isinstance(entity, str) or not ENTITY_PATTERN.fullmatch(entity):
        raise InvalidEntity(f"entity {entity!r} must be lowercase letters, digits, '_' or '-' (max 63)")
    return entity


def validate_item_id(value: object) -> str:
    """An id usable as a sort key: a non-empty, NFC, control-free string (or int) of at most 512 bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidItemId(f"item id must be a string or integer (got {type(value).__name__})")
    if not value:
        raise InvalidItemId("item id is empty")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidItemId("item id is not valid UTF-8 (lone surrogate)") from None
    if size > MAX_ITEM_ID_BYTES:
        raise InvalidItemId(f"item id is {size} bytes, over the {MAX_ITEM_ID_BYTES}-byte limit")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidItemId("item id holds a control character")
    if unicodedata.normalize("NFC", value) != value:
        raise InvalidItemId("item id is not NFC-normalised")
    return value


def partition_key(tenant: str, entity: str) -> str:
    return f"TENANT#{validate_tenant_id(tenant)}#{validate_entity(entity)}#"


def build_item_key(tenant: str, entity: str, item_id: object) -> dict[str, str]:
    """The one builder of item keys: ``{"pk": "TENANT#{tenant}#{entity}#", "sk": item_id}``."""
    return {"pk": partition_key(tenant, entity), "sk": validate_item_id(item_id)}


# ---- table ----------------------------------------------------------------------------------------


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for ``create_table``: the single table and its ``gsi1`` index."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": GSI_NAME,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }


def enable_ttl(client, table: str) -> None:
    """Turn on TTL on ``expires_at``; a no-op when it is already on."""
    current = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    if current.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        if current.get("AttributeName") != TTL_ATTRIBUTE:
            raise ValueError(f"table {table} already has TTL on {current.get('AttributeName')!r}")
        return
    client.update_time_to_live(
        TableName=table,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )


def sdk_attempts_per_call(client) -> int:
    """How many times botocore itself may send one request (1 when its retries are off)."""
    retries = getattr(getattr(client.meta, "config", None), "retries", None) or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) + 1
    return LEGACY_DYNAMODB_ATTEMPTS if retries.get("mode") == "legacy" else STANDARD_ATTEMPTS


# ---- values ---------------------------------------------------------------------------------------


def canonical_json(item: Mapping[str, Any]) -> bytes:
    """Deterministic JSON of ``item``. A value DynamoDB cannot hold (NaN, a datetime) is written as a tagged
    stand-in, so that even an item refused for it has a hash and can be dead-lettered."""
    return json.dumps(
        item, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True, default=_stand_in
    ).encode("utf-8")


def _stand_in(value: Any) -> dict[str, str]:
    return {"unrepresentable": type(value).__name__, "repr": repr(value)[:200]}


def payload_hash(item: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(item)).hexdigest()


UNREPRESENTABLE = "unrepresentable_value"


class UnrepresentableValue(TypeError, ValueError):
    """A value DynamoDB cannot hold as JSON; ``field`` is its dotted path in the item."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def to_attribute_value(value: Any, path: str = "$") -> dict[str, Any]:
    """A JSON value in DynamoDB's low-level form. Anything else raises :class:`UnrepresentableValue`."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        try:
            return {"N": _number_text(value)}
        except ValueError as exc:
            raise UnrepresentableValue(path, str(exc)) from None
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list | tuple):
        return {"L": [to_attribute_value(v, f"{path}[{n}]") for n, v in enumerate(value)]}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise UnrepresentableValue(path, "map keys must be strings")
        return {
            "M": {k: to_attribute_value(v, k if path == "$" else f"{path}.{k}") for k, v in value.items()}
        }
    raise UnrepresentableValue(path, f"{type(value).__name__} is not a JSON value")


def _number_text(number: float) -> str:
    # DYNAMODB_CONTEXT traps inexact and out-of-range numbers (38 significant digits, 1e-130..1e126).
    try:
        decimal = DYNAMODB_CONTEXT.create_decimal(repr(number) if isinstance(number, float) else number)
    except DecimalException:
        raise ValueError("number does not fit DynamoDB's 38 significant digits and range") from None
    if not decimal.is_finite():
        raise ValueError("NaN and infinity are not JSON numbers")
    return str(decimal)


def from_attribute_value(value: Mapping[str, Any]) -> Any:
    return _plain(_deserializer.deserialize(value))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# ---- results --------------------------------------------------------------------------------------


class Outcome(StrEnum):
    WRITTEN = "written"
    DUPLICATE = "duplicate"
    STALE = "stale"
    CONFLICT = "conflict"
    BLOCKED = "blocked"
    DEAD_LETTERED = "dead_lettered"


# Outcomes after which the item (or a newer version of it) is safely in the table.
SETTLED = frozenset({Outcome.WRITTEN, Outcome.DUPLICATE, Outcome.STALE})
# Outcomes that put the item in the dead-letter store.
NEEDS_DEAD_LETTER = frozenset({Outcome.BLOCKED, Outcome.CONFLICT, Outcome.DEAD_LETTERED})


@dataclass(frozen=True)
class WriteMode:
    """How items were (and, on redrive, will again be) written."""

    method: Literal["put_once", "put_if_newer", "batch_put"]
    id_field: str
    version_field: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


@dataclass(frozen=True)
class ItemResult:
    """What happened to the ``index``-th item of one call. ``details`` hold hashes, sizes, codes: no values."""

    index: int
    outcome: Outcome
    key: dict[str, str] | None
    reason: str | None = None
    attempts: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    offloaded: bool = False


@dataclass
class WriteCounts:
    """Per-call counts. ``attempted == blocked + written + duplicate + stale + dead_lettered``, always."""

    attempted: int = 0
    blocked: int = 0
    written: int = 0
    duplicate: int = 0
    stale: int = 0
    conflict: int = 0  # a breakdown of dead_lettered
    dead_lettered: int = 0
    offloaded: int = 0  # a breakdown of written

    @classmethod
    def from_results(cls, results: Iterable[ItemResult]) -> WriteCounts:
        counts = cls()
        for result in results:
            counts.attempted += 1
            if result.offloaded and result.outcome is Outcome.WRITTEN:
                counts.offloaded += 1
            if result.outcome is Outcome.CONFLICT:
                counts.conflict += 1
                counts.dead_lettered += 1
            else:
                setattr(counts, result.outcome.value, getattr(counts, result.outcome.value) + 1)
        return counts

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def check(self) -> WriteCounts:
        accounted = self.blocked + self.written + self.duplicate + self.stale + self.dead_lettered
        if accounted != self.attempted or self.conflict > self.dead_lettered or self.offloaded > self.written:
            raise CountsMismatch(f"write counts do not add up: {self.as_dict()}")
        return self


@dataclass(frozen=True)
class _Prepared:
    index: int
    key: dict[str, str]
    payload_hash: str
    record: dict[str, Any]
    version: Any = None
    offload_body: bytes | None = None


@dataclass(frozen=True)
class _Call:
    attempts: int
    response: dict[str, Any] | None = None
    error: BaseException | None = None
    exhausted: bool = False


# ---- writer ---------------------------------------------------------------------------------------


class TenantDynamoWriter:
    """Writes one entity's items for one tenant. Every key is built here, inside that tenant."""

    def __init__(
        self,
        client,
        table: str,
        tenant: str,
        entity: str,
        *,
        ttl_days: int,
        dead_letter: DeadLetterSink,
        max_item_bytes: int = 350_000,
        oversize: Literal["offload", "reject"] = "reject",
        offload: TenantS3 | None = None,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        timestamp_field: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tenant = validate_tenant_id(tenant)
        self.entity = validate_entity(entity)
        _check_options(ttl_days, max_item_bytes, oversize, offload, dead_letter, self.tenant)
        self.client = client
        self.table = table
        self.ttl_seconds = ttl_days * 86_400
        self.max_item_bytes = max_item_bytes
        self.oversize = oversize
        self.offload = offload
        self.dead_letter = dead_letter
        self.timestamp_field = timestamp_field
        self.clock = clock
        self.backoff = Backoff(max_attempts, base_delay, max_delay, sleep, rng or random.Random())
        self.sdk_attempts_per_call = sdk_attempts_per_call(client)
        if self.sdk_attempts_per_call > 1:
            log.warning(
                "botocore retries are on for this client (%d attempts per call): one request may be sent "
                "up to %d times; build the client with WRITER_CLIENT_CONFIG",
                self.sdk_attempts_per_call,
                self.sdk_attempts_per_call * max_attempts,
            )

    def item_key(self, entity: str, item_id: object) -> dict[str, str]:
        return build_item_key(self.tenant, entity, item_id)

    # -- writes --

    def put_once(self, items: Iterable[dict], id_field: str) -> WriteCounts:
        """Create each item once; a retry of the same content is ``duplicate``, other content a ``conflict``."""
        return self._run(items, WriteMode("put_once", id_field))

    def put_if_newer(self, items: Iterable[dict], id_field: str, version_field: str) -> WriteCounts:
        """Write each item unless the table holds the same or a newer version of it."""
        return self._run(items, WriteMode("put_if_newer", id_field, version_field))

    def batch_put(self, items: Iterable[dict], id_field: str) -> WriteCounts:
        """Unconditional, idempotent writes (content is a function of the key), 25 items a request."""
        return self._run(items, WriteMode("batch_put", id_field))

    def write_items(
        self, items: Iterable[dict], mode: WriteMode, *, dead_letter_failures: bool = True
    ) -> list[ItemResult]:
        """One result per item, in order. Every item is checked before the first request is sent."""
        items = list(items)
        prepared = [self._prepare(index, item, mode) for index, item in enumerate(items)]
        results = self._execute(prepared, mode)
        if [r.index for r in results] != list(range(len(items))):
            raise CountsMismatch(f"{len(items)} items in, {len(results)} results out")
        if dead_letter_failures:
            self._dead_letter(items, results, mode)
        return results

    def _run(self, items: Iterable[dict], mode: WriteMode) -> WriteCounts:
        counts = WriteCounts.from_results(self.write_items(items, mode)).check()
        log.info(
            "dynamodb %s table=%s tenant=%s entity=%s counts=%s",
            mode.method,
            self.table,
            self.tenant,
            self.entity,
            counts.as_dict(),
        )
        return counts

    # -- preparing (no I/O) --

    def _prepare(self, index: int, item: dict, mode: WriteMode) -> _Prepared | ItemResult:
        if not isinstance(item, dict):
            raise TypeError(f"item {index} is a {type(item).__name__}, not a dict")
        digest = payload_hash(item)
        key, key_problem = self._key_or_problem(item.get(mode.id_field))
        if TENANT_FIELD in item and item[TENANT_FIELD] != self.tenant:
            return ItemResult(index, Outcome.BLOCKED, key, "cross_tenant")
        if key is None:
            details = {"id_field": mode.id_field, "problem": key_problem}
            return ItemResult(index, Outcome.DEAD_LETTERED, None, "invalid_key", details=details)
        try:
            data = to_attribute_value(item)
        except UnrepresentableValue as exc:
            details = {"id": key["sk"], "field": exc.field, "problem": exc.problem}
            return ItemResult(index, Outcome.DEAD_LETTERED, key, UNREPRESENTABLE, details=details)
        version = item.get(mode.version_field) if mode.version_field else None
        if mode.version_field and not _is_version(version):
            details = {"version_field": mode.version_field}
            return ItemResult(index, Outcome.DEAD_LETTERED, key, "invalid_version", details=details)
        record = self._record(key, digest, item, version)
        size = dynamodb_item_size({**record, "data": data})
        if size <= self.max_item_bytes:
            return _Prepared(index, key, digest, {**record, "data": data}, version)
        if self.oversize == "reject":
            details = {"size": size, "max_item_bytes": self.max_item_bytes}
            return ItemResult(index, Outcome.DEAD_LETTERED, key, "too_large", details=details)
        offload_key = self.offload.key("offload", self.entity, f"{digest}.json")
        pointer = {**record, "offload_key": {"S": offload_key}, "item_size": {"N": str(size)}}
        return _Prepared(index, key, digest, pointer, version, offload_body=canonical_json(item))

    def _key_or_problem(self, item_id: object) -> tuple[dict[str, str] | None, str | None]:
        try:
            return self.item_key(self.entity, item_id), None
        except InvalidItemId as error:
            return None, str(error)

    def _record(self, key: dict[str, str], digest: str, item: dict, version: Any) -> dict[str, Any]:
        record = {
            "pk": {"S": key["pk"]},
            "sk": {"S": key["sk"]},
            "payload_hash": {"S": digest},
            TTL_ATTRIBUTE: {"N": str(int(self.clock()) + self.ttl_seconds)},
        }
        timestamp = item.get(self.timestamp_field) if self.timestamp_field else None
        if isinstance(timestamp, str) and timestamp:
            record |= {"gsi1pk": {"S": key["pk"]}, "gsi1sk": {"S": timestamp}}
        if version is not None:
            record["item_version"] = to_attribute_value(version)
        return record

    # -- executing --

    def _execute(self, prepared: list[_Prepared | ItemResult], mode: WriteMode) -> list[ItemResult]:
        ready = [p for p in prepared if isinstance(p, _Prepared)]
        results = [r for r in prepared if isinstance(r, ItemResult)]
        self._upload_offloaded(ready)
        if mode.method == "batch_put":
            results += self._batch_put(ready)
        else:
            results += [self._conditional_put(p, mode) for p in ready]
        return sorted(results, key=lambda r: r.index)

    def _upload_offloaded(self, ready: list[_Prepared]) -> None:
        # Content-addressed and uploaded before the pointer item, so a pointer never dangles.
        for p in ready:
            if p.offload_body is not None:
                self.offload.put_bytes(p.record["offload_key"]["S"], p.offload_body, "application/json")

    def _call(self, operation: str, **kwargs: Any) -> _Call:
        """Call ``operation`` with the writer's retries; item-level errors are returned, others raised."""
        last_error: BaseException | None = None
        for attempt in range(self.backoff.max_attempts):
            try:
                return _Call(attempt + 1, response=getattr(self.client, operation)(**kwargs))
            except AWS_CALL_ERRORS as error:
                code = transient_error_code(error)
                if code is None:
                    if error_code(error) not in ITEM_ERROR_CODES:
                        raise
                    return _Call(attempt + 1, error=error)
                last_error = error
                log.info(
                    "%s: transient %s (attempt %d of %d)",
                    operation,
                    code,
                    attempt + 1,
                    self.backoff.max_attempts,
                )
            if attempt + 1 < self.backoff.max_attempts:
                self.backoff.pause(attempt)
        return _Call(self.backoff.max_attempts, error=last_error, exhausted=True)

    def _conditional_put(self, p: _Prepared, mode: WriteMode) -> ItemResult:
        condition, names, values = "attribute_not_exists(#pk)", {"#pk": "pk"}, {}
        if mode.method == "put_if_newer":
            condition += " OR #v < :v"
            names["#v"] = "item_version"
            values[":v"] = p.record["item_version"]
        call = self._call(
            "put_item",
            TableName=self.table,
            Item=p.record,
            ConditionExpression=condition,
            ExpressionAttributeNames=names,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **({"ExpressionAttributeValues": values} if values else {}),
        )
        if call.error is None:
            return self._result(p, Outcome.WRITTEN, call.attempts)
        if call.exhausted or error_code(call.error) != CONDITION_FAILED:
            return self._failed(p, call)
        existing = call.error.response.get("Item")
        if existing is None:  # a service without ReturnValuesOnConditionCheckFailure: read it back
            read = self._read_existing(p.key)
            if read.error is not None:
                return self._failed(p, read)
            existing = read.response.get("Item")
        return self._compare_with_existing(p, existing, call.attempts)

    def _read_existing(self, key: dict[str, str]) -> _Call:
        av_key = {"pk": {"S": key["pk"]}, "sk": {"S": key["sk"]}}
        return self._call("get_item", TableName=self.table, Key=av_key, ConsistentRead=True)

    def _compare_with_existing(self, p: _Prepared, existing: dict | None, attempts: int) -> ItemResult:
        existing_hash = (existing or {}).get("payload_hash", {}).get("S")
        if existing_hash == p.payload_hash:
            return self._result(p, Outcome.DUPLICATE, attempts)
        existing_version = (existing or {}).get("item_version")
        if (
            p.version is not None
            and existing_version
            and _is_older(p.record["item_version"], existing_version)
        ):
            return self._result(p, Outcome.STALE, attempts)
        details = {"existing_hash": existing_hash, "incoming_hash": p.payload_hash}
        return ItemResult(p.index, Outcome.CONFLICT, p.key, "conflict", attempts, details)

    def _batch_put(self, ready: list[_Prepared]) -> list[ItemResult]:
        latest = {(p.key["pk"], p.key["sk"]): p for p in ready}
        unique = list(latest.values())
        kept = {id(p) for p in unique}
        results = [self._result(p, Outcome.DUPLICATE, 0) for p in ready if id(p) not in kept]
        for start in range(0, len(unique), MAX_BATCH_ITEMS):
            results += self._write_chunk(unique[start : start + MAX_BATCH_ITEMS])
        return results

    def _write_chunk(self, chunk: list[_Prepared]) -> list[ItemResult]:
        """BatchWriteItem, retried until every item is written or the attempts run out."""
        pending, results, last_error = chunk, [], ""
        for attempt in range(self.backoff.max_attempts):
            try:
                unprocessed = self._send_batch(pending)
            except AWS_CALL_ERRORS as error:
                last_error = transient_error_code(error)
                if last_error is None:
                    return results + self._split_rejected_batch(pending, error)
            else:
                results += [
                    self._result(p, Outcome.WRITTEN, attempt + 1)
                    for p in pending
                    if _key(p) not in unprocessed
                ]
                pending = [p for p in pending if _key(p) in unprocessed]
                if not pending:
                    return results
                last_error = "UnprocessedItems"
            log.info(
                "batch_write_item: %d of %d items not written (%s, attempt %d)",
                len(pending),
                len(chunk),
                last_error,
                attempt + 1,
            )
            if attempt + 1 < self.backoff.max_attempts:
                self.backoff.pause(attempt)
        details = {"last_error": last_error}
        return results + [
            ItemResult(p.index, Outcome.DEAD_LETTERED, p.key, "retries_exhausted", attempt + 1, details)
            for p in pending
        ]

    def _send_batch(self, pending: list[_Prepared]) -> set[tuple[str, str]]:
        """Send one BatchWriteItem; return the keys DynamoDB left unprocessed."""
        requests = [{"PutRequest": {"Item": p.record}} for p in pending]
        response = self.client.batch_write_item(RequestItems={self.table: requests})
        return _unprocessed_keys(response, self.table)

    def _split_rejected_batch(self, pending: list[_Prepared], error: BaseException) -> list[ItemResult]:
        # A batch rejected for its content is sent item by item, so one bad item cannot hold back the rest.
        if error_code(error) not in ITEM_ERROR_CODES:
            raise error
        return [self._put_unconditionally(p) for p in pending]

    def _put_unconditionally(self, p: _Prepared) -> ItemResult:
        call = self._call("put_item", TableName=self.table, Item=p.record)
        return (
            self._result(p, Outcome.WRITTEN, call.attempts) if call.error is None else self._failed(p, call)
        )

    def _failed(self, p: _Prepared, call: _Call) -> ItemResult:
        if call.exhausted:
            details = {"last_error": transient_error_code(call.error)}
            return ItemResult(
                p.index, Outcome.DEAD_LETTERED, p.key, "retries_exhausted", call.attempts, details
            )
        details = {"error": error_code(call.error)}
        return ItemResult(p.index, Outcome.DEAD_LETTERED, p.key, "rejected", call.attempts, details)

    @staticmethod
    def _result(p: _Prepared, outcome: Outcome, attempts: int) -> ItemResult:
        return ItemResult(p.index, outcome, p.key, attempts=attempts, offloaded=p.offload_body is not None)

    def _dead_letter(self, items: list[dict], results: list[ItemResult], mode: WriteMode) -> None:
        for result in results:
            if result.outcome not in NEEDS_DEAD_LETTER:
                continue
            self.dead_letter.record(
                entity=self.entity,
                item=items[result.index],
                key=result.key,
                reason=result.reason,
                attempts=result.attempts,
                mode=None if result.reason == UNREPRESENTABLE else mode,  # fix the source, do not replay
                details=result.details,
            )
            log.warning(
                "dead-lettered tenant=%s entity=%s sk=%s reason=%s%s",
                self.tenant,
                self.entity,
                result.key["sk"] if result.key else None,
                result.reason,
                f" field={result.details['field']}" if "field" in result.details else "",
            )

    # -- reads --

    def query(self, entity: str) -> list[dict]:
        """Every live item of ``entity`` for this tenant: a paginated Query on its pk, expired items dropped."""
        pk = partition_key(self.tenant, entity)
        pages = self._pages(
            TableName=self.table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "pk", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":pk": {"S": pk}, ":now": {"N": str(int(self.clock()))}},
            FilterExpression="attribute_not_exists(#ttl) OR #ttl >= :now",
            ConsistentRead=True,
        )
        return [self._payload(record, pk, "pk") for page in pages for record in page.get("Items", [])]

    def latest(self, entity: str, limit: int) -> list[dict]:
        """The ``limit`` live items of ``entity`` with the newest ``gsi1sk`` timestamps, newest first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1 (got {limit})")
        pk = partition_key(self.tenant, entity)
        pages = self._pages(
            TableName=self.table,
            IndexName=GSI_NAME,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "gsi1pk", "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":pk": {"S": pk}, ":now": {"N": str(int(self.clock()))}},
            FilterExpression="attribute_not_exists(#ttl) OR #ttl >= :now",
            ScanIndexForward=False,
            Limit=limit,
        )
        found: list[dict] = []
        for page in pages:
            found += [self._payload(record, pk, "gsi1pk") for record in page.get("Items", [])]
            if len(found) >= limit:
                break
        return found[:limit]

    def _pages(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        while True:
            call = self._call("query", **kwargs)
            if call.error is not None:
                raise call.error
            yield call.response
            if "LastEvaluatedKey" not in call.response:
                return
            kwargs["ExclusiveStartKey"] = call.response["LastEvaluatedKey"]

    def _payload(self, record: dict[str, Any], pk: str, key_attribute: str) -> dict:
        if record.get(key_attribute, {}).get("S") != pk:
            raise PartitionMismatch(f"query for {pk!r} returned an item of another partition")
        if "offload_key" not in record:
            return from_attribute_value(record["data"])
        if self.offload is None:
            raise LookupError(f"item {record['sk']['S']!r} is offloaded to S3; pass offload= to read it")
        body = self.offload.get_bytes(record["offload_key"]["S"])
        if hashlib.sha256(body).hexdigest() != record["payload_hash"]["S"]:
            raise ValueError(f"offloaded item {record['sk']['S']!r} does not match its payload_hash")
        return json.loads(body)


def _check_options(ttl_days, max_item_bytes, oversize, offload, dead_letter, tenant) -> None:
    if not isinstance(ttl_days, int) or isinstance(ttl_days, bool) or ttl_days < 1:
        raise ValueError(f"ttl_days must be a positive integer (got {ttl_days!r})")
    if not 0 < max_item_bytes <= DYNAMODB_MAX_ITEM_BYTES:
        raise ValueError(f"max_item_bytes must be in 1..{DYNAMODB_MAX_ITEM_BYTES} (got {max_item_bytes})")
    if oversize not in {"offload", "reject"}:
        raise ValueError(f"oversize must be 'offload' or 'reject' (got {oversize!r})")
    if oversize == "offload" and offload is None:
        raise ValueError("oversize='offload' needs an offload TenantS3")
    for name, store in (("offload", offload), ("dead_letter", dead_letter)):
        if store is not None and store.tenant != tenant:
            raise ValueError(f"{name} store belongs to tenant {store.tenant!r}, not {tenant!r}")


def _is_version(value: object) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool) and value != ""


def _key(p: _Prepared) -> tuple[str, str]:
    return p.key["pk"], p.key["sk"]


def _unprocessed_keys(response: dict[str, Any], table: str) -> set[tuple[str, str]]:
    requests = response.get("UnprocessedItems", {}).get(table, [])
    items = [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
    return {(item["pk"]["S"], item["sk"]["S"]) for item in items}


def _is_older(incoming: Mapping[str, str], existing: Mapping[str, str]) -> bool:
    """True when version ``incoming`` is older than ``existing`` (both attribute values); False if unlike."""
    if "N" in incoming and "N" in existing:
        return Decimal(incoming["N"]) < Decimal(existing["N"])
    if "S" in incoming and "S" in existing:
        return incoming["S"] < existing["S"]
    return False
