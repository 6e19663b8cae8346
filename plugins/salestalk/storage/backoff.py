"""Full-jitter exponential backoff and the AWS errors worth retrying.

Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): before retry ``n`` (0-based),
sleep ``uniform(0, min(max_delay, base_delay * 2**n))``. Spreading retries over the whole window keeps
a fleet of throttled writers from retrying in lock-step.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

if TYPE_CHECKING:
    from collections.abc import Callable

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)
SERVER_ERROR_CODES = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable"})


def full_jitter_delay(attempt: int, *, base_delay: float, max_delay: float, rng: random.Random) -> float:
    return rng.uniform(0, min(max_delay, base_delay * 2**attempt))


@dataclass
class Backoff:
    """How many attempts an operation gets and how long to wait between them."""

    max_attempts: int = 8
    base_delay: float = 0.05
    max_delay: float = 2.0
    sleep: Callable[[float], object] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (got {self.max_attempts})")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")

    def pause(self, attempt: int) -> float:
        """Sleep before retry ``attempt`` (0-based) and return the delay."""
        delay = full_jitter_delay(attempt, base_delay=self.base_delay, max_delay=self.max_delay, rng=self.rng)
        self.sleep(delay)
        return delay


def transient_error_code(error: BaseException) -> str | None:
    """A short name for a retryable error (throttling, 5xx, timeout, dropped connection), else None.

    The name is an error code or exception class, never the message: messages can quote item values.
    """
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in THROTTLING_CODES or code in SERVER_ERROR_CODES or status >= 500:
            return code or f"HTTP{status}"
        return None
    if isinstance(error, HTTPClientError | BotoConnectionError):
        return type(error).__name__
    return None


def error_code(error: BaseException) -> str:
    """The error code or exception class name of any error, for logs and dead-letter records."""
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") or "ClientError"
    return type(error).__name__


# Everything a botocore call can raise that is about the call, not about our code.
AWS_CALL_ERRORS = (ClientError, HTTPClientError, BotoConnectionError)
