"""A loopback TCP proxy that lets a write commit upstream and then loses its response.

``DroppingProxy(upstream_url, matches=amz_target("PutItem"), drop_on={1})`` forwards every HTTP request
to the upstream server. For the matching requests whose 1-based number is in ``drop_on`` it still
forwards the request and reads the whole response (the write has committed), then closes the client's
connection without sending a byte of it: the client sees a reset, as after a network partition.

Stdlib only, binds 127.0.0.1 only, one request per client connection (both sides are told
``Connection: close``), every socket has a timeout and :meth:`close` stops and joins every thread.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable, Collection
    from types import TracebackType

    Predicate = Callable[[dict[str, str], bytes], bool]

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 32 * 1024 * 1024
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection"})


def amz_target(*operations: str) -> Predicate:
    """Requests whose ``X-Amz-Target`` is one of DynamoDB's ``operations`` (e.g. "PutItem")."""
    targets = {f"dynamodb_20120810.{op}".lower() for op in operations}
    return lambda headers, body: headers.get("x-amz-target", "").lower() in targets


class DroppingProxy:
    def __init__(
        self,
        upstream_url: str,
        *,
        matches: Predicate,
        drop_on: Collection[int] = (1,),
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.matches = matches
        self.drop_on = frozenset(drop_on)
        self.timeout = timeout
        self.forwarded = 0
        self.matched = 0
        self.dropped = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._handlers: list[threading.Thread] = []
        self.endpoint_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> DroppingProxy:
        self._accept_thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._accept_thread.is_alive():
            self._accept_thread.join(self.timeout)
        for thread in self._handlers:
            thread.join(self.timeout + 1)
        self._listener.close()

    def __enter__(self) -> DroppingProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(self.timeout)
            handler = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._handlers.append(handler)
            handler.start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            head, headers, body = request
            drop = self._should_drop(headers, body)
            response = self._forward(_close_after(head) + body)
            if drop:
                return  # the write committed upstream; the client never hears of it
            conn.sendall(_close_after_response(response))

    def _should_drop(self, headers: dict[str, str], body: bytes) -> bool:
        with self._lock:
            self.forwarded += 1
            if not self.matches(headers, body):
                return False
            self.matched += 1
            if self.matched not in self.drop_on:
                return False
            self.dropped += 1
            return True

    def _forward(self, raw_request: bytes) -> bytes:
        with socket.create_connection(self.upstream, timeout=self.timeout) as upstream:
            upstream.sendall(raw_request)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def _read_request(conn: socket.socket) -> tuple[bytes, dict[str, str], bytes] | None:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk or len(buffer) > MAX_HEAD_BYTES:
            return None
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    headers = _parse_headers(head)
    length = int(headers.get("content-length", "0"))
    if length > MAX_BODY_BYTES:
        return None
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return head, headers, body[:length]


def _parse_headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    pairs = (line.split(":", 1) for line in lines if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def _without_hop_by_hop(head: bytes) -> list[bytes]:
    first, *lines = head.split(b"\r\n")
    kept = [
        line for line in lines if line.split(b":", 1)[0].strip().lower().decode("latin-1") not in HOP_BY_HOP
    ]
    return [first, *kept]


def _close_after(head: bytes) -> bytes:
    return b"\r\n".join([*_without_hop_by_hop(head), b"Connection: close"]) + b"\r\n\r\n"


def _close_after_response(response: bytes) -> bytes:
    head, separator, body = response.partition(b"\r\n\r\n")
    if not separator:
        return response
    return _close_after(head) + body
