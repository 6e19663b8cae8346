"""The UI plugins load in every Airflow process, but build their FastAPI apps only where they are served."""

from __future__ import annotations

import json
import subprocess
import sys

from dev.localairflow import REPO_ROOT

HEAVY = ("fastapi", "airflow.api_fastapi.core_api.security")

TASK_PROCESS = f"""
import json, sys
from airflow.sdk import plugins_manager
plugins, errors = plugins_manager._get_plugins()
print(json.dumps({{
    "plugins": sorted(p.name for p in plugins),
    "errors": errors,
    "heavy": [m for m in {HEAVY!r} if m in sys.modules],
}}))
"""

API_SERVER = """
import json
from airflow import plugins_manager
first, _ = plugins_manager.get_fastapi_plugins()
again = [d["app"] for d in plugins_manager._get_plugins()[0][0].fastapi_apps]
print(json.dumps({
    "apps": sorted((d["url_prefix"], d["name"], type(d["app"]).__name__, len(d["app"].routes)) for d in first),
    "same_object_on_second_read": any(app is d["app"] for d in first for app in again),
}))
"""


def run(code: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_task_process_loads_the_plugins_without_importing_fastapi() -> None:
    loaded = run(TASK_PROCESS)
    assert loaded["errors"] == {}
    assert {"salestalk_dashboard", "salestalk_data_docs"} <= set(loaded["plugins"])
    assert loaded["heavy"] == [], "a plugin built its web app in a task process"


def test_the_api_server_gets_each_app_once_with_its_routes() -> None:
    served = run(API_SERVER)
    prefixes = {prefix: (name, kind, routes) for prefix, name, kind, routes in served["apps"]}
    assert set(prefixes) >= {"/dq-dashboard", "/data-docs"}, served
    for name, kind, routes in prefixes.values():
        assert kind == "FastAPI" and routes >= 2, (name, kind, routes)
    assert served["same_object_on_second_read"]
