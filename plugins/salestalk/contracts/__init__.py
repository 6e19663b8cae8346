"""Versioned event contracts: JSON Schemas under ``include/contracts``, strict parsing, compatibility checks."""

from __future__ import annotations

from salestalk.contracts.model import ContractViolation, ParsedEvent, UnknownContract, Violation
from salestalk.contracts.parse import parse_event, parse_tenant_event
from salestalk.contracts.registry import ContractRegistry, Policy, default_registry

__all__ = [
    "ContractRegistry",
    "ContractViolation",
    "ParsedEvent",
    "Policy",
    "UnknownContract",
    "Violation",
    "default_registry",
    "parse_event",
    "parse_tenant_event",
]
