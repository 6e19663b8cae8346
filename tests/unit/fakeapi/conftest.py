"""A fake source API served over real HTTP on loopback, shared by the fakeapi tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dev.fakeapi import seed
from dev.fakeapi.app import FakeSourceApi
from dev.fakeapi.server import RunningServer, serve

ALL_ARRIVED = "2026-11-10T00:00:00Z"


class FakeApiClient:
    def __init__(self, server: RunningServer) -> None:
        self.url = server.url
        self.api = server.api
        self.session = requests.Session()

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.url + path, params=params, timeout=10)

    def admin(self, method: str, name: str, payload: Any = None) -> Any:
        response = self.session.request(method, f"{self.url}/_admin/{name}", json=payload, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def set_faults(self, *faults: dict[str, Any]) -> None:
        self.admin("POST", "faults", list(faults))

    def listing(self, tenant: str, resource: str, **params: Any) -> requests.Response:
        return self.get(f"/v1/tenants/{tenant}/{resource}", **params)

    def pages_by_cursor(self, tenant: str, resource: str, **params: Any) -> list[dict[str, Any]]:
        """Every page's body, following next_cursor until it is null."""
        bodies: list[dict[str, Any]] = []
        cursor = None
        while True:
            response = self.listing(tenant, resource, **params, **({"cursor": cursor} if cursor else {}))
            assert response.status_code == 200, response.text
            bodies.append(response.json())
            cursor = bodies[-1]["next_cursor"]
            if cursor is None or len(bodies) > 5000:
                return bodies

    def pages_by_number(self, tenant: str, resource: str, **params: Any) -> list[dict[str, Any]]:
        """Every page's body for style=page, until has_more is false."""
        bodies: list[dict[str, Any]] = []
        while not bodies or bodies[-1]["has_more"]:
            response = self.listing(tenant, resource, style="page", page=len(bodies) + 1, **params)
            assert response.status_code == 200, response.text
            bodies.append(response.json())
            assert bodies[-1]["page"] == len(bodies)
        return bodies

    @staticmethod
    def records_of(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [record for body in bodies for record in body["data"]]

    @staticmethod
    def expected_records(
        resource: str,
        tenant: str,
        now: str = ALL_ARRIVED,
        updated_since: str | None = None,
        updated_before: str | None = None,
    ) -> list[dict[str, Any]]:
        """What the API should serve, straight from the seed: arrived by ``now``, inside the window."""
        rows = [row for day in seed.DEMO_DAYS for row in seed.seed_rows(resource, tenant, day)]
        moment = seed.parse_timestamp
        return [
            seed.public_record(row)
            for row in sorted(
                rows, key=lambda row: (row["updated_at"], row[seed.PRIMARY_KEYS[resource]] or "")
            )
            if moment(row["_arrived_at"]) <= moment(now)
            and (updated_since is None or moment(row["updated_at"]) >= moment(updated_since))
            and (updated_before is None or moment(row["updated_at"]) < moment(updated_before))
        ]


@pytest.fixture(scope="session")
def fake_server() -> Iterator[RunningServer]:
    with serve(api=FakeSourceApi(rate_limit=None, days=seed.DEMO_DAYS)) as server:
        yield server


@pytest.fixture
def client(fake_server: RunningServer) -> Iterator[FakeApiClient]:
    fake_server.api.reset()
    fake_server.api.set_clock(ALL_ARRIVED)
    api_client = FakeApiClient(fake_server)
    yield api_client
    api_client.session.close()
