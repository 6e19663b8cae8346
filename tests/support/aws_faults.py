"""Fault injection at the botocore boundary: event hooks on one client, nothing of ours is mocked.

* :class:`FaultInjector` answers the calls a schedule picks with a fabricated error response
  (throttling, 5xx) or raises what a broken network raises (read timeout, connection reset), before the
  request leaves the client, so nothing reaches the server.
* :class:`PartialBatchFault` makes BatchWriteItem process only part of a batch: the chosen put requests
  are removed before the request is built and reported back, exactly those, as ``UnprocessedItems``.
* :class:`RequestRecorder` records every request a client sends (operation and JSON body).

Schedules are deterministic functions of the 1-based call number: :func:`first`, :func:`every`,
:func:`on_calls`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType

    from botocore.awsrequest import AWSPreparedRequest

    Schedule = Callable[[int], bool]
    Fault = Callable[[AWSPreparedRequest], AWSResponse]


def first(n: int) -> Schedule:
    """The first ``n`` calls."""
    return lambda call: call <= n


def every(k: int, *, limit: int | None = None) -> Schedule:
    """Every ``k``-th call (``k``, ``2k``, ...), at most ``limit`` times."""
    return lambda call: call % k == 0 and (limit is None or call // k <= limit)


def on_calls(*numbers: int) -> Schedule:
    wanted = frozenset(numbers)
    return lambda call: call in wanted


# ---- faults ---------------------------------------------------------------------------------------


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def error_response(status: int, code: str, message: str = "injected fault") -> Fault:
    """A DynamoDB JSON error response with ``status`` and ``code``, as the service would send it."""
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
    return lambda request: AWSResponse(request.url, status, headers, _Body(body))


def throttling(code: str = "ProvisionedThroughputExceededException") -> Fault:
    return error_response(400, code, "Rate of requests exceeds the allowed throughput.")


def server_error(status: int = 500, code: str = "InternalServerError") -> Fault:
    return error_response(status, code, "Internal server error")


def read_timeout() -> Fault:
    def fault(request: AWSPreparedRequest) -> AWSResponse:
        raise ReadTimeoutError(endpoint_url=request.url, error="injected read timeout")

    return fault


def connection_reset() -> Fault:
    def fault(request: AWSPreparedRequest) -> AWSResponse:
        raise ConnectionClosedError(endpoint_url=request.url)

    return fault


# ---- hooks ----------------------------------------------------------------------------------------


class _Hooks:
    """Registers ``self._handlers`` ((event, handler) pairs) on a client; usable as a context manager."""

    _handlers: list[tuple[str, Callable[..., Any]]]

    def __init__(self, client) -> None:
        self.client = client
        self.service = client.meta.service_model.service_id.hyphenize()

    def attach(self):
        for event, handler in self._handlers:
            self.client.meta.events.register(event, handler)
        return self

    def detach(self) -> None:
        for event, handler in self._handlers:
            self.client.meta.events.unregister(event, handler)

    def __enter__(self):
        return self.attach()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.detach()


class FaultInjector(_Hooks):
    """Answer the calls of ``operation`` (all operations if None) that ``schedule`` picks with ``fault``."""

    def __init__(self, client, fault: Fault, schedule: Schedule, *, operation: str | None = None) -> None:
        super().__init__(client)
        self.fault = fault
        self.schedule = schedule
        self.calls = 0
        self.injected = 0
        event = f"before-send.{self.service}" + (f".{operation}" if operation else "")
        self._handlers = [(event, self._before_send)]

    def _before_send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        self.calls += 1
        if not self.schedule(self.calls):
            return None
        self.injected += 1
        return self.fault(request)


def hold_back_last(requests: list[dict], leave: int) -> list[int]:
    return list(range(len(requests)))[-leave:] if leave else []


def hold_back_every_other(requests: list[dict], leave: int) -> list[int]:
    return list(range(1, len(requests), 2))[:leave]


class PartialBatchFault(_Hooks):
    """On the BatchWriteItem calls ``schedule`` picks, leave ``leave`` put requests of each table unprocessed.

    The held-back requests are removed before the request is built (so they never reach the server) and
    reported back, exactly those, in ``UnprocessedItems``. If a call would have nothing left to send,
    it fails with ProvisionedThroughputExceededException instead, which is what DynamoDB does when it
    cannot process any item of a batch.
    """

    def __init__(
        self,
        client,
        *,
        leave: int,
        schedule: Schedule,
        choose: Callable[[list[dict], int], list[int]] = hold_back_last,
    ) -> None:
        super().__init__(client)
        self.leave = leave
        self.schedule = schedule
        self.choose = choose
        self.calls = 0
        self.held_back: list[int] = []  # per faulted call
        self._handlers = [
            (f"before-parameter-build.{self.service}.BatchWriteItem", self._hold_back),
            (f"after-call.{self.service}.BatchWriteItem", self._report),
        ]

    @property
    def total_held_back(self) -> int:
        return sum(self.held_back)

    def _hold_back(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.calls += 1
        if not self.schedule(self.calls):
            return
        sent, unprocessed = {}, {}
        for table, requests in params["RequestItems"].items():
            held = set(self.choose(requests, min(self.leave, len(requests))))
            sent[table] = [r for i, r in enumerate(requests) if i not in held]
            unprocessed[table] = [r for i, r in enumerate(requests) if i in held]
        if not any(sent.values()):
            self.held_back.append(sum(map(len, unprocessed.values())))
            raise self.client.exceptions.ProvisionedThroughputExceededException(
                {
                    "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "BatchWriteItem",
            )
        # A new top-level value: the caller's own request lists are left untouched.
        params["RequestItems"] = {table: requests for table, requests in sent.items() if requests}
        context["injected_unprocessed"] = {t: r for t, r in unprocessed.items() if r}
        self.held_back.append(sum(map(len, unprocessed.values())))

    def _report(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        injected = context.pop("injected_unprocessed", None)
        if not injected:
            return
        unprocessed = parsed.setdefault("UnprocessedItems", {})
        for table, requests in injected.items():
            unprocessed.setdefault(table, []).extend(requests)


@dataclass(frozen=True)
class SentRequest:
    operation: str
    body: dict[str, Any]

    @property
    def batch_size(self) -> int:
        return sum(len(requests) for requests in self.body.get("RequestItems", {}).values())


class RequestRecorder(_Hooks):
    """Every HTTP request the client sends (faulted ones included), with its operation and JSON body."""

    def __init__(self, client) -> None:
        super().__init__(client)
        self.sent: list[SentRequest] = []
        self._handlers = [(f"before-send.{self.service}", self._before_send)]

    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> None:
        try:
            parsed = json.loads(request.body or b"{}")
        except (TypeError, ValueError):  # S3 bodies are bytes or streams, not JSON
            parsed = {}
        self.sent.append(
            SentRequest(event_name.rsplit(".", 1)[-1], parsed if isinstance(parsed, dict) else {})
        )

    def operations(self) -> list[str]:
        return [r.operation for r in self.sent]

    def count(self, operation: str | None = None) -> int:
        return sum(1 for r in self.sent if operation is None or r.operation == operation)

    def batch_sizes(self) -> list[int]:
        return [r.batch_size for r in self.sent if r.operation == "BatchWriteItem"]
