"""The two compose configurations as data: docker compose's file with its .env, and the astro CLI's override.

Read with a YAML loader (anchors and ``<<`` merges resolved), interpolated the way compose does it
(``${VAR}``, ``${VAR:-default}``, ``$$``), and each service's environment assembled as its container would
see it: ``env_file`` first, ``environment`` winning. No Docker engine needed.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from salestalk import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yaml"
OVERRIDE = REPO_ROOT / "docker-compose.override.yml"  # the astro CLI reads exactly this name
ENV_EXAMPLE = REPO_ROOT / ".env.example"
COMPOSE_ENV = REPO_ROOT / "docker" / "compose_env.py"
CONTAINER_ROOT = "/opt/airflow"  # the compose image's project folder
ASTRO_ROOT = "/usr/local/airflow"  # the Astro Runtime's project folder

# compose-go (cli/options.go): the file names `docker compose` looks for without -f or COMPOSE_FILE, the
# first one found wins, and then the first override file found in the same folder is merged into it.
COMPOSE_DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
COMPOSE_OVERRIDE_FILES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
# astro-cli (airflow/include/airflow3/composeyml.go.tmpl): the variables its generated compose file sets
# under `environment` for every Airflow container (so they win over the .env it passes as env_file).
ASTRO_TEMPLATE_ENV = frozenset(
    {
        "AIRFLOW__API__BASE_URL",
        "AIRFLOW__API__PORT",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__CORE__AUTH_MANAGER",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR",
        "AIRFLOW__API__SECRET_KEY",
        "ASTRONOMER_ENVIRONMENT",
    }
)
ASTRO_AIRFLOW_SERVICES = ("scheduler", "dag-processor", "api-server", "triggerer")
ASTRO_SERVICES = ("postgres", "db-migration", *ASTRO_AIRFLOW_SERVICES)

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def docker_module(name: str):
    """docker/<name>.py (standard-library scripts, not a package), imported by path."""
    module = sys.modules.get(f"salestalk_docker_{name}")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            f"salestalk_docker_{name}", REPO_ROOT / "docker" / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


def load(path: Path = COMPOSE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines as compose reads an env file (comments and blank lines skipped, values as they are)."""
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def variables(text: str) -> set[str]:
    """Every variable ``text`` interpolates (``$$`` is a literal dollar, not a variable)."""
    return {m.group(1) or m.group(3) for m in _VAR.finditer(text) if m.group(0) != "$$"}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(3)
        default = match.group(2)
        return env.get(name) or (default if default is not None else "")

    return _VAR.sub(one, value)


def container_env(service: dict[str, Any], env_file: dict[str, str]) -> dict[str, str]:
    """What the service's container sees: its env_file (if it declares one), then ``environment``."""
    env = dict(env_file) if service.get("env_file") else {}
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    env.update({k: str(interpolate(v, env_file)) for k, v in environment.items()})
    return env


def generate_env(path: Path) -> dict[str, str]:
    """``make compose-env``: run the generator as a process, return the .env it wrote."""
    done = subprocess.run(
        [sys.executable, str(COMPOSE_ENV), "generate", "--output", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dotenv(path.read_text())


def compose_files_loaded(folder: Path, env_file: dict[str, str]) -> list[str]:
    """The files `docker compose` (no -f) would load in ``folder``, as compose-go decides it."""
    if env_file.get("COMPOSE_FILE"):
        return env_file["COMPOSE_FILE"].split(env_file.get("COMPOSE_PATH_SEPARATOR", ":"))
    found = [name for name in COMPOSE_DEFAULT_FILES if (folder / name).is_file()]
    overrides = [name for name in COMPOSE_OVERRIDE_FILES if (folder / name).is_file()]
    return found[:1] + overrides[:1] if found else []


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host path, container path, options) of the service's bind mounts (host paths start with . or /)."""
    mounts = []
    for volume in service.get("volumes") or []:
        host, _, rest = str(volume).partition(":")
        target, _, options = rest.partition(":")
        if host.startswith((".", "/")):
            mounts.append((host, target, options))
    return mounts


def named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> named volume."""
    mounts = {}
    for volume in service.get("volumes") or []:
        host, _, rest = str(volume).partition(":")
        if not host.startswith((".", "/")):
            mounts[rest.partition(":")[0]] = host
    return mounts


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return command if isinstance(command, str) else " ".join(str(part) for part in command)
