"""A moto server on loopback HTTP and low-level boto3 clients for it. Independent of pytest."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from collections.abc import Generator
    from types import TracebackType

REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
# botocore's own retries off: the code under test owns retries, and fault schedules stay deterministic.
NO_SDK_RETRIES = {"mode": "standard", "total_max_attempts": 1}


_session: boto3.session.Session | None = None


def make_client(service: str, endpoint_url: str, *, retries: dict[str, Any] | None = None, **config: Any):
    """A low-level client for ``service`` at ``endpoint_url`` (us-east-1, dummy credentials)."""
    global _session  # one session: its parsed service models make each further client cheap
    _session = _session or boto3.session.Session()
    return _session.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        config=Config(retries=retries or NO_SDK_RETRIES, **config),
        **DUMMY_CREDENTIALS,
    )


class MotoServer:
    """``with MotoServer() as server: server.client("dynamodb")`` - a moto server on 127.0.0.1, any free port."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint_url = ""

    def start(self) -> MotoServer:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def client(self, service: str, *, endpoint_url: str | None = None, **kwargs: Any):
        return make_client(service, endpoint_url or self.endpoint_url, **kwargs)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def kms_key(server: MotoServer):
    """A fresh KMS key on ``server``, allow-listed, for TenantS3."""
    from salestalk.storage.tenant_s3 import KmsKey

    key_id = server.client("kms").create_key()["KeyMetadata"]["KeyId"]
    return KmsKey(key_id, frozenset({key_id}))


@contextlib.contextmanager
def s3_listings(client) -> Generator[list[dict[str, Any]], None, None]:
    """The parameters (``Prefix``, ``StartAfter`` ...) of every ListObjectsV2 call ``client`` makes inside the
    block, recorded by a botocore event hook."""
    calls: list[dict[str, Any]] = []

    def note(params, **_):
        calls.append(dict(params))

    client.meta.events.register("provide-client-params.s3.ListObjectsV2", note)
    try:
        yield calls
    finally:
        client.meta.events.unregister("provide-client-params.s3.ListObjectsV2", note)
