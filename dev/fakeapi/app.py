"""The fake source API as a pure request handler: ``FakeSourceApi.handle`` in, ``Response`` out.

Data: ``GET /v1/tenants/{tenant}/{deals|calls}`` with ``updated_since`` (inclusive), ``updated_before``
(exclusive), ``page_size`` (1..1000, default 100) and ``style=cursor`` (default; ``cursor=<token>``,
answers ``{"data", "next_cursor"}``) or ``style=page`` (``page=1..``, answers ``{"data", "page",
"has_more"}``). Both order by (updated_at, pk, seq); seq breaks ties between exact duplicates, so
the keyset cursor neither loses nor repeats rows. Only rows that arrived by the clock are served.
By default every day from ``seed.FIRST_DAY`` on is served, each built when a request's window first
reaches it; ``days=[...]`` serves only those days, built up front.

Admin (never rate limited): ``GET /_admin/health``, ``GET|POST /_admin/clock``,
``GET|POST|DELETE /_admin/faults``, ``GET|POST /_admin/rate_limit``, ``GET /_admin/stats``,
``POST /_admin/reset``. Stats count the data requests only.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import json
import math
import os
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dev.fakeapi import seed
from dev.fakeapi.faults import Fault, FaultError, apply_record_faults, parse_faults, repeated_key

DEFAULT_RATE_LIMIT = 20.0
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
ADMIN_PREFIX = "/_admin/"
GENERATED_TENANTS_ENV = "SALESTALK_FAKEAPI_TENANTS"  # how many generated tenants t001.. to serve too
LIST_PARAMETERS = ("updated_since", "updated_before", "page_size", "style", "cursor", "page")
_LATE_FAULT_SEQ = 10_000_000
_CACHED_DAYS = 256
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ApiError(Exception):
    """A request the API refuses; becomes a JSON error response."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers, self.details = headers or {}, details

    def response(self) -> Response:
        payload = {"error": self.code, "message": self.message, **self.details}
        return json_response(self.status, payload, self.headers)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, {"Content-Type": "application/json", **(headers or {})}, body)


def _with_repeated_keys(body: dict[str, Any], repeated: list[str | None]) -> Response:
    """``body`` as JSON text in which each record sends its ``repeated`` column twice: the real value first,
    then a conflicting one (what a buggy serializer emits; Python's json would keep the second)."""
    records = []
    for record, column in zip(body["data"], repeated, strict=True):
        text = json.dumps(record, separators=(",", ":"))
        if column is not None and column in record:
            text = text[:-1] + "," + json.dumps(column) + ":" + json.dumps(_conflicting(record[column])) + "}"
        records.append(text)
    envelope = json.dumps({**body, "data": []}, separators=(",", ":"))
    text = envelope.replace('"data":[]', '"data":[' + ",".join(records) + "]", 1)
    return Response(200, {"Content-Type": "application/json"}, text.encode())


def _conflicting(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{value}-conflict"
    return -value - 1


def bad_parameter(parameter: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", message, parameter=parameter)


@dataclass(frozen=True, slots=True)
class StoredRow:
    updated_at: datetime
    pk: str
    seq: int
    arrived_at: datetime
    record: dict[str, Any]

    @property
    def key(self) -> tuple[datetime, str, int]:
        return (self.updated_at, self.pk, self.seq)


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last (updated_at, pk, seq) served, and the page number it leads to."""

    updated_at: datetime
    pk: str
    seq: int
    page: int

    @classmethod
    def after(cls, row: StoredRow, page: int) -> Cursor:
        return cls(row.updated_at, row.pk, row.seq, page)

    def encode(self) -> str:
        position = {"u": seed.format_timestamp(self.updated_at), "k": self.pk, "s": self.seq, "p": self.page}
        text = json.dumps(position, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            cursor = cls(seed.parse_timestamp(position["u"]), position["k"], position["s"], position["p"])
        except (binascii.Error, UnicodeDecodeError, ValueError, KeyError, TypeError) as error:
            raise bad_parameter("cursor", "cursor is not a token this API issued") from error
        if not (
            isinstance(cursor.pk, str) and _is_int(cursor.seq) and _is_int(cursor.page) and cursor.page >= 2
        ):
            raise bad_parameter("cursor", "cursor is not a token this API issued")
        return cursor


@dataclass(frozen=True)
class ListRequest:
    updated_since: datetime | None = None
    updated_before: datetime | None = None
    page_size: int = DEFAULT_PAGE_SIZE
    style: str = "cursor"
    cursor: Cursor | None = None
    page: int = 1

    @property
    def page_number(self) -> int:
        if self.style == "page":
            return self.page
        return self.cursor.page if self.cursor else 1

    def first_page(self) -> ListRequest:
        return ListRequest(self.updated_since, self.updated_before, self.page_size, self.style)


@dataclass(frozen=True)
class Page:
    rows: list[StoredRow]
    following: StoredRow | None  # the first row of the next page, if any


def parse_list_request(query: dict[str, list[str]]) -> ListRequest:
    """Validate the data endpoint's query; every problem is a 400 naming its parameter."""
    for name, values in query.items():
        if name not in LIST_PARAMETERS:
            raise bad_parameter(name, f"unknown parameter {name!r}; expected {list(LIST_PARAMETERS)}")
        if len(values) != 1:
            raise bad_parameter(name, f"parameter {name!r} must be given once")
    values = {name: given[0] for name, given in query.items()}
    style = values.get("style", "cursor")
    if style not in ("cursor", "page"):
        raise bad_parameter("style", "style must be 'cursor' or 'page'")
    misplaced = "page" if style == "cursor" else "cursor"
    if misplaced in values:
        raise bad_parameter(misplaced, f"{misplaced!r} cannot be used with style={style}")
    return ListRequest(
        updated_since=_timestamp_parameter(values, "updated_since"),
        updated_before=_timestamp_parameter(values, "updated_before"),
        page_size=_int_parameter(values, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE),
        style=style,
        cursor=Cursor.decode(values["cursor"]) if "cursor" in values else None,
        page=_int_parameter(values, "page", 1, 1_000_000),
    )


def _timestamp_parameter(values: dict[str, str], name: str) -> datetime | None:
    if name not in values:
        return None
    try:
        return seed.parse_timestamp(values[name])
    except ValueError as error:
        raise bad_parameter(name, f"{name}: {error} (URL-encode a '+' offset)") from error


def _int_parameter(values: dict[str, str], name: str, default: int, highest: int) -> int:
    text = values.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= highest:
        raise bad_parameter(name, f"{name} must be an integer from 1 to {highest}")
    return int(text)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _row_key(row: StoredRow) -> tuple[datetime, str, int]:
    return row.key


@dataclass(frozen=True)
class RowSpan:
    """Stored rows sorted by key, and the latest arrival among them."""

    rows: list[StoredRow]
    last_arrival: datetime | None

    @classmethod
    def of(cls, rows: list[StoredRow]) -> RowSpan:
        return cls(rows, max((row.arrived_at for row in rows), default=None))


class StoredDays:
    """The rows each (resource, tenant) serves: the given days, built up front, or (``days=None``) every
    day from ``seed.FIRST_DAY`` on, each built when a page first needs it and kept in a bounded cache.

    ``seq`` is a row's position in the whole served ordering: day n's rows start at n * the daily size.
    Every day holds exactly the daily size, so numbered pages skip whole settled days without building them.
    """

    def __init__(
        self, resources: Iterable[str], tenants: Iterable[str], days: Iterable[date | str] | None
    ) -> None:
        self.days = None if days is None else sorted({seed.as_date(day) for day in days})
        if self.days == []:
            raise ValueError("days must name at least one day; None serves every day")
        self.first_day = self.days[0] if self.days else seed.FIRST_DAY
        self._fixed = {
            (resource, tenant): RowSpan.of(_stored_rows(resource, tenant, self.days))
            for resource in (resources if self.days else ())
            for tenant in tenants
        }
        self._cache: OrderedDict[tuple[str, str, date], RowSpan] = OrderedDict()

    def last_day(self, now: datetime) -> date:
        """The last day with rows that may have arrived by ``now``."""
        return self.days[-1] if self.days else now.date()

    def span(
        self, resource: str, tenant: str, since: datetime | None, before: datetime | None, now: datetime
    ) -> RowSpan:
        """Every row that may be in [since, before) and arrived by ``now`` (and maybe others), sorted."""
        if self.days:
            return self._fixed[(resource, tenant)]
        parts = [self._day(resource, tenant, day) for day in self._window_days(since, before, now)]
        if len(parts) == 1:
            return parts[0]
        return RowSpan(
            [row for part in parts for row in part.rows],
            max((part.last_arrival for part in parts if part.last_arrival), default=None),
        )

    def page(self, resource: str, tenant: str, request: ListRequest, now: datetime) -> Page:
        """The page ``request`` asks for, building only the days it reaches (every day mode only)."""
        since, before = request.updated_since, request.updated_before
        days = self._window_days(since, before, now)
        skip, after = 0, None
        if request.style == "page":
            skip = (request.page - 1) * request.page_size
            while days and skip >= (
                count := self._visible_count(resource, tenant, days[0], since, before, now)
            ):
                skip -= count
                days.popleft()
        elif request.cursor:
            cursor = request.cursor
            after = (cursor.updated_at, cursor.pk, cursor.seq)
            while days and days[0] < cursor.updated_at.date():
                days.popleft()
        rows = self._visible(resource, tenant, days, since, before, now, after)
        window = list(itertools.islice(rows, skip, skip + request.page_size + 1))
        following = window[request.page_size] if len(window) > request.page_size else None
        return Page(window[: request.page_size], following)

    def _window_days(self, since: datetime | None, before: datetime | None, now: datetime) -> deque[date]:
        first = max(self.first_day, since.date()) if since else self.first_day
        last = now.date() if before is None else min(now.date(), (before - _TICK).date())
        return deque(first + timedelta(days=n) for n in range((last - first).days + 1))

    def _visible_count(
        self,
        resource: str,
        tenant: str,
        day: date,
        since: datetime | None,
        before: datetime | None,
        now: datetime,
    ) -> int:
        whole_day = (since is None or since <= seed.day_start(day)) and (
            before is None or seed.day_start(day + timedelta(days=1)) <= before
        )
        if whole_day and seed.settled_at(day) <= now:
            return seed.daily_size(resource, tenant)
        return sum(1 for _ in self._visible(resource, tenant, [day], since, before, now))

    def _visible(
        self,
        resource: str,
        tenant: str,
        days: Iterable[date],
        since: datetime | None,
        before: datetime | None,
        now: datetime,
        after: tuple[datetime, str, int] | None = None,
    ) -> Iterator[StoredRow]:
        """Rows of ``days`` in [since, before), arrived by ``now`` and after the ``after`` key, in order."""
        for day in days:
            span = self._day(resource, tenant, day)
            rows = span.rows
            low = 0 if since is None else bisect.bisect_left(rows, (since,), key=_row_key)
            if after is not None:
                low = max(low, bisect.bisect_right(rows, after, key=_row_key))
            high = len(rows) if before is None else bisect.bisect_left(rows, (before,), key=_row_key)
            if span.last_arrival is not None and span.last_arrival <= now:
                yield from rows[low:high]
            else:
                yield from (row for row in rows[low:high] if row.arrived_at <= now)

    def _day(self, resource: str, tenant: str, day: date) -> RowSpan:
        key = (resource, tenant, day)
        span = self._cache.pop(key, None)
        if span is None:
            first_seq = (day - self.first_day).days * seed.daily_size(resource, tenant)
            span = RowSpan.of(_to_stored_rows(resource, seed.seed_rows(resource, tenant, day), first_seq))
        self._cache[key] = span
        if len(self._cache) > _CACHED_DAYS:
            self._cache.popitem(last=False)
        return span


class TokenBucketLimiter:
    """One token bucket per key: ``per_second`` tokens a second, burst ``per_second``. None: no limit."""

    def __init__(self, per_second: float | None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.per_second = per_second
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, key: str) -> float:
        """Take a token and return 0.0, or return the seconds until one is available."""
        if not self.per_second:
            return 0.0
        now = self._monotonic()
        tokens, last = self._buckets.get(key, (self.per_second, now))
        tokens = min(self.per_second, tokens + (now - last) * self.per_second)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.per_second


class RequestStats:
    def __init__(self) -> None:
        self._by_path: dict[str, Counter[int]] = {}

    def record(self, path: str, status: int) -> None:
        self._by_path.setdefault(path, Counter())[status] += 1

    def snapshot(self) -> dict[str, Any]:
        by_status: Counter[int] = Counter()
        for statuses in self._by_path.values():
            by_status.update(statuses)
        return {
            "requests": sum(by_status.values()),
            "rate_limited": by_status[429],
            "by_status": {str(status): count for status, count in sorted(by_status.items())},
            "by_path": {
                path: {str(status): count for status, count in sorted(statuses.items())}
                for path, statuses in sorted(self._by_path.items())
            },
        }


class FakeSourceApi:
    """Dataset, clock, faults, rate limiter and stats behind one lock; see the module docstring."""

    def __init__(
        self,
        *,
        rate_limit: float | None = DEFAULT_RATE_LIMIT,
        days: Iterable[date | str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``days``: serve only these days; None serves every day from ``seed.FIRST_DAY`` on."""
        # Scale runs (benchmarks/tenant_scale.py) also serve the generated tenants t001..tNNN.
        generated = int(os.environ.get(GENERATED_TENANTS_ENV) or 0)
        self.tenants = seed.DEMO_TENANTS + seed.generated_tenants(generated)
        self.resources = seed.HTTP_RESOURCES
        self._stored = StoredDays(self.resources, self.tenants, days)
        self._initial_rate_limit = rate_limit
        self._monotonic, self._sleep = monotonic, sleep
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Back to real time, no faults, empty stats and the rate limit this API was built with."""
        with self._lock:
            self._frozen_now: datetime | None = None
            self._faults: list[Fault] = []
            self._stats = RequestStats()
            self._limiter = TokenBucketLimiter(self._initial_rate_limit, self._monotonic)

    def now(self) -> datetime:
        with self._lock:
            return self._frozen_now or datetime.now(UTC)

    def set_clock(self, now: datetime | str | None) -> None:
        """Freeze the clock at ``now``; None returns to real time."""
        if isinstance(now, str):
            now = seed.parse_timestamp(now)
        with self._lock:
            self._frozen_now = now.astimezone(UTC) if now else None

    def set_faults(self, payload: Any) -> list[dict[str, Any]]:
        """Replace the active faults with a fault object or list (raises FaultError)."""
        faults = parse_faults(payload)
        with self._lock:
            self._faults = faults
            return self.faults()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults = []

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def set_rate_limit(self, per_second: float | None) -> None:
        """Requests per second per tenant (burst the same); None or 0 turns the limit off."""
        with self._lock:
            self._limiter = TokenBucketLimiter(per_second or None, self._monotonic)

    @property
    def rate_limit(self) -> float | None:
        return self._limiter.per_second

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return self._stats.snapshot()

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes | None) -> Response:
        with self._lock:
            try:
                response, delay = self._route(method.upper(), path, query or {}, body)
            except ApiError as error:
                response, delay = error.response(), 0.0
            except Exception as error:  # a bug in the fake must not kill the server thread
                response, delay = json_response(500, {"error": "internal_error", "message": repr(error)}), 0.0
            if not path.startswith(ADMIN_PREFIX):
                self._stats.record(path, response.status)
        if delay:
            self._sleep(delay)
        return response

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: bytes | None
    ) -> tuple[Response, float]:
        if path.startswith(ADMIN_PREFIX):
            return self._admin(method, path.removeprefix(ADMIN_PREFIX), body), 0.0
        parts = path.split("/")
        if len(parts) == 5 and parts[:3] == ["", "v1", "tenants"]:
            return self._data(method, parts[3], parts[4], query)
        raise ApiError(404, "not_found", f"no route for {path}")

    def _data(
        self, method: str, tenant: str, resource: str, query: dict[str, list[str]]
    ) -> tuple[Response, float]:
        if tenant not in self.tenants:
            raise ApiError(404, "unknown_tenant", f"unknown tenant {tenant!r}", tenant=tenant)
        if resource not in self.resources:
            message = f"unknown resource {resource!r}; served: {list(self.resources)}"
            raise ApiError(404, "unknown_resource", message, resource=resource)
        if method != "GET":
            raise ApiError(
                405, "method_not_allowed", f"{method} is not allowed here", headers={"Allow": "GET"}
            )
        wait = self._limiter.acquire(tenant)
        if wait:
            retry_after = max(1, math.ceil(wait))
            message = f"more than {self._limiter.per_second:g} requests per second for tenant {tenant!r}"
            error = ApiError(429, "rate_limited", message, headers={"Retry-After": str(retry_after)})
            return error.response(), 0.0
        request = parse_list_request(query)
        faults = [fault for fault in self._faults if fault.matches(resource, tenant)]
        for fault in faults:
            fault.matched += 1
        delay = sum(fault.options["seconds"] for fault in faults if fault.mode == "slow")
        failing = [fault for fault in faults if fault.mode == "server_error" and fault.fails_now()]
        if failing:
            status = failing[0].options["status"]
            return ApiError(status, "server_error", f"injected fault: HTTP {status}").response(), delay
        throttled = [fault for fault in faults if fault.mode == "throttle" and fault.fails_now()]
        if throttled:
            headers = {"Retry-After": throttled[0].options["retry_after"]}
            return ApiError(
                429, "rate_limited", "injected fault: throttled", headers=headers
            ).response(), delay
        return self._listing(resource, tenant, request, faults), delay

    def _listing(self, resource: str, tenant: str, request: ListRequest, faults: list[Fault]) -> Response:
        served = request
        if any(fault.repeats_now(request.page_number) for fault in faults if fault.mode == "repeated_page"):
            served = request.first_page()
        page = self._page(resource, tenant, served, faults)
        rows = list(page.rows)
        if any(fault.mode == "duplicates" for fault in faults):
            rows = [row for row in rows for _ in range(2)] + ([page.following] if page.following else [])
        data = [apply_record_faults(faults, resource, row.seq, row.record) for row in rows]
        if request.style == "page":
            body = {"data": data, "page": request.page, "has_more": page.following is not None}
        else:
            cursor = Cursor.after(page.rows[-1], served.page_number + 1).encode() if page.following else None
            body = {"data": data, "next_cursor": cursor}
        repeated = [repeated_key(faults, resource, row.seq) for row in rows]
        if any(repeated):
            return _with_repeated_keys(body, repeated)
        return json_response(200, body)

    def _page(self, resource: str, tenant: str, request: ListRequest, faults: list[Fault]) -> Page:
        now = self.now()
        extra = self._late_fault_rows(resource, tenant, request, faults, now)
        if self._stored.days or extra:
            return _select_page(self._visible_rows(resource, tenant, request, extra, now), request)
        return self._stored.page(resource, tenant, request, now)

    def _visible_rows(
        self, resource: str, tenant: str, request: ListRequest, extra: list[StoredRow], now: datetime
    ) -> list[StoredRow]:
        since, before = request.updated_since, request.updated_before
        # Rows are sorted by key, so a window is two bisections; most rows arrived long ago.
        span = self._stored.span(resource, tenant, since, before, now)
        rows = span.rows
        if extra:
            rows = sorted(rows + extra, key=lambda row: row.key)
            return [
                row
                for row in rows
                if row.arrived_at <= now
                and (since is None or row.updated_at >= since)
                and (before is None or row.updated_at < before)
            ]
        low = 0 if since is None else bisect.bisect_left(rows, (since,), key=_row_key)
        high = len(rows) if before is None else bisect.bisect_left(rows, (before,), key=_row_key)
        if span.last_arrival is not None and span.last_arrival <= now:
            return rows[low:high]
        return [row for row in rows[low:high] if row.arrived_at <= now]

    def _late_fault_rows(
        self, resource: str, tenant: str, request: ListRequest, faults: list[Fault], now: datetime
    ) -> list[StoredRow]:
        start = request.updated_since or seed.day_start(self._stored.first_day)
        end = request.updated_before or seed.day_start(self._stored.last_day(now)) + timedelta(days=1)
        extra = []
        for fault in faults:
            if fault.mode == "late_records":
                generated = seed.fault_late_records(resource, tenant, start, end, fault.options["count"])
                extra += _to_stored_rows(resource, generated, first_seq=_LATE_FAULT_SEQ + len(extra))
        return extra

    def _admin(self, method: str, name: str, body: bytes | None) -> Response:
        routes: dict[str, dict[str, Callable[[bytes | None], Any]]] = {
            "health": {"GET": lambda _: {"ok": True}},
            "clock": {"GET": lambda _: self._clock_state(), "POST": self._post_clock},
            "faults": {
                "GET": lambda _: self._faults_state(),
                "POST": self._post_faults,
                "DELETE": self._delete_faults,
            },
            "rate_limit": {"GET": lambda _: {"per_second": self.rate_limit}, "POST": self._post_rate_limit},
            "stats": {"GET": lambda _: self._stats.snapshot()},
            "reset": {"POST": self._post_reset},
        }
        if name not in routes:
            raise ApiError(404, "not_found", f"no admin endpoint {name!r}; expected one of {sorted(routes)}")
        if method not in routes[name]:
            allowed = ", ".join(routes[name])
            raise ApiError(
                405, "method_not_allowed", f"{method} is not allowed here", headers={"Allow": allowed}
            )
        return json_response(200, routes[name][method](body))

    def _clock_state(self) -> dict[str, Any]:
        return {"now": seed.format_timestamp(self.now()), "frozen": self._frozen_now is not None}

    def _post_clock(self, body: bytes | None) -> dict[str, Any]:
        payload = _json_body(body)
        if not isinstance(payload, dict) or not isinstance(payload.get("now", 0), str | None):
            raise bad_parameter("now", 'send {"now": "2026-11-02T00:05:00Z"} or {"now": null}')
        try:
            self.set_clock(payload["now"])
        except ValueError as error:
            raise bad_parameter("now", str(error)) from error
        return self._clock_state()

    def _faults_state(self) -> dict[str, Any]:
        return {"faults": self.faults()}

    def _post_faults(self, body: bytes | None) -> dict[str, Any]:
        try:
            self.set_faults(_json_body(body))
        except FaultError as error:
            raise bad_parameter("faults", str(error)) from error
        return self._faults_state()

    def _delete_faults(self, body: bytes | None) -> dict[str, Any]:
        self.clear_faults()
        return self._faults_state()

    def _post_rate_limit(self, body: bytes | None) -> dict[str, Any]:
        payload = _json_body(body)
        per_second = payload.get("per_second", -1) if isinstance(payload, dict) else -1
        valid = per_second is None or (
            isinstance(per_second, int | float) and not isinstance(per_second, bool)
        )
        if not valid or (per_second is not None and not 0 <= per_second <= 100_000):
            raise bad_parameter("per_second", 'send {"per_second": 5}; 0 or null turns the limit off')
        self.set_rate_limit(per_second)
        return {"per_second": self.rate_limit}

    def _post_reset(self, body: bytes | None) -> dict[str, Any]:
        self.reset()
        return {"ok": True}


def _json_body(body: bytes | None) -> Any:
    try:
        return json.loads(body or b"")
    except (ValueError, UnicodeDecodeError) as error:
        raise bad_parameter("body", "the request body must be JSON") from error


def _select_page(rows: list[StoredRow], request: ListRequest) -> Page:
    if request.style == "page":
        start = (request.page - 1) * request.page_size
    elif request.cursor:
        after = (request.cursor.updated_at, request.cursor.pk, request.cursor.seq)
        start = bisect.bisect_right(rows, after, key=lambda row: row.key)
    else:
        start = 0
    window = rows[start : start + request.page_size + 1]
    following = window[request.page_size] if len(window) > request.page_size else None
    return Page(window[: request.page_size], following)


def _stored_rows(resource: str, tenant: str, days: list[date]) -> list[StoredRow]:
    rows = [row for day in days for row in seed.seed_rows(resource, tenant, day)]
    pk = seed.PRIMARY_KEYS[resource]
    rows.sort(key=lambda row: (row[seed.CURSOR_FIELD], row[pk] or ""))
    return _to_stored_rows(resource, rows, first_seq=0)


def _to_stored_rows(resource: str, rows: list[dict[str, Any]], first_seq: int) -> list[StoredRow]:
    pk = seed.PRIMARY_KEYS[resource]
    return [
        StoredRow(
            updated_at=seed.parse_timestamp(row[seed.CURSOR_FIELD]),
            pk=row[pk] or "",
            seq=first_seq + index,
            arrived_at=seed.parse_timestamp(row[seed.ARRIVED_AT]),
            record=seed.public_record(row),
        )
        for index, row in enumerate(rows)
    ]
