"""The provider's SnowflakeHook, plus the three connection settings our backend needs.

- ``protocol`` from the connection extra (``"http"`` for fakesnow's server on loopback; the provider
  passes ``host`` and ``port`` through but not ``protocol``), and ``login_timeout``/``network_timeout``
  (seconds; without them the connector retries a failing request for a long time);
- ``paramstyle="qmark"``: values are bound server-side as ``?`` parameters, never formatted client-side;
- ``session_parameters`` from the extra merged with the hook's own (the per-step ``QUERY_TAG``) instead
  of one replacing the other.

Role, warehouse, database and schema come from the Airflow connection, as with the plain hook.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.snowflake.hooks.snowflake import SnowflakeHook

DEFAULT_SCHEMA = "PUBLIC"


class SalesTalkSnowflakeHook(SnowflakeHook):
    """``SnowflakeHook`` with ``protocol`` from the extra, qmark binding and merged session parameters."""

    hook_name = "SalesTalk Snowflake"

    def _get_conn_params(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(super()._get_conn_params())
        extra = self.get_connection(self.get_conn_id()).extra_dejson
        if extra.get("protocol"):
            params["protocol"] = extra["protocol"]
        for timeout in ("login_timeout", "network_timeout"):
            if extra.get(timeout):
                params[timeout] = int(extra[timeout])
        params["paramstyle"] = "qmark"
        params["schema"] = params.get("schema") or DEFAULT_SCHEMA
        params["session_parameters"] = {
            **(extra.get("session_parameters") or {}),
            **(self.session_parameters or {}),
        }
        return params
