"""Tenant ids: one canonical form, checked before any I/O."""

from __future__ import annotations

import re
import unicodedata

TENANT_ID_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")
TENANT_ID_MAX_LENGTH = 32


class InvalidTenantId(ValueError):
    """A tenant id that is not in canonical form."""


def validate_tenant_id(value: object) -> str:
    """Return ``value`` if it is a canonical tenant id, else raise InvalidTenantId naming it."""
    if not isinstance(value, str):
        raise InvalidTenantId(f"tenant id must be a string (got {type(value).__name__})")
    if unicodedata.normalize("NFKC", value) != value or not value.isascii():
        raise InvalidTenantId(f"tenant id {value!r} must be plain ASCII")
    if len(value) > TENANT_ID_MAX_LENGTH:
        raise InvalidTenantId(f"tenant id {value!r} is longer than {TENANT_ID_MAX_LENGTH} characters")
    if not TENANT_ID_PATTERN.fullmatch(value) or "--" in value:
        raise InvalidTenantId(
            f"tenant id {value!r} must be lowercase letters, digits and single dashes, "
            "starting and ending with a letter or digit"
        )
    return value
