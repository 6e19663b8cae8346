"""Surfaces broken source configs as this file's Airflow import error; it defines no DAG.

Every problem names the config file, the field path and the reason. Good sources keep their DAGs
in sources.py whatever happens here.
"""

from salestalk.dagfactory import raise_config_errors

raise_config_errors()
