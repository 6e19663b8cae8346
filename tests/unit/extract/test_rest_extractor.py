"""The REST extractor against the real fake API over HTTP, with faults switched on at the server."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from dev.fakeapi.server import serve
from salestalk.extract.rest import ExtractError, RateLimiter, RestExtractor, RestSpec

SINCE = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
BEFORE = SINCE + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def server():
    with serve() as running:
        yield running


@pytest.fixture
def api(server):
    server.api.reset()
    server.api.set_rate_limit(None)
    server.api.set_clock("2026-11-03T00:00:00Z")
    yield server
    server.api.reset()


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


def make(server, *, style="cursor", page_size=50, rate=1000.0, timeout=5.0, attempts=4, tenant_path="deals"):
    sleep = RecordingSleep()
    spec = RestSpec(
        server.url, f"/v1/tenants/{{tenant}}/{tenant_path}", style, page_size, rate, timeout, attempts
    )
    return RestExtractor(requests.Session(), spec, sleep=sleep), sleep


def records(extractor, tenant="acme") -> list[dict]:
    return [r for page in extractor.pages(tenant, SINCE, BEFORE) for r in page]


@pytest.fixture
def baseline(api):
    extractor, _ = make(api)
    return records(extractor)


def test_baseline_reads_every_page(api, baseline) -> None:
    assert len(baseline) > 250
    assert all(SINCE.strftime("%Y-%m-%d") <= r["updated_at"][:10] for r in baseline)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_errors_are_retried_with_backoff(api, baseline, status) -> None:
    api.api.set_faults({"mode": "server_error", "status": status, "count": 2})
    extractor, sleep = make(api)
    assert records(extractor) == baseline
    assert extractor.stats.retries == 2
    assert extractor.stats.status_counts[status] == 2
    assert len([s for s in sleep.calls if s > 0]) >= 1


def test_gives_up_after_max_attempts_with_a_clear_error(api) -> None:
    api.api.set_faults({"mode": "server_error", "status": 503, "count": 50})
    extractor, _ = make(api, attempts=3)
    with pytest.raises(ExtractError, match=r"failed after 3 attempts; last: HTTP 503"):
        records(extractor)
    assert extractor.stats.requests == 3


def test_client_errors_are_not_retried(api) -> None:
    extractor, _ = make(api)
    with pytest.raises(ExtractError, match="HTTP 404"):
        records(extractor, tenant="umbrella")
    assert extractor.stats.requests == 1


def test_server_rate_limit_is_honoured_via_retry_after(api, baseline) -> None:
    api.api.set_rate_limit(4)
    extractor, _ = make(api, page_size=25, rate=1000)
    answered: list[tuple[float, int]] = []
    extractor.session.hooks["response"].append(
        lambda r, **_: answered.append((time.monotonic(), r.status_code))
    )
    assert records(extractor) == baseline
    assert extractor.stats.throttled >= 1
    for (at, status), (next_at, _) in zip(answered, answered[1:], strict=False):
        if status == 429:
            assert next_at - at >= 0.95, "Retry-After: 1 must hold the next request back a second"


def test_client_throttles_before_the_server_says_429(api, baseline) -> None:
    api.api.set_rate_limit(6)
    extractor, _ = make(api, page_size=25, rate=5)
    started = time.monotonic()
    assert records(extractor) == baseline
    assert extractor.stats.throttled == 0
    assert time.monotonic() - started >= (extractor.stats.requests - 1) / 5 - 0.05


def test_timeouts_are_retried_then_reported(api) -> None:
    api.api.set_faults({"mode": "slow", "seconds": 1.0})
    extractor, _ = make(api, timeout=0.2, attempts=2)
    with pytest.raises(ExtractError, match="ReadTimeout"):
        records(extractor)


def test_slow_but_within_timeout_succeeds(api, baseline) -> None:
    api.api.set_faults({"mode": "slow", "seconds": 0.05})
    extractor, _ = make(api, timeout=5)
    assert records(extractor) == baseline


@pytest.mark.parametrize("style", ["cursor", "page"])
def test_a_repeated_page_is_detected_and_refetched(api, style) -> None:
    extractor, _ = make(api, style=style)
    clean = records(extractor)
    api.api.set_faults({"mode": "repeated_page"})
    extractor, _ = make(api, style=style)
    assert records(extractor) == clean
    assert extractor.stats.repeated_pages == 1


def test_rate_limiter_spaces_requests_with_a_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert now[0] == pytest.approx(1.0)
    limiter.hold_for(3)
    limiter.wait()
    assert now[0] == pytest.approx(4.0)
