"""AWS clients made through Airflow's hooks share one parsed service model per process (salestalk.aws_sessions),
with the connection's credentials and endpoint, against moto over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from airflow.providers.amazon.aws.hooks import base_aws
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from salestalk import REPO_ROOT, aws_sessions
from salestalk.names import AWS_SESSION_FACTORY

CONN_ID = "aws_shared_models_test"


@pytest.fixture
def moto_conn(moto_server, monkeypatch) -> str:
    conn = {
        "conn_type": "aws",
        "login": "shared-models-key",
        "password": "shared-models-secret",
        "extra": {"endpoint_url": moto_server.endpoint_url, "region_name": "eu-west-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return CONN_ID


def _model(client) -> dict:
    return client.meta.service_model._service_description  # the parsed JSON the client was built from


def test_clients_of_the_shared_factory_reuse_one_parsed_model_and_keep_the_connection(moto_conn, monkeypatch):
    monkeypatch.setattr(base_aws, "SessionFactory", base_aws.BaseSessionFactory)
    first, second = (S3Hook(aws_conn_id=moto_conn).get_conn() for _ in range(2))
    assert _model(first) is not _model(second), "the provider's own factory parses the model per client"

    monkeypatch.setattr(base_aws, "SessionFactory", aws_sessions.SharedModelSessionFactory)
    hook = S3Hook(aws_conn_id=moto_conn)
    first, second = hook.get_conn(), S3Hook(aws_conn_id=moto_conn).get_conn()
    assert _model(first) is _model(second)
    assert _model(first) is aws_sessions.shared_loader().load_service_model("s3", "service-2")
    assert hook.get_session().get_credentials().access_key == "shared-models-key"
    assert first.meta.region_name == "eu-west-1"
    first.create_bucket(Bucket="shared-models", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert "shared-models" in [b["Name"] for b in second.list_buckets()["Buckets"]], "a real request to moto"


def test_after_warming_a_client_reads_no_model_file(moto_conn, monkeypatch):
    """What a Celery worker does at start: a task's later DynamoDB client reads no model from disk."""
    monkeypatch.setattr(base_aws, "SessionFactory", aws_sessions.SharedModelSessionFactory)
    aws_sessions.shared_loader.cache_clear()  # this process's loader, as a new worker has it
    try:
        aws_sessions.warm_models(("dynamodb",))
        read: list[str] = []
        file_loader = aws_sessions.shared_loader().file_loader
        real_load = file_loader.load_file

        def load_file(path):
            read.append(str(path))
            return real_load(path)

        monkeypatch.setattr(file_loader, "load_file", load_file)
        client = base_aws.AwsBaseHook(aws_conn_id=moto_conn, client_type="dynamodb").get_conn()
        assert [p for p in read if "dynamodb" in p] == [], "the model was parsed at warm-up, not again"
        assert client.list_tables()["TableNames"] is not None, "a real request to moto"
        aws_sessions.warm_models(("kms",))
        assert any("kms" in p for p in read), "a model not warmed before is read from disk"
    finally:
        aws_sessions.shared_loader.cache_clear()


@pytest.mark.parametrize("first", ["salestalk.aws_sessions", "airflow.providers.amazon.aws.hooks.base_aws"])
def test_the_configured_factory_loads_whichever_module_is_imported_first(first: str) -> None:
    """``[aws] session_factory`` names our class; the provider reads it while its hook module loads."""
    code = (
        f"import {first}\n"
        "from airflow.providers.amazon.aws.hooks import base_aws\n"
        "print(base_aws.SessionFactory.__module__ + '.' + base_aws.SessionFactory.__name__)\n"
    )
    env = {
        **os.environ,
        "AIRFLOW__AWS__SESSION_FACTORY": AWS_SESSION_FACTORY,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == AWS_SESSION_FACTORY
