"""docker compose's .env: write one with real random secrets, and refuse placeholder or invalid ones.

    python docker/compose_env.py generate [--force] [--output .env]   # make compose-env
    python docker/compose_env.py check                                 # airflow-init, before anything else

``generate`` copies ``.env.example`` (every comment and setting) and replaces each secret with a fresh
random value of the right form; ``AIRFLOW_UID`` becomes your user id. It never overwrites an existing
file without ``--force``.

``check`` reads the secrets from the environment (compose passes ``.env`` to the init service) and exits 1
with one line naming the first variable that is missing, a placeholder, or malformed. The airflow-init
service runs it before migrating the database, and every Airflow service waits for airflow-init.

Standard library only: it runs in the Airflow image, on the host, and in the tests alike.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / ".env.example"

# What each secret must look like. The generator writes values that pass; the guard refuses the rest.
FERNET = "AIRFLOW__CORE__FERNET_KEY"
JWT = "AIRFLOW__API_AUTH__JWT_SECRET"
API_SECRET = "AIRFLOW__API__SECRET_KEY"
DB_PASSWORD = "POSTGRES_PASSWORD"
UI_PASSWORD = "_AIRFLOW_WWW_USER_PASSWORD"
PII_KEY = "SALESTALK_PII_HMAC_KEY"
SECRETS = (DB_PASSWORD, UI_PASSWORD, JWT, API_SECRET, FERNET, PII_KEY)
MIN_LENGTH = {DB_PASSWORD: 16, UI_PASSWORD: 12, JWT: 32, API_SECRET: 32, PII_KEY: 16}
# The password goes into two database URLs (postgresql://airflow:<password>@postgres/airflow) as it is:
# only RFC 3986 "unreserved" characters survive that unencoded; @ / : # ? % and the like would break it.
URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
PLACEHOLDER = re.compile(
    r"change[-_ ]?me|changeme|placeholder|replace[-_ ]?me|^x+$|^secret$|^password$", re.I
)


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def new_value(name: str) -> str:
    if name == FERNET:
        return fernet_key()
    if name == JWT:
        return secrets.token_urlsafe(64)  # 64 random bytes
    if name == DB_PASSWORD:
        return secrets.token_hex(24)  # URL-safe by construction
    return secrets.token_urlsafe(32)


def problem(name: str, value: str | None) -> str | None:
    """Why ``value`` is not acceptable for ``name``, or None."""
    if not value:
        return f"{name} is not set; run make compose-env (or set it in .env)"
    if PLACEHOLDER.search(value):
        return f"{name} is still a placeholder ({value[:24]!r}); run make compose-env (or set a random value in .env)"
    if name == FERNET:
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) != 32 or base64.urlsafe_b64encode(raw).decode() != value:
            return (
                f"{name} is not a valid Fernet key (32 url-safe base64-encoded bytes); run make compose-env"
            )
    if name == DB_PASSWORD and not URL_SAFE.match(value):
        bad = "".join(sorted({c for c in value if not URL_SAFE.match(c)}))
        return (
            f"{name} contains {bad!r}, which breaks the database URL; use only letters, digits and . _ ~ - "
            "(make compose-env writes such a password)"
        )
    if len(value) < MIN_LENGTH.get(name, 0):
        return f"{name} is too short ({len(value)} characters, at least {MIN_LENGTH[name]}); run make compose-env"
    return None


def check(environ: dict[str, str]) -> str | None:
    for name in SECRETS:
        reason = problem(name, environ.get(name))
        if reason:
            return reason
    return None


def generate(example: str, uid: int) -> str:
    """``example`` with every secret replaced by a new random value and AIRFLOW_UID set to ``uid``."""
    lines = []
    for line in example.splitlines():
        key, sep, _ = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            if key in SECRETS:
                line = f"{key}={new_value(key)}"
            elif key == "AIRFLOW_UID":
                line = f"AIRFLOW_UID={uid}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def host_uid() -> int:
    """Your user id, as the official compose file asks; 50000 (the image's airflow user) for root or Windows."""
    getuid = getattr(os, "getuid", None)
    uid = getuid() if getuid else 0
    return uid or 50000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="compose_env", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate", help="write .env from .env.example with random secrets")
    gen.add_argument("--output", type=Path, default=ROOT / ".env")
    gen.add_argument("--force", action="store_true", help="overwrite an existing file")
    commands.add_parser("check", help="exit 1 naming the first placeholder or invalid secret")
    args = parser.parse_args(argv)
    if args.command == "check":
        reason = check(dict(os.environ))
        if reason:
            print(f"airflow-init: {reason}", file=sys.stderr)
            return 1
        print("airflow-init: secrets checked")
        return 0
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; keeping it (make compose-env FORCE=1 replaces it)", file=sys.stderr)
        return 1
    args.output.write_text(generate(EXAMPLE.read_text(), host_uid()))
    args.output.chmod(0o600)
    print(f"wrote {args.output} with new random secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
