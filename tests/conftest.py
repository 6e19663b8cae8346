"""Test isolation: Airflow gets its own home and SQLite DB, set before anything imports airflow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from salestalk.localairflow import configure

configure(Path(tempfile.mkdtemp(prefix="salestalk-test-airflow-")))
os.environ.setdefault("SALESTALK_BUCKET", "salestalk-test")
