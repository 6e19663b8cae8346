"""Pytest fixtures for the AWS tests, registered by tests/conftest.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.dynamo_env import DynamoEnv
from tests.support.moto import MotoServer

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture
def env(moto_server: MotoServer) -> DynamoEnv:
    """A fresh table and bucket for one test."""
    return DynamoEnv(moto_server)
