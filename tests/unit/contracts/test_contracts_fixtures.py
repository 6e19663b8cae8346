"""Every fixture under fixtures/<contract>/v<N>/{valid,invalid}/ parses as its .expect file says.

An ``.expect`` file holds one line per violation the parse must report, and no others:
``<disposition> <json path> <text the reason must contain>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from salestalk.contracts import default_registry, parse_event

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class Expected:
    disposition: str
    path: str
    reason: str


def read_expectations(path: Path) -> list[Expected]:
    expected = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            disposition, json_path, reason = line.split(" ", 2)
            expected.append(Expected(disposition, json_path, reason))
    return expected


def fixture_files(kind: str) -> list[Path]:
    return sorted(FIXTURES.glob(f"*/v*/{kind}/*.json"))


def fixture_id(path: Path) -> str:
    return str(path.relative_to(FIXTURES))


def contract_and_version(path: Path) -> tuple[str, int]:
    version_dir = path.parent.parent
    return version_dir.parent.name, int(version_dir.name.removeprefix("v"))


def test_every_schema_version_has_valid_and_invalid_fixtures() -> None:
    registry = default_registry()
    for contract in registry.contracts():
        for version in registry.versions(contract):
            folder = FIXTURES / contract / f"v{version}"
            assert list((folder / "valid").glob("*.json")), f"{folder}/valid has no fixture"
            assert list((folder / "invalid").glob("*.json")), f"{folder}/invalid has no fixture"


def test_fixture_folders_match_existing_contract_versions() -> None:
    registry = default_registry()
    for folder in FIXTURES.glob("*/v*"):
        assert int(folder.name[1:]) in registry.versions(folder.parent.name), folder


def test_every_invalid_fixture_says_what_it_expects() -> None:
    for path in fixture_files("invalid"):
        expect = path.with_suffix(".expect")
        assert expect.is_file(), f"{fixture_id(path)} has no .expect file"
        assert read_expectations(expect), f"{fixture_id(expect)} is empty"


@pytest.mark.parametrize("path", fixture_files("valid"), ids=fixture_id)
def test_valid_fixture_is_accepted_without_violations(path: Path) -> None:
    contract, version = contract_and_version(path)
    event = parse_event(path.read_bytes(), contract, version)
    assert event.violations == []
    assert event.accepted
    assert event.version == version


@pytest.mark.parametrize("path", fixture_files("invalid"), ids=fixture_id)
def test_invalid_fixture_reports_exactly_the_expected_violations(path: Path) -> None:
    contract, version = contract_and_version(path)
    expected = read_expectations(path.with_suffix(".expect"))
    event = parse_event(path.read_bytes(), contract, version)

    found = {(v.disposition, v.path) for v in event.violations}
    assert found == {(e.disposition, e.path) for e in expected}, event.violations
    for item in expected:
        reasons = [
            v.reason for v in event.violations if (v.disposition, v.path) == (item.disposition, item.path)
        ]
        assert any(item.reason.lower() in r.lower() for r in reasons), (item, reasons)
    assert event.accepted == all(e.disposition == "keep" for e in expected)
