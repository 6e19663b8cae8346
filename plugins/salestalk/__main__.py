"""Command line: ``python -m salestalk validate-config | status | demo``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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


def status(args: argparse.Namespace) -> int:
    from salestalk.accounting import batch_summaries, format_table
    from salestalk.config.loader import load_sources
    from salestalk.settings import get_settings
    from salestalk.warehouse.duckdb_backend import DuckDBWarehouse

    loaded = load_sources(only=args.source)
    if args.source not in loaded.configs:
        print(f"unknown or invalid source {args.source!r}", file=sys.stderr)
        return 2
    summaries = batch_summaries(
        DuckDBWarehouse(get_settings().duckdb_path), loaded.configs[args.source], args.interval
    )
    print(format_table(summaries))
    for summary in summaries:
        if summary.get("problem"):
            print(f"problem: {summary['problem']}")
    return 1 if any(s.get("problem") for s in summaries) else 0


def demo(args: argparse.Namespace) -> int:
    from salestalk.demo import run_demo

    return run_demo()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salestalk")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("validate-config", help="check every source config, list every problem")
    check.add_argument("--folder", help="folder of source YAML files (default include/sources)")
    check.set_defaults(func=validate_config)
    show = commands.add_parser("status", help="row counts of one source interval, per tenant")
    show.add_argument("--source", required=True)
    show.add_argument("--interval", required=True, help="interval start, e.g. 2026-11-01T00:00:00Z")
    show.set_defaults(func=status)
    run = commands.add_parser("demo", help="run every demo source end to end on the embedded defaults")
    run.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
