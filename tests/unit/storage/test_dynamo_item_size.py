"""DynamoDB item sizes as the developer guide counts them, and the full-jitter backoff."""

from __future__ import annotations

import random

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from salestalk.storage.backoff import Backoff, full_jitter_delay, transient_error_code
from salestalk.storage.item_size import dynamodb_item_size, number_size
from salestalk.storage.tenant_dynamodb import to_attribute_value


@pytest.mark.parametrize(
    ("value", "size"),
    [
        pytest.param({"S": "abc"}, 3, id="ascii-string"),
        pytest.param({"S": "é€"}, 5, id="utf8-string"),
        pytest.param({"N": "123"}, 3, id="3-digits"),
        pytest.param({"N": "-1.5"}, 3, id="negative"),
        pytest.param({"N": "1000000"}, 2, id="trailing-zeros-trimmed"),
        pytest.param({"N": "0.0001234"}, 3, id="leading-zeros-trimmed"),
        pytest.param({"B": b"\x00\x01\x02"}, 3, id="binary"),
        pytest.param({"BOOL": True}, 1, id="bool"),
        pytest.param({"NULL": True}, 1, id="null"),
        pytest.param({"L": []}, 3, id="empty-list"),
        pytest.param({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2), id="list"),
        pytest.param({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1, id="map"),
        pytest.param({"SS": ["a", "bc"]}, 3, id="string-set"),
    ],
)
def test_attribute_sizes(value: dict, size: int) -> None:
    assert dynamodb_item_size({"a": value}) == 1 + size


def test_names_count_and_nesting_adds_up() -> None:
    item = {"pk": {"S": "TENANT#t1#deals#"}, "data": to_attribute_value({"amount": 12345, "tags": ["x"]})}
    assert dynamodb_item_size(item) == (2 + 16) + (4 + 3 + (1 + 6 + 4) + (1 + 4 + 3 + 1 + 1))


def test_number_size_counts_pairs_of_significant_digits() -> None:
    assert [number_size(n) for n in ("1", "12", "123", "1234", "12345")] == [2, 2, 3, 3, 4]


def test_full_jitter_stays_inside_its_exponential_cap() -> None:
    rng = random.Random(11)
    for attempt in range(12):
        cap = min(2.0, 0.05 * 2**attempt)
        delays = [full_jitter_delay(attempt, base_delay=0.05, max_delay=2.0, rng=rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8  # the whole window is used


def test_backoff_sleeps_through_the_injected_sleep() -> None:
    slept: list[float] = []
    backoff = Backoff(max_attempts=3, base_delay=1.0, max_delay=4.0, sleep=slept.append, rng=random.Random(1))
    assert [backoff.pause(n) for n in range(3)] == slept
    with pytest.raises(ValueError, match="max_attempts"):
        Backoff(max_attempts=0)


def client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutItem")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (
            client_error("ProvisionedThroughputExceededException", 400),
            "ProvisionedThroughputExceededException",
        ),
        (client_error("ThrottlingException", 400), "ThrottlingException"),
        (client_error("RequestLimitExceeded", 400), "RequestLimitExceeded"),
        (client_error("InternalServerError", 500), "InternalServerError"),
        (client_error("", 502), "HTTP502"),
        (ReadTimeoutError(endpoint_url="http://x"), "ReadTimeoutError"),
        (ConnectionClosedError(endpoint_url="http://x"), "ConnectionClosedError"),
        (EndpointConnectionError(endpoint_url="http://x"), "EndpointConnectionError"),
        (client_error("ConditionalCheckFailedException", 400), None),
        (client_error("ValidationException", 400), None),
        (client_error("AccessDeniedException", 400), None),
        (ValueError("not an AWS error"), None),
    ],
)
def test_transient_errors_are_named_by_code(error: BaseException, code: str | None) -> None:
    assert transient_error_code(error) == code
