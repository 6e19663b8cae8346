"""A plugin's ``fastapi_apps``, built when first read instead of when the plugin module is imported.

Every Airflow process loads the plugins folder (scheduler, triggerer, dag-processor and each task process),
but only the api-server reads ``fastapi_apps``. Building the app imports FastAPI and Airflow's API security,
about 2 s of CPU, which task processes would otherwise pay at every start.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class LazyFastAPIApps:
    """Class attribute for ``AirflowPlugin.fastapi_apps``: one app from ``factory``, built on first read."""

    def __init__(self, factory: Callable[[], Any], url_prefix: str, name: str) -> None:
        self.factory = factory
        self.url_prefix = url_prefix
        self.name = name
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type | None = None) -> list[dict[str, Any]]:
        if self._apps is None:
            self._apps = [{"app": self.factory(), "url_prefix": self.url_prefix, "name": self.name}]
        return self._apps
