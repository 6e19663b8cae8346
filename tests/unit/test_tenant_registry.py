"""The tenant registry: canonical ids, statuses, both backends (a file, DynamoDB on moto over HTTP), and the
run's tenant selection for a source whose config says ``tenants: registry``."""

from __future__ import annotations

import json
import uuid

import pytest

from salestalk.run_params import RunParamsError, param_specs, selected_tenants
from salestalk.tenancy import InvalidTenantId
from salestalk.tenant_registry import (
    DynamoRegistry,
    FileRegistry,
    RegistryError,
    TenantStatus,
    all_tenants,
    get_registry,
    known_tenants,
    parse_entries,
    set_status,
    source_tenants,
)
from tests.support.sources import a_source

ONE = "registry-src"
OTHER = "other-src"


@pytest.fixture
def registry_source():
    """A source config like a shipped one, but without ``tenants``: its tenants come from the registry."""
    template = a_source(what="to copy as a registry source")
    return template.model_copy(update={"name": ONE, "tenants": None})


@pytest.fixture
def pinned_source():
    return a_source(what="with pinned tenants")


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        pytest.param({"tenant": "Acme", "sources": [ONE]}, "lowercase", id="uppercase"),
        pytest.param({"tenant": "a--b", "sources": [ONE]}, "single dashes", id="double-dash"),
        pytest.param({"tenant": "-acme", "sources": [ONE]}, "starting and ending", id="leading-dash"),
        pytest.param({"tenant": "acmé", "sources": [ONE]}, "ASCII", id="non-ascii"),
        pytest.param({"tenant": "ａcme", "sources": [ONE]}, "ASCII", id="fullwidth"),
        pytest.param({"tenant": "a" * 33, "sources": [ONE]}, "longer than 32", id="too-long"),
        pytest.param({"tenant": "../etc", "sources": [ONE]}, "lowercase", id="path"),
        pytest.param({"tenant": 7, "sources": [ONE]}, "tenant", id="not-a-string"),
        pytest.param({"sources": [ONE]}, "tenant: Field required", id="no-id"),
        pytest.param({"tenant": "ok", "status": "deleted", "sources": [ONE]}, "status", id="bad-status"),
        pytest.param({"tenant": "ok", "sources": [ONE], "plan": "gold"}, "plan", id="extra-field"),
    ],
)
def test_a_bad_registry_entry_is_reported_and_never_run(entry, why, caplog):
    listing = parse_entries([{"tenant": "good", "sources": [ONE]}, entry])
    assert listing.active_for(ONE) == ["good"]
    (rejected,) = listing.rejected
    assert why in rejected.reason and rejected.entry == entry
    assert any("skipped entry" in r.getMessage() and why in r.getMessage() for r in caplog.records)


def test_registry_ids_pass_the_same_canonical_check_as_config():
    ids = ["a", "acme", "t-1", "0", "x" * 32]
    listing = parse_entries([{"tenant": t, "sources": [ONE]} for t in ids])
    assert listing.rejected == ()
    assert listing.active_for(ONE) == sorted(ids)


def test_a_duplicate_entry_is_rejected_and_the_first_kept():
    listing = parse_entries([{"tenant": "acme", "sources": [ONE]}, {"tenant": "acme", "status": "paused"}])
    assert listing.active_for(ONE) == ["acme"]
    assert "duplicate" in listing.rejected[0].reason


def test_status_and_sources_decide_the_active_tenants():
    listing = parse_entries(
        [
            {"tenant": "a", "sources": [ONE, OTHER]},
            {"tenant": "b", "status": "paused", "sources": [ONE]},
            {"tenant": "c", "status": "offboarded", "sources": [ONE]},
            {"tenant": "d", "sources": [OTHER]},
        ]
    )
    assert listing.active_for(ONE) == ["a"]
    assert listing.active_for(OTHER) == ["a", "d"]


def exercise(registry):
    """Onboard, pause, resume, offboard through ``registry``; returns the active tenants after each."""
    seen = [registry.listing().active_for(ONE)]
    set_status(registry, "acme", TenantStatus.ACTIVE, [ONE])
    set_status(registry, "beta", TenantStatus.ACTIVE, [ONE, OTHER])
    seen.append(registry.listing().active_for(ONE))
    set_status(registry, "acme", TenantStatus.PAUSED)
    seen.append(registry.listing().active_for(ONE))
    set_status(registry, "acme", TenantStatus.ACTIVE)
    set_status(registry, "beta", TenantStatus.OFFBOARDED)
    seen.append(registry.listing().active_for(ONE))
    return seen


def test_file_registry_onboard_pause_resume_offboard(tmp_path):
    registry = FileRegistry(tmp_path / "reg" / "tenants.yaml")
    assert exercise(registry) == [[], ["acme", "beta"], ["beta"], ["acme"]]
    beta = registry.listing().get("beta")
    assert beta.status is TenantStatus.OFFBOARDED and beta.sources == [OTHER, ONE]  # kept, not deleted
    assert sorted(registry.listing().active_for(OTHER)) == []


def test_file_registry_keeps_a_bad_entry_it_cannot_run(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n- {tenant: 'Not OK', sources: [registry-src]}\n")
    registry = FileRegistry(path)
    set_status(registry, "acme", TenantStatus.ACTIVE, [ONE])
    listing = registry.listing()
    assert listing.active_for(ONE) == ["acme"]
    assert [r.entry["tenant"] for r in listing.rejected] == ["Not OK"]  # still reported, for a human to fix


def test_file_registry_refuses_to_write_a_bad_id_and_unknown_tenants(tmp_path):
    registry = FileRegistry(tmp_path / "tenants.yaml")
    with pytest.raises(InvalidTenantId, match="Acme"):
        set_status(registry, "Acme", TenantStatus.ACTIVE, [ONE])
    with pytest.raises(RegistryError, match="onboard it first"):
        set_status(registry, "ghost", TenantStatus.PAUSED)
    assert not (tmp_path / "tenants.yaml").exists()


def test_an_unreadable_registry_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants: [\n")
    with pytest.raises(RegistryError, match=str(path)):
        FileRegistry(path).listing()
    path.write_text("tenant: []\n")  # a typo'd top-level key (extra="forbid")
    with pytest.raises(RegistryError, match="tenant"):
        FileRegistry(path).listing()


def test_get_registry_reads_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SALESTALK_TENANT_REGISTRY", str(tmp_path / "x.yaml"))
    assert get_registry().path == tmp_path / "x.yaml"
    monkeypatch.delenv("SALESTALK_TENANT_REGISTRY")
    assert get_registry().path.name == "tenants.yaml"
    dyn = get_registry("dynamodb://reg-table", dynamodb_client=object())
    assert isinstance(dyn, DynamoRegistry) and dyn.table == "reg-table"


@pytest.fixture
def dynamo_table():
    from salestalk.storage.tenant_dynamodb import table_definition
    from tests.support.moto import MotoServer

    table = f"registry-{uuid.uuid4().hex[:8]}"  # moto's state is per process: a table of this test's own
    with MotoServer() as server:
        client = server.client("dynamodb")
        client.create_table(**table_definition(table))
        yield client, table


def test_dynamodb_registry_onboard_pause_resume_offboard(dynamo_table):
    registry = DynamoRegistry(*dynamo_table)
    assert exercise(registry) == [[], ["acme", "beta"], ["beta"], ["acme"]]
    assert registry.listing().get("beta").status is TenantStatus.OFFBOARDED


def test_dynamodb_registry_skips_a_bad_id_written_by_hand(dynamo_table):
    from salestalk.tenant_registry import REGISTRY_PK

    client, table = dynamo_table
    client.put_item(
        TableName=table,
        Item={"pk": {"S": REGISTRY_PK}, "sk": {"S": "Bad Id"}, "data": {"M": {"tenant": {"S": "Bad Id"}}}},
    )
    registry = DynamoRegistry(client, table)
    set_status(registry, "acme", TenantStatus.ACTIVE, [ONE])
    listing = registry.listing()
    assert listing.active_for(ONE) == ["acme"]
    assert "Bad Id" in str(listing.rejected[0])


def test_an_unreachable_dynamodb_registry_is_an_error_naming_the_table():
    from tests.support.moto import make_client

    client = make_client("dynamodb", "http://127.0.0.1:9", connect_timeout=1, read_timeout=1)
    with pytest.raises(RegistryError, match="registry-test.*unreachable"):
        DynamoRegistry(client, "registry-test").listing()


def test_a_registry_source_runs_the_active_tenants_read_at_run_time(registry_source, tmp_path):
    registry = FileRegistry(tmp_path / "tenants.yaml")
    assert source_tenants(registry_source, registry) == []
    set_status(registry, "acme", TenantStatus.ACTIVE, [ONE])
    set_status(registry, "beta", TenantStatus.ACTIVE, [ONE])
    set_status(registry, "gamma", TenantStatus.ACTIVE, [OTHER])
    assert source_tenants(registry_source, registry) == ["acme", "beta"]  # onboarded: the next run has it
    set_status(registry, "acme", TenantStatus.PAUSED)
    assert source_tenants(registry_source, registry) == ["beta"]  # paused: left out
    set_status(registry, "beta", TenantStatus.OFFBOARDED)
    assert source_tenants(registry_source, registry) == []
    assert known_tenants(registry_source, registry) == ["acme", "beta"]  # its data stays readable


def test_a_pinned_source_never_reads_the_registry(pinned_source, tmp_path):
    poisoned = FileRegistry(tmp_path / "tenants.yaml")
    (tmp_path / "tenants.yaml").write_text("tenants: [\n")
    assert source_tenants(pinned_source, poisoned) == list(pinned_source.tenants)
    assert all_tenants([pinned_source], poisoned) == sorted(pinned_source.tenants)


def test_all_tenants_unions_pinned_and_registry(registry_source, pinned_source, tmp_path):
    registry = FileRegistry(tmp_path / "tenants.yaml")
    set_status(registry, "zz-new", TenantStatus.ACTIVE, [ONE])
    set_status(registry, "zz-gone", TenantStatus.OFFBOARDED, [ONE])
    both = [registry_source, pinned_source]
    assert all_tenants(both, registry) == sorted({*pinned_source.tenants, "zz-new"})
    assert all_tenants(both, registry, any_status=True) == sorted(
        {*pinned_source.tenants, "zz-new", "zz-gone"}
    )


def test_the_trigger_form_of_a_registry_source_has_no_enum(registry_source):
    spec = param_specs(registry_source)["tenants"]
    assert spec["default"] == [] and not {"items", "enum", "examples"} & set(spec)
    assert "registry" in spec["description"]


def test_selected_tenants_checks_names_against_the_registry(registry_source):
    assert selected_tenants(registry_source, {"tenants": []}, ["acme", "beta"]) == ["acme", "beta"]
    assert selected_tenants(registry_source, {"tenants": ["beta"]}, ["acme", "beta"]) == ["beta"]
    with pytest.raises(RunParamsError, match=r"\['paused-one'\] not active tenant\(s\).*tenant registry"):
        selected_tenants(registry_source, {"tenants": ["paused-one"]}, ["acme"])


def test_the_tenants_commands(tmp_path, monkeypatch, capsys, pinned_source):
    from salestalk.__main__ import main

    monkeypatch.setenv("SALESTALK_TENANT_REGISTRY", str(tmp_path / "tenants.yaml"))
    source = pinned_source.name
    assert main(["tenants", "onboard", "--tenant", "new-co", "--source", source]) == 0
    assert "new-co: active for" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:
        main(["tenants", "onboard", "--tenant", "x", "--source", "no_such_source"])
    assert usage.value.code == 2 and "no_such_source" in capsys.readouterr().err
    assert main(["tenants", "onboard", "--tenant", "New Co", "--source", source]) == 1
    assert "New Co" in capsys.readouterr().err
    assert main(["tenants", "pause", "--tenant", "ghost"]) == 1
    assert main(["tenants", "offboard", "--tenant", "new-co"]) == 0
    assert "its data stays in place" in capsys.readouterr().out
    assert main(["tenants", "list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["tenant"], listed["status"], listed["sources"]) == ("new-co", "offboarded", [source])


def test_the_dynamodb_registry_through_the_aws_connection(dynamo_table, monkeypatch):
    """``dynamodb://<table>`` builds its client from the Airflow AWS connection, as tasks and the CLI do."""
    client, table = dynamo_table
    endpoint = client.meta.endpoint_url
    extra = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("SALESTALK_TENANT_REGISTRY", f"dynamodb://{table}")
    registry = get_registry()
    set_status(registry, "acme", TenantStatus.ACTIVE, [ONE])
    assert DynamoRegistry(client, table).listing().active_for(ONE) == ["acme"]  # the same table


def test_concurrent_file_registry_writes_lose_no_tenant(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    registry = FileRegistry(tmp_path / "tenants.yaml")
    names = [f"t{i:02d}" for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda t: set_status(registry, t, TenantStatus.ACTIVE, [ONE]), names))
    assert registry.listing().active_for(ONE) == names
