"""Parse one event strictly against its contract; every problem is a violation with a JSON path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from salestalk.contracts.model import ParsedEvent, Violation, json_path, show
from salestalk.contracts.registry import VERSION_FIELD, default_registry
from salestalk.contracts.strict_json import decode_strict
from salestalk.tenancy import validate_tenant_id

if TYPE_CHECKING:
    from salestalk.contracts.registry import ContractRegistry

TENANT_FIELD = "tenantId"
BAD_VALUE_CODES = frozenset({"non_finite", "surrogate"})
VALUE_INDEPENDENT = frozenset({"unknown_field", "field_name"})


def parse_event(
    raw: bytes | str,
    contract: str,
    version: int | None = None,
    *,
    registry: ContractRegistry | None = None,
) -> ParsedEvent:
    """Decode and validate ``raw`` against ``contract``; never raises for a bad event.

    The version is the event's own ``schemaVersion`` if it has one, else ``version``, else the latest.
    Everything wrong with the event is a violation on the result (``accepted`` is False when any is a
    quarantine); ``ParsedEvent.require_accepted()`` raises ContractViolation for callers who want that.
    Raises ContractViolation (UnknownContract) only for an unknown contract or an unknown ``version``.
    """
    registry = registry or default_registry()
    fallback = (
        registry.require_version(contract, version) if version is not None else registry.latest(contract)
    )
    decoded = decode_strict(raw)
    if decoded.payload is None:
        return ParsedEvent(contract, fallback, {}, decoded.violations)
    declared, version_problem = _declared_version(decoded.payload, registry.versions(contract))
    if version_problem is not None:
        extra = [] if _flagged(version_problem.path, decoded.violations) else [version_problem]
        return ParsedEvent(contract, fallback, decoded.payload, [*decoded.violations, *extra])
    resolved = declared or fallback
    schema_violations = registry.compiled(contract, resolved).violations(decoded.payload)
    return ParsedEvent(
        contract,
        resolved,
        decoded.payload,
        [*decoded.violations, *_new_findings(schema_violations, decoded.violations)],
    )


def parse_tenant_event(
    raw: bytes | str,
    contract: str,
    expected_tenant: str,
    version: int | None = None,
    *,
    registry: ContractRegistry | None = None,
) -> ParsedEvent:
    """``parse_event`` for one tenant's run: an event of another tenant is quarantined, never re-homed."""
    expected_tenant = validate_tenant_id(expected_tenant)
    event = parse_event(raw, contract, version, registry=registry)
    if TENANT_FIELD not in event.payload or event.payload[TENANT_FIELD] == expected_tenant:
        return event
    reason = (
        f"event tenant {show(event.payload[TENANT_FIELD])} is not this run's tenant {show(expected_tenant)}"
    )
    mismatch = Violation(json_path([TENANT_FIELD]), reason, code="tenant_mismatch")
    return ParsedEvent(event.contract, event.version, event.payload, [*event.violations, mismatch])


def _declared_version(payload: dict[str, Any], known: list[int]) -> tuple[int | None, Violation | None]:
    if VERSION_FIELD not in payload:
        return None, None
    declared = payload[VERSION_FIELD]
    path = json_path([VERSION_FIELD])
    if isinstance(declared, bool) or not isinstance(declared, int):
        return None, Violation(path, f"must be an integer (got {show(declared)})", code="schema_version")
    if declared not in known:
        versions = ", ".join(str(v) for v in known)
        return None, Violation(
            path, f"unknown schema version {declared} (known: {versions})", code="schema_version"
        )
    return declared, None


def _new_findings(schema_violations: list[Violation], decode_violations: list[Violation]) -> list[Violation]:
    """Drop schema complaints about a value the decoder already rejected (``Infinity`` above a maximum)."""
    return [
        v for v in schema_violations if v.code in VALUE_INDEPENDENT or not _flagged(v.path, decode_violations)
    ]


def _flagged(path: str, decode_violations: list[Violation]) -> bool:
    bad_values = [v.path for v in decode_violations if v.code in BAD_VALUE_CODES]
    return any(path == p or path.startswith((p + ".", p + "[")) for p in bad_values)
