"""Command line: ``python -m salestalk.contracts check [--contracts-dir DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def check(args: argparse.Namespace) -> int:
    from salestalk.contracts.compat import check_compatibility
    from salestalk.contracts.lint import lint_contracts
    from salestalk.contracts.registry import CONTRACTS_DIR, ContractRegistry

    registry = ContractRegistry(Path(args.contracts_dir) if args.contracts_dir else CONTRACTS_DIR)
    problems = lint_contracts(registry)
    for problem in problems:
        print(f"error     {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} contract problem(s); compatibility not checked", file=sys.stderr)
        return 1
    breaking = check_compatibility(registry)
    for change in breaking:
        print(f"breaking  {change}", file=sys.stderr)
    for contract in registry.contracts():
        versions = ", ".join(f"v{v}" for v in registry.versions(contract))
        bad = any(c.contract == contract for c in breaking)
        print(f"{'BROKEN' if bad else 'ok':<9} {contract} ({versions})")
    print(f"{len(registry.contracts())} contract(s), {len(breaking)} breaking change(s)")
    return 1 if breaking else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salestalk.contracts")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "check", help="lint every contract and check each version against the one before"
    )
    run.add_argument("--contracts-dir", help="folder of contracts (default include/contracts)")
    run.set_defaults(func=check)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
