"""Run source DAGs and the insight summaries with real Airflow (``dag.test()``), OpenLineage on, in a process
of its own, and write every event a loopback receiver captured to a JSON file.

A process of its own because the provider decides at import whether its listener exists (no transport
configured: no listener), so the transport must be in the environment before Airflow is imported.

    python -m tests.e2e.lineage_capture OUT.json SOURCE [SOURCE ...] [--insights]

The caller sets ``SALESTALK_DUCKDB_PATH``, ``SALESTALK_BUCKET`` and ``SALESTALK_DYNAMODB_TABLE``; this
module starts the embedded stack (moto, the fake source API) and the receiver.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

DAY = "2026-11-01"


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    insights = "--insights" in argv
    sources = [a for a in argv[1:] if not a.startswith("--")]
    from tests.support.receiver import Receiver

    receiver = Receiver().start()
    # The embedded default a developer gets from make airflow, pointed at the receiver instead of a file.
    os.environ["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
        {"type": "http", "url": receiver.url(""), "endpoint": "api/v1/lineage"}
    )
    os.environ["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "salestalk-test"
    os.environ["AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD"] = "True"
    from dev.localairflow import configure

    configure(Path(tempfile.mkdtemp(prefix="lineage-airflow-")))
    from dev.demo import load_dags, prepare, run_source_day
    from dev.embedded import start_embedded

    stack = start_embedded()
    report: dict = {"runs": [], "api_base_url": None}
    try:
        prepare(stack, os.environ["SALESTALK_BUCKET"], (DAY,))
        report["api_base_url"] = stack.api_url
        dags = load_dags()
        for source in sources:
            began = time.monotonic()
            outcome = run_source_day(dags[f"source_{source}"], stack, DAY)
            report["runs"].append(
                {
                    "dag_id": outcome.dag_id,
                    "state": outcome.state,
                    "failed": outcome.failed_tasks,
                    "seconds": round(time.monotonic() - began, 1),
                }
            )
        if insights:
            began = time.monotonic()
            end = dt.datetime.fromisoformat(DAY).replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
            dag_run = dags["app_insight_summaries"].test(logical_date=end)
            failed = [ti.task_id for ti in dag_run.get_task_instances() if ti.state != "success"]
            report["runs"].append(
                {
                    "dag_id": "app_insight_summaries",
                    "state": str(dag_run.state),
                    "failed": failed,
                    "seconds": round(time.monotonic() - began, 1),
                }
            )
        deadline = time.monotonic() + 10
        count = -1
        while count != len(receiver.requests) and time.monotonic() < deadline:  # emission is synchronous,
            count = len(receiver.requests)  # but give a straggling thread a moment
            time.sleep(0.5)
        report["events"] = [{"path": r.path, "event": r.json} for r in receiver.requests]
    finally:
        stack.stop()
        receiver.stop()
    out.write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
