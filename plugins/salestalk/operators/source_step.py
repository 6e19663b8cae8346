"""Operators that run one pipeline step for a shard of tenants' batches, and the per-run report."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from salestalk.operators.links import STEP_LINKS

if TYPE_CHECKING:
    from airflow.sdk import Context

STEPS = ("extract", "load_to_staging", "validate", "quarantine", "publish")


class SourceStepOperator(BaseOperator):
    """Run ``step`` of ``source_name`` for a shard of tenants over the run's data interval.

    :param source_name: the source config's name (``include/sources/<name>.yaml``).
    :param step: one of extract, load_to_staging, validate, quarantine, publish.
    :param tenants: the shard, from the run's tenants task (the mapped task group), never from the data.
    """

    template_fields = ("tenants",)
    ui_color = "#e8f4fd"
    operator_extra_links = STEP_LINKS

    def __init__(self, *, source_name: str, step: str, tenants: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; expected one of {STEPS}")
        self.source_name = source_name
        self.step = step
        self.tenants = tenants

    @property
    def shard_label(self) -> str:
        """The shard's name in the UI (its map index): its tenants, or the first and last of many."""
        from salestalk.shards import shard_label

        return shard_label(self.tenants)

    def execute(self, context: Context) -> dict[str, Any]:
        from salestalk.operators.openlineage import remember_source_step
        from salestalk.tasks import run_step

        self._lineage = remember_source_step(self.source_name, self.tenants, context)
        self._lineage_result = run_step(self.step, self.source_name, list(self.tenants), context)
        return self._lineage_result

    # OpenLineage (docs/lineage.md): the provider's listener calls these after execute (in a thread or a fork);
    # they read only what execute remembered. Before execute the tenants and interval are not known yet.
    _lineage: dict[str, Any] | None = None
    _lineage_result: dict[str, Any] | None = None

    def get_openlineage_facets_on_start(self) -> Any:
        from salestalk.operators.openlineage import no_lineage_yet

        return no_lineage_yet()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        from salestalk.operators.openlineage import source_step_lineage

        return source_step_lineage(self.step, self._lineage, self._lineage_result)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        from salestalk.operators.openlineage import source_step_lineage

        return source_step_lineage(self.step, self._lineage, None)


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
