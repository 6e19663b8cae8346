"""Alerts for on-call: one payload format, notifier routes with dedup, and the Airflow callbacks.

Cheap to import: the scheduler, triggerer, workers and the DAG processor all import
``salestalk.alerting.callbacks`` (Deadline Alert callbacks are stored as import paths), so boto3,
requests, DuckDB and the provider notifiers are only imported inside the functions that send.

- :mod:`salestalk.alerting.payload`: the :class:`~salestalk.alerting.payload.Alert` every route sends.
- :mod:`salestalk.alerting.routes`: local log, Slack, SNS and PagerDuty senders; each dedup key is sent
  at most once per route.
- :mod:`salestalk.alerting.callbacks`: deadline-missed, task-failure and retry callbacks.
- :mod:`salestalk.alerting.deadlines`: ``DeadlineAlert``s from config, and the ``dag.test()`` workaround.
- :mod:`salestalk.alerting.dq`: data-quality alerts (error rate, completeness).
"""
