"""The launcher over a real api-server (only the api-server: about 15 s, most of it ``airflow db migrate``):
it creates the pools the source configs name and resizes an existing one over the REST API, and it has the
task execution API built before any task needs it."""

from __future__ import annotations

import pytest

from tests.support.sources import a_source, add_source_copy, copy_sources

pytestmark = [pytest.mark.e2e, pytest.mark.long]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    from dev.airflow_stack import AirflowStack, free_port, stack_env

    tmp_path = tmp_path_factory.mktemp("launcher")
    folder = copy_sources(tmp_path / "sources")
    template = a_source(kind="rest_api", what="calling a source API")
    pooled = {"api_pool": "scale_api", "api_pool_slots": 3}
    add_source_copy(folder, template, "pooled", changes=lambda d: d.update(concurrency=pooled))
    env = stack_env(tmp_path / "airflow", api_port=free_port(), extra={"SALESTALK_SOURCES_DIR": str(folder)})
    with AirflowStack(env, components=("api-server",)) as started:
        yield started


def test_launcher_creates_and_resizes_the_configured_pools(stack) -> None:
    def pools() -> dict[str, tuple[int, str]]:
        found = stack.request("GET", "/api/v2/pools")["pools"]
        return {p["name"]: (p["slots"], p["description"]) for p in found}

    slots, description = pools()["scale_api"]
    assert slots == 3
    assert "pooled" in description
    stack.ensure_pools({"scale_api": (7, "resized")})
    assert pools()["scale_api"] == (7, "resized")


def test_start_has_the_execution_api_built_before_any_task_asks(stack) -> None:
    """Airflow builds the task execution API's routes on its first request (seconds of CPU), which would
    otherwise hold up the first task's start; ``start()`` makes that first request itself."""
    log = stack.log_path("api-server").read_text()
    execution = [line for line in log.splitlines() if "[http.access]" in line and "path=/execution/" in line]
    assert execution, "start() sent no request to the task execution API"
    assert "method=GET path=/execution/health " in execution[0], execution[0]
    assert "status_code=200" in execution[0], execution[0]
