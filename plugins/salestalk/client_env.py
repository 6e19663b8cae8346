"""The running local stack's client environment, so that ``python -m salestalk`` reaches ``make airflow``.

``make airflow`` (dev/airflow_stack.py) writes ``<home>/client.env`` (mode 0600) when its components are up
and removes it when it stops; ``<home>`` is ``SALESTALK_LOCAL_HOME`` or ``.local/airflow``. The file is
``export NAME='value'`` lines: every ``AIRFLOW*`` and ``SALESTALK_*`` variable the components run with
(``AIRFLOW_HOME``, the connections with the moto endpoint, the KMS key id, the bucket, the DuckDB path, the
alert dir), so ``eval "$(make -s env)"`` sets them in a shell. The CLI loads it by itself (:func:`load`)
while that stack runs; a variable already set in the environment wins. Nothing here imports Airflow.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from salestalk.settings import LOCAL_DIR

if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping

HOME_ENV = "SALESTALK_LOCAL_HOME"
CLIENT_ENV_FILE = "client.env"
STATE_FILE = "state.json"
PREFIXES = ("AIRFLOW", "SALESTALK_")
NAMES = ("AWS_DEFAULT_REGION", "PYTHONPATH", "GX_ANALYTICS_ENABLED")


def local_home(environ: Mapping[str, str] | None = None) -> Path:
    """The local stack's home: ``SALESTALK_LOCAL_HOME``, default ``.local/airflow`` in the repository."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(HOME_ENV) or LOCAL_DIR / "airflow").absolute()


def client_variables(env: Mapping[str, str]) -> dict[str, str]:
    """The variables of a component environment that a client (CLI, shell) needs, sorted by name."""
    return {k: v for k, v in sorted(env.items()) if k.startswith(PREFIXES) or k in NAMES}


def render(env: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines, quoted for a POSIX shell."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def parse(text: str) -> dict[str, str]:
    """The variables of :func:`render`'s output (comments and blank lines ignored)."""
    found = {}
    for word in shlex.split(text, comments=True):
        name, sep, value = word.partition("=")
        if sep and name.isidentifier():
            found[name] = value
    return found


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, readable by its owner only (mode 0600)."""
    partial = path.with_name(f".{path.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(text)
    os.replace(partial, path)


def pid_alive(pid: object) -> bool:
    try:
        number = int(pid)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False
    if number <= 0:
        return False
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(home: Path) -> dict | None:
    try:
        return json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def running_env(home: Path | None = None) -> dict[str, str] | None:
    """The client environment of the stack running in ``home`` (default :func:`local_home`), or None."""
    home = home or local_home()
    state = read_state(home) or {}
    if state.get("status") != "ready" or not pid_alive(state.get("launcher_pid")):
        return None
    try:
        return parse((home / CLIENT_ENV_FILE).read_text())
    except OSError:
        return None


def load(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the running local stack's variables that ``environ`` lacks; returns what was set."""
    environ = os.environ if environ is None else environ
    added = {k: v for k, v in (running_env(local_home(environ)) or {}).items() if k not in environ}
    environ.update(added)
    return added
