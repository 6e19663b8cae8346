"""What a parse returns: the payload, every violation found and what to do with the event."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

Disposition = Literal["quarantine", "keep"]
QUARANTINE: Disposition = "quarantine"
KEEP: Disposition = "keep"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_SHOWN_CHARACTERS = 80


@dataclass(frozen=True)
class Violation:
    """One problem at one JSON path. ``quarantine`` sends the event to quarantine; ``keep`` only notes it."""

    path: str
    reason: str
    disposition: Disposition = QUARANTINE
    code: str = "schema"

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class ParsedEvent:
    """A parsed event. ``version`` is the schema version it was checked against (see ``parse_event``)."""

    contract: str
    version: int
    payload: dict[str, Any]
    violations: list[Violation] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.quarantined

    @property
    def quarantined(self) -> list[Violation]:
        return [v for v in self.violations if v.disposition == QUARANTINE]

    @property
    def quarantine_reason(self) -> str:
        """The reason to store with a quarantined row: every quarantine violation, path first."""
        return "; ".join(str(v) for v in self.quarantined)

    def require_accepted(self) -> dict[str, Any]:
        """The payload, or ContractViolation naming the contract, each path and each reason."""
        if not self.accepted:
            raise ContractViolation(self.contract, self.version, self.quarantined)
        return self.payload


class ContractViolation(ValueError):
    """An event (or a request) that breaks a contract. The message names contract, path and reason."""

    def __init__(self, contract: str, version: int | None, violations: list[Violation]) -> None:
        self.contract = contract
        self.version = version
        self.violations = violations
        label = f"{contract} v{version}" if version is not None else contract
        super().__init__("\n".join(f"{label}: {v}" for v in violations))


class UnknownContract(ContractViolation, LookupError):
    """The contract name or the requested version does not exist."""


def json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    """``$.confidence.components["odd key"]``, ``$.sourceRequestIds[2]``."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def show(value: object) -> str:
    """A short JSON rendering of a value for a reason text (control characters escaped)."""
    try:
        text = json.dumps(value, allow_nan=True, default=repr)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _SHOWN_CHARACTERS:
        return text[: _SHOWN_CHARACTERS - 1] + "…"
    return text


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


@dataclass(frozen=True)
class Policy:
    """What happens to an event with a field or enum value its schema does not know."""

    unknown_fields: Literal["reject", "keep"]
    unknown_enum: Literal["quarantine", "keep"]

    @property
    def unknown_field_disposition(self) -> Disposition:
        return QUARANTINE if self.unknown_fields == "reject" else "keep"

    @property
    def unknown_enum_disposition(self) -> Disposition:
        return QUARANTINE if self.unknown_enum == "quarantine" else "keep"
