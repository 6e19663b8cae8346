"""PII columns are hashed with a per-tenant keyed HMAC, or dropped, before anything lands.

A source's ``schema.pii`` maps each PII column to ``hash`` or ``drop``. The suite's rules on such a
column cannot run on the landed value, so they run here, on the clear value, before it is replaced:
a regex rule becomes a pre-landing verdict with the same reason name the warehouse would have used,
and only null checks stay in the warehouse (hashing keeps nulls null). Any other rule on a PII column
is a config error. Reasons never hold a value.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from salestalk.rawtext import map_column, reject_rows
from salestalk.tenancy import validate_tenant_id

if TYPE_CHECKING:
    from collections.abc import Mapping

    from salestalk.quality.suite import Suite
    from salestalk.rawtext import TextChunk

PII_KEY_ENV = "SALESTALK_PII_HMAC_KEY"
HASH_PREFIX = "h1:"
NULL_CHECK = "expect_column_values_to_not_be_null"
PRE_LANDING_TYPES = frozenset(
    {"expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"}
)
MIN_KEY_BYTES = 16


class PiiConfigError(ValueError):
    """A PII setting that cannot be honoured: a missing key, or a rule that cannot see clear values."""


def master_key(environ: Mapping[str, str] | None = None) -> bytes:
    value = (os.environ if environ is None else environ).get(PII_KEY_ENV, "")
    if len(value.encode()) < MIN_KEY_BYTES:
        raise PiiConfigError(
            f"{PII_KEY_ENV} must be set to a secret of at least {MIN_KEY_BYTES} bytes to hash PII columns"
        )
    return value.encode()


def tenant_key(master: bytes, tenant: str) -> bytes:
    """One key per tenant, so equal values of two tenants never hash alike."""
    return hmac.new(master, f"salestalk-pii/{validate_tenant_id(tenant)}".encode(), hashlib.sha256).digest()


def hash_value(key: bytes, value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return HASH_PREFIX + hmac.digest(key, text.encode("utf-8", "surrogatepass"), "sha256").hex()


@dataclass(frozen=True)
class PreLandingRule:
    column: str
    reason: str
    pattern: re.Pattern[str]
    must_match: bool

    def fails(self, value: Any) -> bool:
        if value is None:
            return False
        return bool(self.pattern.search(str(value))) != self.must_match


@dataclass(frozen=True)
class PiiScreen:
    """Replaces a tenant's PII values before landing and rejects rows whose clear value breaks a rule."""

    actions: Mapping[str, str]
    rules: tuple[PreLandingRule, ...]
    key: bytes | None

    def __call__(self, chunk: TextChunk) -> TextChunk:
        """The chunk with PII columns hashed or dropped, a column at a time, after the clear-value rules."""
        import pyarrow as pa

        if not self.actions:
            return chunk
        table = chunk.table
        for rule in self.rules:
            if rule.column in table.column_names:
                failing = [n for n, v in enumerate(table[rule.column].to_pylist()) if rule.fails(v)]
                reject_rows(chunk.rejections, failing, rule.reason)
        for column, action in self.actions.items():
            if column not in table.column_names:
                continue
            if action == "drop":
                index = table.schema.get_field_index(column)
                table = table.set_column(index, column, pa.nulls(table.num_rows, pa.string()))
            else:
                table = map_column(table, column, functools.partial(hash_value, self.key))
        chunk.table = table
        return chunk


def pre_landing_rules(suite: Suite, actions: Mapping[str, str]) -> tuple[PreLandingRule, ...]:
    """The suite's rules on PII columns, checked on the clear value; a rule that cannot be is an error."""
    rules = []
    for expectation, reason in zip(suite.expectations, suite.reasons, strict=True):
        column = expectation.column
        if column not in actions or expectation.type == NULL_CHECK and actions[column] == "hash":
            continue
        if expectation.type not in PRE_LANDING_TYPES:
            raise PiiConfigError(
                f"{suite.source}: {reason} checks PII column {column!r}, which is {actions[column]}ed before "
                "landing; only regex and not-null rules can apply to a PII column"
            )
        rules.append(
            PreLandingRule(
                column=column,
                reason=reason,
                pattern=re.compile(expectation.kwargs["regex"]),
                must_match=expectation.type == "expect_column_values_to_match_regex",
            )
        )
    return tuple(rules)


def landed_suite(suite: Suite, actions: Mapping[str, str]) -> Suite:
    """The suite the warehouse runs: without the rules already applied before landing."""
    kept = [
        e
        for e in suite.expectations
        if e.column not in actions or (e.type == NULL_CHECK and actions[e.column] == "hash")
    ]
    return dataclasses.replace(suite, expectations=tuple(kept))


def pii_screen(
    suite: Suite, actions: Mapping[str, str], tenant: str, environ: Mapping[str, str] | None = None
) -> PiiScreen:
    key = tenant_key(master_key(environ), tenant) if "hash" in actions.values() else None
    return PiiScreen(dict(actions), pre_landing_rules(suite, actions), key)
