"""The events extract: strict contract parsing, flattening, clock skew, and the tenant boundary in S3."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dev.embedded import ensure_bucket
from dev.fakeapi.events_seed import BROKEN_KINDS, classification_event_lines
from salestalk.batch import Batch
from salestalk.extract.events import EventLine, EventScreen, lookup
from salestalk.extract.s3_files import inbound_prefix_segments
from salestalk.pipeline import Services, extract_and_land
from salestalk.storage.tenant_s3 import KMS_ALLOWED_ENV, KMS_KEY_ENV
from salestalk.warehouse.duckdb import DuckDBWarehouse
from tests.support.moto import kms_key
from tests.support.sources import a_source

CONTRACT = "classification.performed"
# The screen's own shape: schema column -> dotted path in the event (as classifications.yaml maps them).
FIELDS = {
    "request_id": "requestId",
    "subject_type": "subject.type",
    "subject_id": "subject.id",
    "intent": "intent",
    "classified_at": "time",
    "confidence_overall": "confidence.overall",
}
# For the extract through S3: an events source of that contract, found by that property, not by name.
SOURCE = a_source(lambda c: c.extract.contract == CONTRACT, kind="events", what=f"of the {CONTRACT} contract")
DAY_END = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)


def screen(tenant: str = "acme") -> EventScreen:
    return EventScreen(contract=CONTRACT, version=None, fields=FIELDS, tenant=tenant)


def event(**changes) -> bytes:
    base = {
        "tenantId": "acme",
        "requestId": "R-1",
        "subject": {"type": "call", "id": "S-1"},
        "intent": "pricing",
        "time": "2026-11-01T10:00:00Z",
        "confidence": {"overall": 0.5, "components": {"tone": 0.2}},
    }
    return json.dumps({**base, **changes}).encode()


def test_a_valid_event_is_flattened_to_the_schema_columns() -> None:
    record, reasons = screen()(EventLine("k", 1, event()))
    assert reasons == []
    assert record == {
        "request_id": "R-1",
        "subject_type": "call",
        "subject_id": "S-1",
        "intent": "pricing",
        "classified_at": "2026-11-01T10:00:00Z",
        "confidence_overall": 0.5,
    }


def test_every_broken_kind_is_quarantined_with_a_reason_that_holds_no_value() -> None:
    lines = classification_event_lines("globex", "2026-11-01")[-len(BROKEN_KINDS) :]
    reasons = {
        kind: screen("globex")(EventLine("k", n, line))[1]
        for n, (kind, line) in enumerate(zip(BROKEN_KINDS, lines, strict=True))
    }
    assert reasons == {
        "string_confidence": ["contract_type($.confidence.overall)"],
        "nan_confidence": ["contract_non_finite($.confidence.overall)"],
        "duplicate_tenant_key": ["contract_duplicate_key($.tenantId)"],
        "bad_timestamp": ["contract_format($.time)"],
        "unknown_intent": ["contract_unknown_enum($.intent)"],
        "other_tenant": ["contract_tenant_mismatch($.tenantId)"],
        "not_json": ["contract_malformed_json($)"],
    }


def test_the_payload_tenant_never_decides_where_a_row_goes() -> None:
    record, reasons = screen("acme")(EventLine("k", 1, event(tenantId="globex")))
    assert reasons == ["contract_tenant_mismatch($.tenantId)"]
    assert "tenantId" not in record and "tenant" not in json.dumps(record)


def test_lookup_treats_missing_and_non_object_steps_as_absent() -> None:
    payload = {"a": {"b": 1}, "c": [1], "n": None}
    assert lookup(payload, "a.b") == 1
    assert lookup(payload, "n") is None
    assert lookup(payload, "a.x") is lookup(payload, "c.b") is lookup(payload, "zz")


@pytest.fixture(scope="module")
def s3_services(moto_server, tmp_path_factory):
    key = kms_key(moto_server)
    patch = pytest.MonkeyPatch()
    patch.setenv(KMS_KEY_ENV, key.key_id)
    patch.setenv(KMS_ALLOWED_ENV, key.key_id)
    client = moto_server.client("s3")
    ensure_bucket(client, "events-props")
    warehouse = DuckDBWarehouse(Path(tmp_path_factory.mktemp("wh")) / "w.duckdb")
    yield client, warehouse, key.key_id
    patch.undo()


TENANT_LOOKALIKES = [
    "t1",
    "t10",
    "t1 ",
    "T1",
    "t1/",
    "t1/../t10",
    "ｔ1",
    "t1\u0000",
    "t%31",
    "",
    "tenants/t10",
]
adversarial_text = st.one_of(
    st.sampled_from(TENANT_LOOKALIKES + ["../", "%2e%2e/", "\r\n", "a/b"]), st.text(max_size=12)
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), adversarial_text)
adversarial_event = st.one_of(
    st.builds(
        lambda tenant, rid, extra: json.dumps(
            {
                "tenantId": tenant,
                "requestId": rid,
                "subject": {"type": "call", "id": "S"},
                "intent": "pricing",
                "time": "2026-11-01T10:00:00Z",
                "confidence": {"overall": 0.5, "components": {}},
                **extra,
            }
        ).encode(),
        st.one_of(st.just("t1"), adversarial_text),
        adversarial_text,
        st.dictionaries(adversarial_text, json_leaf, max_size=3),
    ),
    st.binary(max_size=40),
    st.recursive(
        json_leaf, lambda inner: st.dictionaries(adversarial_text, inner, max_size=3), max_leaves=6
    ).map(lambda v: json.dumps(v).encode()),
)
days = itertools.count()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payloads=st.lists(adversarial_event, min_size=1, max_size=25))
def test_adversarial_payloads_never_write_outside_the_run_tenant(s3_services, payloads: list[bytes]) -> None:
    import pyarrow.parquet as pq

    client, warehouse, key_id = s3_services
    start = dt.datetime(2027, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=next(days))
    batch = Batch(SOURCE.name, "t1", start, start + dt.timedelta(days=1), "prop")
    services = Services(client, "events-props", warehouse)
    drop = services.tenant_s3("t1")
    lines = [p.replace(b"\n", b" ") for p in payloads]
    body = b"\n".join(lines)
    inbound = drop.key(*inbound_prefix_segments(SOURCE.extract.prefix_pattern, batch.ds), "drop.jsonl")
    drop.put_bytes(inbound, body, data_class="inbound")
    services = Services(client, "events-props", warehouse)

    counts = extract_and_land(SOURCE, batch, services)

    landed_in = len([line for line in lines if line.strip()])
    assert counts["extracted"] == counts["landed"] == landed_in, "every line lands, none is dropped"
    writes = services.s3_write_counts()
    assert set(writes) == {"t1"} and writes["t1"]["blocked"] == 0
    assert writes["t1"]["attempted"] == writes["t1"]["written"] + writes["t1"]["duplicate"]
    for key in services.guards["t1"].stats.keys:
        assert key.startswith("tenants/t1/")
        head = client.head_object(Bucket="events-props", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_id
    parts = [k for k in services.guards["t1"].stats.keys if k.endswith(".parquet")]
    rows = [r for k in parts for r in pq.read_table(io.BytesIO(drop.get_bytes(k))).to_pylist()]
    for payload, row in zip([line for line in lines if line.strip()], rows, strict=True):
        try:
            tenant = json.loads(payload).get("tenantId", "t1")
        except (ValueError, AttributeError):
            continue
        if tenant != "t1":
            assert row["_rejections"], f"an event naming tenant {tenant!r} must be quarantined"
