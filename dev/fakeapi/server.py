"""Serve a FakeSourceApi over HTTP from a daemon thread, on loopback unless told otherwise."""

from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from dev.fakeapi.app import FakeSourceApi

LOOPBACK = "127.0.0.1"
_MAX_BODY_BYTES = 1_000_000


class RunningServer:
    """A started server: ``url``, ``api``, ``stop()``; also a context manager that stops on exit."""

    def __init__(self, httpd: ThreadingHTTPServer, api: FakeSourceApi) -> None:
        self.api = api
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="fakeapi-http", daemon=True)
        self._thread.start()
        self._stopped = False

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def serve(host: str = LOOPBACK, port: int = 0, api: FakeSourceApi | None = None) -> RunningServer:
    """Start serving ``api`` (a fresh FakeSourceApi by default); port 0 picks a free port."""
    api = api or FakeSourceApi()
    server_class = _IPv6Server if ":" in host else _Server
    httpd = server_class((host, port), _handler_for(api))
    httpd.daemon_threads = True
    return RunningServer(httpd, api)


class _Server(ThreadingHTTPServer):
    """A client that hangs up early (a timeout, a dropped connection) is normal here, not a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


def _handler_for(api: FakeSourceApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "SalesTalkFakeApi/1.0"
        timeout = 30

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            self._answer()

        def do_PUT(self) -> None:
            self._answer()

        def do_PATCH(self) -> None:
            self._answer()

        def do_DELETE(self) -> None:
            self._answer()

        def _answer(self) -> None:
            target = urlsplit(self.path)
            length_header = self.headers.get("Content-Length") or "0"
            if not length_header.isdigit() or int(length_header) > _MAX_BODY_BYTES:
                self.send_error(413 if length_header.isdigit() else 400)
                return
            length = int(length_header)
            body = self.rfile.read(length) if length else None
            query = parse_qs(target.query, keep_blank_values=True)
            response = api.handle(self.command, target.path, query, body)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
