"""Operators that run one pipeline step for one tenant's batch, and the per-run report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from salestalk.operators.links import STEP_LINKS

if TYPE_CHECKING:
    from airflow.sdk import Context

STEPS = ("extract", "load_to_staging", "validate", "quarantine", "publish")


class SourceStepOperator(BaseOperator):
    """Run ``step`` of ``source_name`` for ``tenant`` over the run's data interval.

    :param source_name: the source config's name (``include/sources/<name>.yaml``).
    :param step: one of extract, load_to_staging, validate, quarantine, publish.
    :param tenant: the tenant from the DAG config (the mapped task group), never from the data.
    """

    template_fields = ("tenant",)
    ui_color = "#e8f4fd"
    operator_extra_links = STEP_LINKS

    def __init__(self, *, source_name: str, step: str, tenant: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; expected one of {STEPS}")
        self.source_name = source_name
        self.step = step
        self.tenant = tenant

    def execute(self, context: Context) -> dict[str, Any]:
        from salestalk.tasks import run_step

        return run_step(self.step, self.source_name, self.tenant, context)


class SourceReportOperator(BaseOperator):
    """Log every tenant's counts for the run and fail unless each batch published and balanced.

    :param source_name: the source config's name.
    """

    ui_color = "#fdf3e8"

    def __init__(self, *, source_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_name = source_name

    def execute(self, context: Context) -> dict[str, Any]:
        from salestalk.tasks import report

        return report(self.source_name, context)
