"""The launcher creates the pools the source configs name, and resizes an existing one, over a real
api-server's REST API (only the api-server: about 15 s, most of it ``airflow db migrate``)."""

from __future__ import annotations

import pytest

from tests.support.sources import a_source, add_source_copy, copy_sources

pytestmark = [pytest.mark.e2e, pytest.mark.long]


def test_launcher_creates_and_resizes_the_configured_pools(tmp_path) -> None:
    from dev.airflow_stack import AirflowStack, free_port, stack_env

    folder = copy_sources(tmp_path / "sources")
    template = a_source(kind="rest_api", what="calling a source API")
    pooled = {"api_pool": "scale_api", "api_pool_slots": 3}
    add_source_copy(folder, template, "pooled", changes=lambda d: d.update(concurrency=pooled))
    env = stack_env(tmp_path / "airflow", api_port=free_port(), extra={"SALESTALK_SOURCES_DIR": str(folder)})
    with AirflowStack(env, components=("api-server",)) as stack:

        def pools() -> dict[str, tuple[int, str]]:
            found = stack.request("GET", "/api/v2/pools")["pools"]
            return {p["name"]: (p["slots"], p["description"]) for p in found}

        slots, description = pools()["scale_api"]
        assert slots == 3
        assert "pooled" in description
        stack.ensure_pools({"scale_api": (7, "resized")})
        assert pools()["scale_api"] == (7, "resized")
