"""parse_event / parse_tenant_event: version choice, strict decoding, policies, tenant checks, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from salestalk.contracts import (
    ContractRegistry,
    ContractViolation,
    UnknownContract,
    Violation,
    default_registry,
    parse_event,
    parse_tenant_event,
)
from salestalk.contracts.registry import CONTRACTS_DIR
from salestalk.contracts.strict_json import decode_strict
from salestalk.contracts.validation import ecma_pattern
from salestalk.tenancy import InvalidTenantId

CLASSIFICATION = "classification.performed"


def classification(**changes: Any) -> dict[str, Any]:
    event = {
        "tenantId": "acme",
        "requestId": "req-1",
        "subject": {"type": "email", "id": "e-1"},
        "intent": "objection",
        "time": "2026-11-01T10:00:00Z",
        "confidence": {"overall": 0.5, "components": {"intent": 0.25}},
    }
    event.update(changes)
    return event


def raw(event: dict[str, Any]) -> str:
    return json.dumps(event)


def paths(violations: list[Violation]) -> list[str]:
    return [v.path for v in violations]


# --- version selection -------------------------------------------------------------------------


def test_without_a_version_the_latest_is_used() -> None:
    assert parse_event(raw(classification()), CLASSIFICATION).version == 2


def test_the_argument_picks_the_version_when_the_event_names_none() -> None:
    event = parse_event(raw(classification(language="en")), CLASSIFICATION, version=1)
    assert event.version == 1
    assert paths(event.violations) == ["$.language"]


def test_the_event_schema_version_wins_over_the_argument() -> None:
    event = parse_event(raw(classification(schemaVersion=2, language="en")), CLASSIFICATION, version=1)
    assert event.version == 2
    assert event.accepted


def test_an_event_with_an_unknown_schema_version_is_quarantined_not_guessed() -> None:
    event = parse_event(raw(classification(schemaVersion=3)), CLASSIFICATION)
    assert not event.accepted
    assert [v.code for v in event.violations] == ["schema_version"]
    assert "known: 1, 2" in event.violations[0].reason


@pytest.mark.parametrize("version", [0, 3, True])
def test_an_unknown_version_argument_raises_naming_the_contract(version: int) -> None:
    with pytest.raises(UnknownContract, match=r"classification\.performed: \$: unknown version"):
        parse_event(raw(classification()), CLASSIFICATION, version=version)


def test_an_unknown_contract_raises_and_lists_the_known_ones() -> None:
    with pytest.raises(UnknownContract, match="known: classification.performed, insight-summary"):
        parse_event("{}", "classification.done")


@pytest.mark.parametrize("name", ["../contracts", "", "Classification.performed"])
def test_contract_names_cannot_escape_the_contracts_folder(name: str) -> None:
    with pytest.raises(UnknownContract):
        parse_event("{}", name)


# --- strict decoding ---------------------------------------------------------------------------


def test_python_json_alone_would_keep_the_last_duplicate() -> None:
    assert json.loads('{"tenantId":"t1","tenantId":"t2"}') == {"tenantId": "t2"}
    decoded = decode_strict('{"tenantId":"t1","tenantId":"t2"}')
    assert decoded.payload == {"tenantId": "t1"}
    assert [(v.path, v.code) for v in decoded.violations] == [("$.tenantId", "duplicate_key")]


def test_duplicate_keys_are_found_at_any_depth_with_their_path() -> None:
    text = '{"a": [{"b": {"c": 1, "c": 2}}, {"d": 1, "d": 1, "d": 1}], "odd key": {"x": 1, "x": 1}}'
    found = decode_strict(text).violations
    assert sorted(paths(found)) == ["$.a[0].b.c", "$.a[1].d", "$.a[1].d", '$["odd key"].x']


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_are_violations_wherever_they_are(token: str) -> None:
    decoded = decode_strict(f'{{"list": [1, {{"deep": {token}}}]}}')
    assert [(v.path, v.code) for v in decoded.violations] == [("$.list[1].deep", "non_finite")]


def test_a_string_that_says_nan_is_just_a_string() -> None:
    assert decode_strict('{"x": "NaN"}').violations == []


def test_jsonschema_alone_lets_nan_through_minimum_and_maximum() -> None:
    validator = Draft202012Validator({"type": "number", "minimum": 0, "maximum": 1})
    assert validator.is_valid(float("nan"))


def test_jsonschema_type_checker_does_not_count_booleans_as_numbers() -> None:
    validator = Draft202012Validator({"type": "number"})
    assert isinstance(True, int)
    assert not validator.is_valid(True)
    assert not validator.is_valid(False)
    assert not Draft202012Validator({"type": "integer"}).is_valid(True)


def test_a_non_object_document_is_quarantined_with_an_empty_payload() -> None:
    event = parse_event("[1, 2]", CLASSIFICATION)
    assert event.payload == {}
    assert [(v.path, v.code) for v in event.violations] == [("$", "not_object")]


def test_bytes_must_be_utf8() -> None:
    event = parse_event(b'{"tenantId": "\xff"}', CLASSIFICATION)
    assert [v.code for v in event.violations] == ["encoding"]


def test_a_utf8_byte_order_mark_is_rejected() -> None:
    event = parse_event(b"\xef\xbb\xbf" + raw(classification()).encode(), CLASSIFICATION)
    assert [v.code for v in event.violations] == ["malformed_json"]


def test_absurd_nesting_is_a_violation_not_a_crash() -> None:
    event = parse_event('{"x": ' + "[" * 100_000 + "]" * 100_000 + "}", CLASSIFICATION)
    assert [v.code for v in event.violations] == ["malformed_json"]


def test_deep_but_decodable_nesting_does_not_exhaust_the_stack() -> None:
    depth = 900
    decoded = decode_strict('{"x": ' + "[" * depth + "NaN" + "]" * depth + "}")
    assert [v.code for v in decoded.violations] == ["non_finite"]


def test_other_raw_types_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_event({"tenantId": "acme"}, CLASSIFICATION)  # type: ignore[arg-type]


# --- formats and patterns ----------------------------------------------------------------------


def test_format_date_time_is_enforced_not_just_annotated() -> None:
    event = parse_event(raw(classification(time="yesterday")), CLASSIFICATION)
    assert [(v.path, v.code) for v in event.violations] == [("$.time", "format")]


def test_dollar_in_a_pattern_means_end_of_string_as_in_ecma_262() -> None:
    assert Draft202012Validator({"pattern": "^[a-z]+$"}).is_valid("acme\n")  # the jsonschema default
    event = parse_event(raw(classification(tenantId="acme\n")), CLASSIFICATION)
    assert [(v.path, v.code) for v in event.violations] == [("$.tenantId", "pattern")]


@pytest.mark.parametrize(
    ("pattern", "translated"),
    [
        ("^a$", r"^a\Z"),
        (r"^a\$$", r"^a\$\Z"),
        ("^[$]$", r"^[$]\Z"),
        (r"^[\]$]x$", r"^[\]$]x\Z"),
        ("a|b$", r"a|b\Z"),
    ],
)
def test_ecma_pattern_translation(pattern: str, translated: str) -> None:
    assert ecma_pattern(pattern) == translated


def test_patterns_use_ascii_digits_like_ecma_262() -> None:
    event = parse_event(raw(classification(tenantId="acme٣")), CLASSIFICATION)
    assert paths(event.violations) == ["$.tenantId"]


# --- policies ----------------------------------------------------------------------------------


def test_reject_policy_quarantines_unknown_fields_and_quarantine_policy_unknown_enums() -> None:
    event = parse_event(raw(classification(intent="upsell", extra=1)), CLASSIFICATION)
    assert {(v.path, v.disposition, v.code) for v in event.violations} == {
        ("$.intent", "quarantine", "unknown_enum"),
        ("$.extra", "quarantine", "unknown_field"),
    }
    assert not event.accepted


def test_keep_policy_accepts_and_notes_unknown_fields_and_enum_values() -> None:
    narrative = {
        "tenantId": "acme",
        "requestId": "n-1",
        "subject": {"type": "sms", "id": "s-1", "carrier": "x"},
        "time": "2026-11-01T10:00:00+01:00",
        "model": "m",
        "narrative": "text",
        "sourceRequestIds": [],
        "language": "en",
        "tokens": {"in": 10, "out": 20},
    }
    event = parse_event(raw(narrative), "narrative.generated")
    assert event.accepted
    assert event.payload["tokens"] == {"in": 10, "out": 20}
    assert {(v.path, v.disposition, v.code) for v in event.violations} == {
        ("$.subject.type", "keep", "unknown_enum"),
        ("$.subject.carrier", "keep", "unknown_field"),
        ("$.tokens", "keep", "unknown_field"),
    }


def test_a_wrong_type_for_an_enum_field_is_structural_even_under_keep() -> None:
    event = parse_event(raw({"subject": {"type": 5, "id": "x"}}), "narrative.generated")
    subject_type = [v for v in event.violations if v.path == "$.subject.type"]
    assert [(v.code, v.disposition) for v in subject_type] == [("type", "quarantine")]


# --- results and errors ------------------------------------------------------------------------


def test_require_accepted_raises_naming_contract_version_path_and_reason() -> None:
    event = parse_event(raw(classification(confidence={"overall": 2, "components": {}})), CLASSIFICATION)
    with pytest.raises(ContractViolation) as raised:
        event.require_accepted()
    assert str(raised.value) == "classification.performed v2: $.confidence.overall: 2 is above the maximum 1"
    assert raised.value.violations == event.quarantined


def test_require_accepted_returns_the_payload_when_only_notes_exist() -> None:
    event = parse_event(raw(classification()), CLASSIFICATION)
    assert event.require_accepted() == classification()


def test_quarantine_reason_lists_every_quarantine_violation() -> None:
    event = parse_event(raw(classification(tenantId="Acme", intent=3)), CLASSIFICATION)
    assert event.quarantine_reason.startswith("$.intent: expected string, got number 3; $.tenantId: ")


def test_compiled_validators_are_cached_per_contract_and_version() -> None:
    registry = default_registry()
    assert registry.compiled(CLASSIFICATION, 1) is registry.compiled(CLASSIFICATION, 1)
    assert registry.compiled(CLASSIFICATION, 1) is not registry.compiled(CLASSIFICATION, 2)


def test_a_registry_on_another_folder_reads_its_own_contracts(tmp_path: Path) -> None:
    shutil.copytree(CONTRACTS_DIR, tmp_path / "contracts")
    (tmp_path / "contracts" / CLASSIFICATION / "v2.json").unlink()
    registry = ContractRegistry(tmp_path / "contracts")
    assert parse_event(raw(classification()), CLASSIFICATION, registry=registry).version == 1


# --- tenants -----------------------------------------------------------------------------------


def test_an_event_of_another_tenant_is_quarantined_naming_both_tenants() -> None:
    event = parse_tenant_event(raw(classification(tenantId="globex")), CLASSIFICATION, "acme")
    assert not event.accepted
    assert [(v.path, v.code) for v in event.violations] == [("$.tenantId", "tenant_mismatch")]
    assert event.violations[0].reason == 'event tenant "globex" is not this run\'s tenant "acme"'


def test_an_event_of_the_run_tenant_passes_the_tenant_check() -> None:
    assert parse_tenant_event(raw(classification()), CLASSIFICATION, "acme").accepted


def test_a_duplicated_tenant_id_never_lets_the_payload_pick_the_tenant() -> None:
    text = raw(classification()).replace('"tenantId": "acme"', '"tenantId": "acme", "tenantId": "globex"')
    event = parse_tenant_event(text, CLASSIFICATION, "globex")
    assert not event.accepted
    assert {v.code for v in event.violations} == {"duplicate_key", "tenant_mismatch"}


def test_a_missing_tenant_id_is_quarantined() -> None:
    event = classification()
    del event["tenantId"]
    parsed = parse_tenant_event(raw(event), CLASSIFICATION, "acme")
    assert [(v.path, v.code) for v in parsed.violations] == [("$.tenantId", "missing")]


def test_the_run_tenant_itself_must_be_canonical() -> None:
    with pytest.raises(InvalidTenantId):
        parse_tenant_event(raw(classification()), CLASSIFICATION, "Acme")
