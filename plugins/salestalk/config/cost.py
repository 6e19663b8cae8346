"""The warehouse budget and the cost guardrail's settings: ``include/cost.yaml``.

Validated by :class:`CostConfig` (unknown keys are refused); every problem names the file, the field
and the reason, like the source configs. ``SALESTALK_COST_CONFIG`` points at another file (tests, a
second deployment).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from salestalk import REPO_ROOT
from salestalk.config.alerting import LogRoute, Route

COST_FILE = REPO_ROOT / "include" / "cost.yaml"
COST_FILE_ENV = "SALESTALK_COST_CONFIG"
# A table or view name: one to three dot-separated identifiers (checked again when quoted).
RELATION = r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){0,2}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Attribution(_Strict):
    """Where per-query credits are read, per backend: one relation with the columns of Snowflake's
    ``ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY`` (query_id, query_tag, start_time,
    credits_attributed_compute, credits_used_query_acceleration)."""

    snowflake: str = Field(
        default="SNOWFLAKE.ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY",
        pattern=RELATION,
        description="The account usage view, or a view over it the loader role may read.",
    )
    duckdb: str = Field(
        default="audit.query_attribution_history",
        pattern=RELATION,
        description="The embedded warehouse's seeded usage table (DuckDB has no query tags).",
    )


class CostConfig(_Strict):
    budget_usd: float = Field(gt=0, description="Monthly warehouse budget in US dollars.")
    price_per_credit_usd: float = Field(gt=0, le=1000, description="What one credit costs, in US dollars.")
    alert_threshold: float = Field(
        default=0.8, gt=0, le=1, description="Alert once a month when spend or projection reaches this share."
    )
    projection: Literal["trailing_7_days", "linear"] = Field(
        default="trailing_7_days",
        description=(
            "trailing_7_days: month-to-date + mean daily spend of the 7 days before today x days left; "
            "linear: month-to-date / days elapsed (today counted) x days in the month."
        ),
    )
    top_n: int = Field(default=5, ge=1, le=50, description="How many top spenders the alert and CLI name.")
    stale_claim_minutes: int = Field(
        default=30,
        ge=1,
        le=24 * 60,
        description="An alert claimed but never marked sent (a killed worker) may be re-sent after this.",
    )
    attribution: Attribution = Field(default_factory=Attribution)
    routes: list[Route] = Field(default_factory=lambda: [LogRoute(kind="log")], min_length=1)


def cost_file() -> Path:
    return Path(os.environ.get(COST_FILE_ENV) or COST_FILE)


def _reason(error: dict, model: type[BaseModel]) -> str:
    from salestalk.config.loader import _reason as source_reason

    if error["type"] != "extra_forbidden":
        return source_reason(error)
    owner: type[BaseModel] = model
    for part in error["loc"][:-1]:
        if isinstance(part, int) or part not in owner.model_fields:
            return "unknown key"
        annotation = owner.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return "unknown key"
        owner = annotation
    known = sorted(owner.model_fields)
    hint = difflib.get_close_matches(str(error["loc"][-1]), known, n=1)
    return "unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else f"; allowed keys: {known}")


def load_cost_config(path: Path | None = None) -> CostConfig:
    """The validated cost config; ConfigErrors (file, field, reason) listing every problem."""
    from salestalk.config.loader import ConfigError, ConfigErrors, _field_path, _read_yaml, display_path

    path = path or cost_file()
    shown = display_path(path)
    raw = _read_yaml(path)
    try:
        return CostConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigErrors(
            [ConfigError(shown, _field_path(e["loc"]), _reason(e, CostConfig)) for e in exc.errors()]
        ) from None
