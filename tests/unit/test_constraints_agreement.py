"""requirements.lock against Airflow's constraints file (docker/constraints_check.py), and the two locks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from salestalk import REPO_ROOT
from tests.services.compose_model import docker_module

constraints_check = docker_module("constraints_check")

CHECK = REPO_ROOT / "docker" / "constraints_check.py"
LOCK = REPO_ROOT / "requirements.lock"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True, check=False)


def test_a_disagreeing_pin_fails_listing_every_package(tmp_path) -> None:
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "boto3==1.44.5\n    # via -r requirements.txt\nPyYAML==6.0.3\nours-only==1.0\nsame==2.0\n"
    )
    constraints = tmp_path / "constraints-3.11.txt"
    constraints.write_text(
        "# header\nboto3==1.40.0\npyyaml==6.0.2\nsame==2.0\nunused==9.9 ; python_version < '3.12'\n"
    )
    done = run(str(lock), str(constraints))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("2 pinned version(s) disagree")
    assert lines[1:] == [
        "  boto3: requirements.lock 1.44.5, constraints 1.40.0",
        "  pyyaml: requirements.lock 6.0.3, constraints 6.0.2",
    ]
    constraints.write_text("boto3==1.44.5\npyyaml==6.0.3\n")
    assert run(str(lock), str(constraints)).returncode == 0


def test_names_are_compared_as_pip_does() -> None:
    assert constraints_check.pins("Foo_Bar.baz[extra]==1.0 ; python_version >= '3'\n") == {
        "foo-bar-baz": "1.0"
    }


def test_dev_lock_pins_what_the_runtime_lock_pins() -> None:
    """make setup builds .venv from requirements-dev.lock: it must run what the compose image runs."""
    ours = constraints_check.pins(LOCK.read_text())
    dev = constraints_check.pins((REPO_ROOT / "requirements-dev.lock").read_text())
    differ = {name: (version, dev.get(name)) for name, version in ours.items() if dev.get(name) != version}
    assert not differ, differ


def test_requirements_lock_agrees_with_airflows_constraints() -> None:
    if not constraints_check.CONSTRAINTS.is_file():
        pytest.skip(
            f"{constraints_check.CONSTRAINTS.relative_to(REPO_ROOT)} is not committed yet "
            "(make constraints needs raw.githubusercontent.com); then make lock"
        )
    done = run()
    assert done.returncode == 0, done.stderr
