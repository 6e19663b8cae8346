"""AWS sessions whose clients share one botocore data loader per process.

Every session of Airflow's amazon hooks gets a loader of its own, so each new S3 client parses the S3
service model again: about 0.3 s of CPU per task. With ``[aws] session_factory`` set to
``SharedModelSessionFactory`` (``salestalk.names.AWS_SESSION_FACTORY``), a process parses each model once,
and a Celery worker parses them at start (:func:`warm_models`, from ``salestalk.worker_preload``) for every
task process it forks.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.loaders
import botocore.session

WARMED_SERVICES = ("s3", "dynamodb", "kms")


@functools.cache
def shared_loader() -> botocore.loaders.Loader:
    """This process's botocore data loader (models are cached by the loader that read them)."""
    return botocore.loaders.create_loader()


def core_session() -> botocore.session.Session:
    """A botocore session that reads its models through :func:`shared_loader`."""
    core = botocore.session.get_session()
    core.register_component("data_loader", shared_loader())
    return core


def __getattr__(name: str) -> Any:
    """``SharedModelSessionFactory``, made on first use: the amazon provider imports it while its own hook
    module is still loading (to read ``[aws] session_factory``), so this module cannot import that one first."""
    if name != "SharedModelSessionFactory":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from airflow.providers.amazon.aws.hooks.base_aws import BaseSessionFactory

    class SharedModelSessionFactory(BaseSessionFactory):
        """The amazon provider's session factory; its sessions read models through :func:`shared_loader`."""

        def _create_basic_session(self, session_kwargs: dict[str, Any]) -> boto3.session.Session:
            return boto3.session.Session(botocore_session=core_session(), **session_kwargs)

    SharedModelSessionFactory.__qualname__ = name
    globals()[name] = SharedModelSessionFactory
    return SharedModelSessionFactory


def warm_models(services: tuple[str, ...] = WARMED_SERVICES) -> None:
    """Parse the models of ``services`` into the shared loader (no request is sent)."""
    session = boto3.session.Session(botocore_session=core_session(), region_name="us-east-1")
    for service in services:
        session.client(service, aws_access_key_id="warm", aws_secret_access_key="warm")
