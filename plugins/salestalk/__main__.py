"""Command line: ``python -m salestalk validate-config`` and the operator commands in salestalk.ops."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from salestalk.logs import quiet_third_party


def validate_config(args: argparse.Namespace) -> int:
    from salestalk.config.loader import display_path, load_sources, sources_dir

    folder = Path(args.folder) if args.folder else sources_dir()
    result = load_sources(folder)
    for name in sorted(result.configs):
        print(f"ok    {display_path(result.files[name])}")
    for error in result.errors:
        print(f"error {error}", file=sys.stderr)
    print(f"{len(result.configs)} valid source(s), {len(result.errors)} problem(s)")
    return 1 if result.errors else 0


def main(argv: list[str] | None = None) -> int:
    quiet_third_party()
    parser = argparse.ArgumentParser(prog="python -m salestalk")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate-config", help="check every source config, list every problem")
    check.add_argument("--folder", help="folder of source YAML files (default include/sources)")
    check.set_defaults(func=validate_config)
    from salestalk.ops import register

    register(commands)  # status, alerts, deadlines, freshness, quarantine, dead-letter
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
