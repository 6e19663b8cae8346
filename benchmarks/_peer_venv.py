"""Throwaway venvs for the peers a benchmark compares against (dag-factory, dlt): never our dependencies.

Each lives under ``benchmarks/.venvs/<name>`` (git-ignored by the .gitignore uv writes into it) and is
reused while its recipe (packages, Python, requirements.lock digest) is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VENVS = REPO_ROOT / "benchmarks" / ".venvs"
LOCK_FILE = REPO_ROOT / "requirements.lock"


def uv_binary() -> str | None:
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def recipe_for(packages: list[str]) -> dict:
    """What the venv must hold; a change (e.g. a new requirements.lock) forces a reinstall."""
    lock = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16] if LOCK_FILE.exists() else None
    return {"packages": packages, "python": "3.11", "lock_sha256": lock}


def run_quietly(cmd: list[str]) -> str | None:
    """Run an install step; None on success, else the tail of its output."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if proc.returncode == 0:
        return None
    return (proc.stderr or proc.stdout).strip()[-1500:] or f"exit {proc.returncode}"


def install(venv: Path, uv: str, recipe: dict) -> tuple[str | None, str]:
    """Create the venv, pinning shared dependencies to requirements.lock when that resolves.

    Returns (problem or None, how the dependencies were pinned).
    """
    shutil.rmtree(venv, ignore_errors=True)
    problem = run_quietly([uv, "venv", "--quiet", "--python", recipe["python"], str(venv)])
    if problem:
        return f"uv venv failed: {problem}", ""
    pip = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    if recipe["lock_sha256"] and run_quietly([*pip, "-c", str(LOCK_FILE), *recipe["packages"]]) is None:
        return None, "shared dependencies pinned to requirements.lock"
    problem = run_quietly([*pip, *recipe["packages"]])
    if problem:
        return f"uv pip install {' '.join(recipe['packages'])} failed: {problem}", ""
    return None, "dependencies NOT pinned to requirements.lock (it did not resolve)"


def peer_python(name: str, packages: list[str]) -> tuple[Path | None, str]:
    """The venv's interpreter (installed on first use), or None and why there is none."""
    venv = VENVS / name
    python, stamp = venv / "bin" / "python", venv / "benchmark-recipe.json"
    recipe = recipe_for(packages)
    shown = venv.relative_to(REPO_ROOT)
    stamped = json.loads(stamp.read_text()) if stamp.exists() else {}
    if python.exists() and stamped.get("recipe") == recipe:
        return python, f"reusing {shown}; {stamped.get('pinning')}"
    uv = uv_binary()
    if uv is None:
        return None, "uv not found next to this interpreter or on PATH"
    print(f"installing {' '.join(packages)} into {shown} (one-time) ...", flush=True)
    started = time.perf_counter()
    problem, pinning = install(venv, uv, recipe)
    if problem:
        return None, problem
    stamp.write_text(json.dumps({"recipe": recipe, "pinning": pinning}))
    return python, f"installed into {shown} in {time.perf_counter() - started:.0f}s; {pinning}"
