"""Items the DynamoDB writer could not (or must not) write, kept per tenant in S3 until redriven.

Records live at ``tenants/{tenant}/dead_letter/{entity}/{yyyy-mm-dd}/{sha256-of-item}.json``, always
under the store's own tenant (a blocked cross-tenant payload is filed under the tenant that ran, never
the tenant it names). A record holds the entity, the key, a reason (a fixed word: never a value), the
number of attempts, how the item was being written, and the item with the configured PII fields removed.
Recording is create-once: the same item on the same day keeps its first record.

:meth:`DeadLetterStore.redrive` replays records through a writer in their original write mode and
deletes a record only once its item is settled (written, a confirmed duplicate, or superseded by a newer
version). A record whose payload lost PII fields cannot be replayed faithfully: it stays, counted as
dead-lettered, for a replay from the source.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from salestalk.storage.tenant_dynamodb import (
    SETTLED,
    ItemResult,
    Outcome,
    WriteCounts,
    WriteMode,
    payload_hash,
    validate_entity,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from salestalk.storage.tenant_dynamodb import TenantDynamoWriter
    from salestalk.storage.tenant_s3 import TenantS3

log = logging.getLogger(__name__)

RECORD_FORMAT = 1


@dataclass(frozen=True)
class DeadLetterRecord:
    s3_key: str
    entity: str
    key: dict[str, str] | None
    reason: str
    attempts: int
    payload: dict[str, Any]
    payload_hash: str
    first_seen: str
    mode: WriteMode | None = None
    details: dict[str, Any] = field(default_factory=dict)
    redacted_fields: tuple[str, ...] = ()
    last_attempt: str | None = None

    @property
    def replayable(self) -> bool:
        return self.mode is not None and not self.redacted_fields

    def to_json(self) -> bytes:
        body = {
            "format": RECORD_FORMAT,
            "entity": self.entity,
            "key": self.key,
            "reason": self.reason,
            "details": self.details,
            "attempts": self.attempts,
            "mode": self.mode.as_dict() if self.mode else None,
            "payload_hash": self.payload_hash,
            "redacted_fields": list(self.redacted_fields),
            "payload": self.payload,
            "first_seen": self.first_seen,
            "last_attempt": self.last_attempt,
        }
        return json.dumps(body, sort_keys=True, ensure_ascii=False, default=repr).encode("utf-8")

    @classmethod
    def from_json(cls, s3_key: str, body: bytes) -> DeadLetterRecord:
        raw = json.loads(body)
        return cls(
            s3_key=s3_key,
            entity=raw["entity"],
            key=raw["key"],
            reason=raw["reason"],
            attempts=raw["attempts"],
            payload=raw["payload"],
            payload_hash=raw["payload_hash"],
            first_seen=raw["first_seen"],
            mode=WriteMode(**raw["mode"]) if raw.get("mode") else None,
            details=raw.get("details") or {},
            redacted_fields=tuple(raw.get("redacted_fields") or ()),
            last_attempt=raw.get("last_attempt"),
        )


class DeadLetterStore:
    """One tenant's dead letters, in S3 through that tenant's :class:`TenantS3`."""

    def __init__(
        self,
        s3: TenantS3,
        *,
        pii_fields: Iterable[str] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.s3 = s3
        self.tenant = s3.tenant
        self.pii_fields = frozenset(pii_fields)
        self.clock = clock

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
    ) -> str:
        """File ``item`` (PII removed) and return its S3 key; an identical item filed today is kept as is."""
        digest = payload_hash(item)
        now = self.clock()
        s3_key = self.s3.key(
            "dead_letter", validate_entity(entity), now.strftime("%Y-%m-%d"), f"{digest}.json"
        )
        if self.s3.get_bytes_or_none(s3_key) is not None:
            log.info("dead letter %s already filed", s3_key)
            return s3_key
        payload, redacted = strip_fields(item, self.pii_fields)
        record = DeadLetterRecord(
            s3_key=s3_key,
            entity=entity,
            key=key,
            reason=reason,
            attempts=attempts,
            payload=payload,
            payload_hash=digest,
            first_seen=now.isoformat(),
            mode=mode,
            details=dict(details or {}),
            redacted_fields=tuple(sorted(redacted)),
        )
        self.s3.put_bytes(s3_key, record.to_json(), "application/json", data_class="dead_letter")
        return s3_key

    def records(self, entity: str) -> list[DeadLetterRecord]:
        keys = self.s3.list_keys("dead_letter", validate_entity(entity))
        return [DeadLetterRecord.from_json(key, self.s3.get_bytes(key)) for key in keys]

    def redrive(self, writer: TenantDynamoWriter, entity: str) -> WriteCounts:
        """Replay ``entity``'s records through ``writer``; delete each one whose item is now settled."""
        if writer.tenant != self.tenant or writer.entity != entity:
            raise ValueError(
                f"writer for {writer.tenant}/{writer.entity} cannot redrive {self.tenant}/{entity}"
            )
        records = self.records(entity)
        results = [
            ItemResult(i, Outcome.DEAD_LETTERED, r.key, "not_replayable")
            for i, r in enumerate(records)
            if not r.replayable
        ]
        for mode, group in _by_mode(records).items():
            replayed = writer.write_items([r.payload for r in group], mode, dead_letter_failures=False)
            for record, result in zip(group, replayed, strict=True):
                self._settle(record, result)
            results += replayed
        counts = WriteCounts.from_results(results).check()
        log.info("dead-letter redrive tenant=%s entity=%s counts=%s", self.tenant, entity, counts.as_dict())
        return counts

    def _settle(self, record: DeadLetterRecord, result: ItemResult) -> None:
        if result.outcome in SETTLED:
            self.s3.delete([record.s3_key])
            return
        updated = replace(
            record,
            attempts=record.attempts + result.attempts,
            reason=result.reason or record.reason,
            details=result.details or record.details,
            last_attempt=self.clock().isoformat(),
        )
        # Objects are create-once: file the updated record under a new name, then drop the old one.
        folder = record.s3_key.rsplit("/", 1)[0]
        updated = replace(updated, s3_key=f"{folder}/{record.payload_hash}-attempts-{updated.attempts}.json")
        self.s3.put_bytes(updated.s3_key, updated.to_json(), "application/json", data_class="dead_letter")
        self.s3.delete([record.s3_key])


def strip_fields(value: Any, names: frozenset[str]) -> tuple[Any, set[str]]:
    """``value`` without any map entry named in ``names`` (at any depth), and the names removed."""
    removed: set[str] = set()
    if isinstance(value, dict):
        clean = {}
        for name, inner in value.items():
            if name in names:
                removed.add(name)
                continue
            clean[name], found = strip_fields(inner, names)
            removed |= found
        return clean, removed
    if isinstance(value, list | tuple):
        cleaned = [strip_fields(inner, names) for inner in value]
        return [c for c, _ in cleaned], set().union(*(found for _, found in cleaned))
    return value, removed


def _by_mode(records: list[DeadLetterRecord]) -> dict[WriteMode, list[DeadLetterRecord]]:
    groups: dict[WriteMode, list[DeadLetterRecord]] = defaultdict(list)
    for record in records:
        if record.replayable:
            groups[record.mode].append(record)
    return dict(groups)
