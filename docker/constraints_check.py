"""Does requirements.lock agree with Airflow's constraints file? Lists every package pinned to another version.

    python docker/constraints_check.py [requirements.lock] [docker/constraints-3.3.2-python-3.11.txt]

Exit 1 with one line per disagreeing package (name, our pin, Airflow's), 0 when they agree. Packages that
the constraints file does not name (our own test tools, say) are free. Standard library only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
AIRFLOW_VERSION = "3.3.2"
CONSTRAINTS = ROOT / "docker" / f"constraints-{AIRFLOW_VERSION}-python-3.11.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def normalize(name: str) -> str:
    """PEP 503: case and runs of - _ . do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a lock or constraints file, by normalized name (markers, extras ignored)."""
    found = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            found[normalize(match.group(1))] = match.group(2)
    return found


def disagreements(lock: str, constraints: str) -> list[tuple[str, str, str]]:
    """(package, locked version, constrained version) for every package both pin, to different versions."""
    ours, theirs = pins(lock), pins(constraints)
    return sorted(
        (name, ours[name], theirs[name]) for name in ours.keys() & theirs.keys() if ours[name] != theirs[name]
    )


def report(rows: list[tuple[str, str, str]], constraints: Path) -> str:
    lines = [f"{len(rows)} pinned version(s) disagree with {constraints.name}:"]
    lines += [f"  {name}: requirements.lock {ours}, constraints {theirs}" for name, ours, theirs in rows]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    lock = Path(argv[0]) if argv else LOCK
    constraints = Path(argv[1]) if len(argv) > 1 else CONSTRAINTS
    if not constraints.is_file():
        print(f"{constraints} is missing: run make constraints", file=sys.stderr)
        return 2
    rows = disagreements(lock.read_text(), constraints.read_text())
    if rows:
        print(report(rows, constraints), file=sys.stderr)
        return 1
    print(f"{lock.name} agrees with {constraints.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
