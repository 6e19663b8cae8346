"""Page through a source REST API within its rate limit, retrying transient failures."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from salestalk.batch import format_utc
from salestalk.contracts.strict_json import first_value_wins
from salestalk.storage.backoff import full_jitter_delay

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterator

    import requests

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE_SECONDS = 0.25
BACKOFF_CAP_SECONDS = 20.0
DEFAULT_MAX_RETRY_AFTER_SECONDS = 300.0


class ExtractError(RuntimeError):
    """The source API kept failing, or answered with something we cannot page through."""


class RepeatedPage(Exception):
    """The API served the same page again instead of the next one."""


@dataclass(frozen=True)
class RestSpec:
    base_url: str
    path: str
    style: str
    page_size: int
    rate_limit_per_second: float
    timeout_seconds: float
    max_attempts: int
    max_retry_after_seconds: float = DEFAULT_MAX_RETRY_AFTER_SECONDS


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    repeated_pages: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)


class RateLimiter:
    """Spaces requests at most ``per_second`` apart, and waits out a server's Retry-After."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second
        self.clock = clock
        self.sleep = sleep
        self.next_allowed = clock()

    def wait(self) -> None:
        delay = self.next_allowed - self.clock()
        if delay > 0:
            self.sleep(delay)
        self.next_allowed = max(self.next_allowed, self.clock()) + self.interval

    def hold_for(self, seconds: float) -> None:
        self.next_allowed = max(self.next_allowed, self.clock() + seconds)


def retry_after_seconds(value: str | None, cap: float, now: Callable[[], float] = time.time) -> float:
    """The wait a ``Retry-After`` header asks for (seconds or an HTTP date), at most ``cap`` seconds.

    A wait beyond the cap, or one that is not a number of seconds or a date, is an :class:`ExtractError`
    naming the header's value: the step fails in seconds instead of sleeping until its timeout.
    """
    if value is None or not value.strip():
        return 1.0
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now()
        except (TypeError, ValueError, IndexError, OverflowError):
            raise ExtractError(
                f"Retry-After {text[:80]!r} is neither a number of seconds nor an HTTP date"
            ) from None
    if math.isnan(seconds):
        raise ExtractError(f"Retry-After {text[:80]!r} is not a number of seconds")
    seconds = max(0.0, seconds)
    if seconds > cap:
        raise ExtractError(
            f"Retry-After {text[:80]!r} asks for a wait over the {cap:g} s cap "
            "(extract.max_retry_after_seconds, or the step's remaining time); the API is throttling this "
            "tenant for longer than a run can wait: check the API's status, then clear the task"
        )
    return seconds


class RepeatedKeys(dict):
    """A decoded JSON object that had duplicate keys; the first value of each is kept, as on the file path."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):  # the usual object: no Python-level work beyond the check
        return obj
    found: dict[int, list[str]] = {}
    first = RepeatedKeys(first_value_wins(pairs, found))
    first.repeated = tuple(dict.fromkeys(next(iter(found.values()))))
    return first


def decode_body(content: bytes) -> Any:
    """The response body as JSON; objects with duplicate keys come back as :class:`RepeatedKeys`."""
    return json.loads(content, object_pairs_hook=_object)


def page_chunk(records: list[dict[str, Any]], columns: list[str]) -> Any:
    """One page as a text chunk: a record that repeated a column's key is rejected naming the column."""
    from salestalk.rawtext import records_chunk

    known = set(columns)
    rejections = {
        row: [f"duplicate_key({key})" for key in record.repeated if key in known]
        for row, record in enumerate(records)
        if isinstance(record, RepeatedKeys) and any(key in known for key in record.repeated)
    }
    return records_chunk(records, columns, rejections)


class RestExtractor:
    """Yields pages of records for one tenant and window, oldest first."""

    def __init__(
        self,
        session: requests.Session,
        spec: RestSpec,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        deadline: float | None = None,
    ) -> None:
        self.session = session
        self.spec = spec
        self.deadline = deadline  # time.monotonic() by which the step must be done, if it has a budget
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.limiter = RateLimiter(spec.rate_limit_per_second, sleep=sleep)
        self.stats = RequestStats()

    def _retry_after_cap(self) -> float:
        if self.deadline is None:
            return self.spec.max_retry_after_seconds
        return max(0.0, min(self.spec.max_retry_after_seconds, self.deadline - time.monotonic()))

    def pages(self, tenant: str, since: dt.datetime, before: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        url = self.spec.base_url.rstrip("/") + self.spec.path.format(tenant=tenant)
        base = {
            "updated_since": format_utc(since),
            "updated_before": format_utc(before),
            "page_size": str(self.spec.page_size),
            "style": self.spec.style,
        }
        if self.spec.style == "cursor":
            yield from self._cursor_pages(url, base)
        else:
            yield from self._numbered_pages(url, base)

    def _cursor_pages(self, url: str, base: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        cursor: str | None = None
        seen_cursors: set[str] = set()
        while True:
            params = dict(base, **({"cursor": cursor} if cursor else {}))

            def check(body: dict, sent: str | None = cursor) -> None:
                nxt = body.get("next_cursor")
                if nxt is not None and (nxt == sent or nxt in seen_cursors):
                    raise RepeatedPage(f"next_cursor {nxt!r} was already served")

            body = self._get_json(url, params, check)
            if cursor:
                seen_cursors.add(cursor)
            if body["data"]:
                yield body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def _numbered_pages(self, url: str, base: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        page = 1
        previous: list[dict[str, Any]] | None = None
        while True:
            suspected: list[bool] = []

            def check(
                body: dict,
                expected: int = page,
                suspected: list[bool] = suspected,
                previous: list[dict[str, Any]] | None = previous,
            ) -> None:
                if body.get("page") not in (None, expected):
                    raise RepeatedPage(f"asked for page {expected}, got page {body.get('page')}")
                # Compared as a whole page: pages that differ do so at their first record.
                if body["data"] and body["data"] == previous and not suspected:
                    # Re-ask once: a glitch goes away, while real repeated rows come back the same.
                    suspected.append(True)
                    raise RepeatedPage(f"page {expected} repeats page {expected - 1}")

            body = self._get_json(url, dict(base, page=str(page)), check)
            previous = body["data"] or None
            if body["data"]:
                yield body["data"]
            if not body.get("has_more"):
                return
            page += 1

    def _get_json(self, url: str, params: dict[str, str], check: Callable[[dict], None]) -> dict:
        import requests

        last_problem = "no attempt made"
        for attempt in range(self.spec.max_attempts):
            if attempt:
                self.stats.retries += 1
                self.sleep(
                    full_jitter_delay(
                        attempt, base_delay=BACKOFF_BASE_SECONDS, max_delay=BACKOFF_CAP_SECONDS, rng=self.rng
                    )
                )
            self.limiter.wait()
            self.stats.requests += 1
            try:
                response = self.session.get(url, params=params, timeout=self.spec.timeout_seconds)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                log.warning("attempt %d/%d: %s", attempt + 1, self.spec.max_attempts, last_problem)
                continue
            status = response.status_code
            self.stats.status_counts[status] = self.stats.status_counts.get(status, 0) + 1
            if status == 429:
                self.stats.throttled += 1
                wait = retry_after_seconds(response.headers.get("Retry-After"), self._retry_after_cap())
                self.limiter.hold_for(wait)
                last_problem = f"429 Too Many Requests (Retry-After {wait:g}s)"
                log.warning("attempt %d/%d: %s", attempt + 1, self.spec.max_attempts, last_problem)
                continue
            if status in RETRYABLE_STATUS:
                last_problem = f"HTTP {status}"
                log.warning("attempt %d/%d: %s from %s", attempt + 1, self.spec.max_attempts, status, url)
                continue
            if status >= 400:
                raise ExtractError(f"GET {url} failed with HTTP {status}: {response.text[:300]}")
            try:
                body = decode_body(response.content)
            except (ValueError, RecursionError) as exc:
                last_problem = f"invalid JSON: {str(exc)[:200]}"
                continue
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise ExtractError(f"GET {url} returned an unexpected body: {str(body)[:300]}")
            if isinstance(body, RepeatedKeys):
                last_problem = f"the response body repeats the key(s) {list(body.repeated)}"
                log.warning("attempt %d/%d: %s", attempt + 1, self.spec.max_attempts, last_problem)
                continue
            try:
                check(body)
            except RepeatedPage as exc:
                self.stats.repeated_pages += 1
                last_problem = f"repeated page: {exc}"
                log.warning("attempt %d/%d: %s", attempt + 1, self.spec.max_attempts, last_problem)
                continue
            return body
        raise ExtractError(
            f"GET {url} params={params} failed after {self.spec.max_attempts} attempts; last: {last_problem}"
        )
