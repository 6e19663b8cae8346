"""Source DAGs: one Airflow DAG per YAML file in include/sources/ (built by salestalk.dagfactory).

Broken configs are skipped here and reported by source_config_errors.py, so they never hide a good DAG.
"""

from salestalk.dagfactory import build_source_dags

build_source_dags(__file__)
