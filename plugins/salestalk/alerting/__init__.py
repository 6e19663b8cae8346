"""Alerts for on-call: one payload format, notifier routes with dedup, and the Airflow callbacks.

Cheap to import: workers and the DAG processor import ``salestalk.alerting.callbacks`` (the task
callbacks), and the triggerer imports the deadline watch's trigger, so boto3,
requests, DuckDB and the provider notifiers are only imported inside the functions that send.

- :mod:`salestalk.alerting.payload`: the :class:`~salestalk.alerting.payload.Alert` every route sends.
- :mod:`salestalk.alerting.routes`: local log, Slack, SNS and PagerDuty senders; each dedup key is sent
  at most once per route.
- :mod:`salestalk.alerting.callbacks`: deadline-missed, task-failure and retry callbacks.
- :mod:`salestalk.alerting.deadlines` and :mod:`salestalk.alerting.deadline_watch`: run deadlines from
  config, watched by a deferred task of each run.
- :mod:`salestalk.alerting.dq`: data-quality alerts (error rate, completeness).
"""
