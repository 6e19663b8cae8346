"""Run the fake source API in the foreground until SIGTERM or SIGINT (python -m dev.fakeapi --port 8081)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path

from dev.fakeapi.app import DEFAULT_RATE_LIMIT, FakeSourceApi
from dev.fakeapi.seed import FIRST_DAY
from dev.fakeapi.server import LOOPBACK, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m dev.fakeapi", description=__doc__)
    parser.add_argument(
        "--host", default=LOOPBACK, help="address to bind (default: %(default)s, loopback only)"
    )
    parser.add_argument(
        "--port", type=int, default=8081, help="port, 0 picks a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=DEFAULT_RATE_LIMIT,
        help="requests per second per tenant, 0 for none (default: %(default)g)",
    )
    parser.add_argument(
        "--days",
        type=int,
        default=0,
        help="serve only this many days from the first demo day (default: every day from then on)",
    )
    parser.add_argument("--clock", help="freeze the clock at this RFC 3339 time, e.g. 2026-11-02T00:05:00Z")
    parser.add_argument("--ready-file", type=Path, help="write the URL to this file once listening")
    return parser.parse_args(argv)


def build_api(args: argparse.Namespace) -> FakeSourceApi:
    days = [FIRST_DAY + timedelta(days=n) for n in range(args.days)] if args.days else None
    api = FakeSourceApi(rate_limit=args.rate_limit or None, days=days)
    if args.clock:
        api.set_clock(args.clock)
    return api


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    api = build_api(args)
    stop_requested = threading.Event()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    with serve(args.host, args.port, api) as server:
        if args.host not in (LOOPBACK, "localhost", "::1"):
            print(f"warning: listening on {args.host}, not only on loopback", file=sys.stderr)
        print(f"fake source API listening on {server.url}", flush=True)
        if args.ready_file:
            _write_atomically(args.ready_file, server.url)
        while not stop_requested.wait(timeout=1):
            pass
    print("fake source API stopped", file=sys.stderr)
    return 0


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text + "\n")
    os.replace(partial, path)


if __name__ == "__main__":
    sys.exit(main())
