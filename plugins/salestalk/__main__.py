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
    errors = list(result.errors)
    if not args.folder:  # the repository's check also covers the cost guardrail's budget file
        from salestalk.config.cost import cost_file, load_cost_config
        from salestalk.config.loader import ConfigErrors

        try:
            load_cost_config()
            print(f"ok    {display_path(cost_file())}")
        except ConfigErrors as exc:
            errors += exc.errors
    for error in errors:
        print(f"error {error}", file=sys.stderr)
    print(f"{len(result.configs)} valid source(s), {len(errors)} problem(s)")
    return 1 if errors else 0


def config_schema(args: argparse.Namespace) -> int:
    from salestalk.config.json_schema import SCHEMA_FILE, render
    from salestalk.config.loader import display_path

    text = render()
    if args.check:
        if not SCHEMA_FILE.is_file() or SCHEMA_FILE.read_text() != text:
            print(f"{display_path(SCHEMA_FILE)} is out of date: run make config-schema", file=sys.stderr)
            return 1
        print(f"{display_path(SCHEMA_FILE)} is up to date")
        return 0
    SCHEMA_FILE.write_text(text)
    print(f"wrote {display_path(SCHEMA_FILE)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    quiet_third_party()
    parser = argparse.ArgumentParser(prog="python -m salestalk")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate-config", help="check every source config, list every problem")
    check.add_argument("--folder", help="folder of source YAML files (default include/sources)")
    check.set_defaults(func=validate_config)
    schema = commands.add_parser("config-schema", help="write the source YAML JSON Schema for editors")
    schema.add_argument("--check", action="store_true", help="exit 1 if the committed schema is out of date")
    schema.set_defaults(func=config_schema)
    from salestalk.ops import register

    register(commands)  # status, alerts, deadlines, freshness, cost, quarantine, dead-letter
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
