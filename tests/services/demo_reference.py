"""The ``make demo`` path as a reference: every demo source and the insight summaries, for the given days, each
run with ``dag.test()`` on its own moto, fake API and SQLite metadata DB. The sources run as ``dev.demo`` runs
them; the summaries run once per day by logical date (every tenant), as the distributed stack triggers them,
not once per published partition as ``dev.demo`` does, so the two outputs stay comparable.

The demo sources are those whose config reads the fake API's demo data (tests/support/sources.py), the same
DAGs the distributed stack runs (tests/services/conftest.py ``SOURCE_DAGS``); any other source is left out.

``python -m tests.services.demo_reference OUT.json WORKDIR [DAY ...]`` writes the snapshot
(tests/services/outputs.py); the days default to the demo's two.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(out: Path, workdir: Path, days: tuple[str, ...] = ()) -> int:
    import os

    from dev.localairflow import configure

    configure(workdir / "airflow")
    os.environ.update(
        {
            "SALESTALK_BUCKET": "salestalk-reference",
            "SALESTALK_DUCKDB_PATH": str(workdir / "warehouse.duckdb"),
            "SALESTALK_DYNAMODB_TABLE": "salestalk-app-reference",
        }
    )
    from dev.demo import DEMO_DAYS, INSIGHTS_DAG_ID, load_dags, prepare, run_source_day
    from dev.embedded import start_embedded
    from salestalk.settings import get_settings
    from tests.services.outputs import snapshot
    from tests.support.sources import demo_sources

    settings = get_settings()
    began = time.monotonic()
    stack = start_embedded()
    try:
        prepare(stack, settings.bucket, days or DEMO_DAYS)
        dags = load_dags()
        states = {}
        for day in days or DEMO_DAYS:
            for dag_id in [*sorted(c.dag_id for c in demo_sources()), INSIGHTS_DAG_ID]:
                outcome = run_source_day(dags[dag_id], stack, day)
                states[f"{dag_id}/{day}"] = outcome.state
        result = {
            "states": states,
            "seconds": round(time.monotonic() - began, 1),
            "outputs": snapshot(
                stack.s3_client(),
                settings.bucket,
                settings.duckdb_path,
                stack.dynamodb_client(),
                settings.dynamodb_table,
            ),
        }
    finally:
        stack.stop()
    out.write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), tuple(sys.argv[3:])))
