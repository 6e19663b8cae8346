"""Every S3 and DynamoDB write in the repository goes through the tenant-safe guards in salestalk.storage."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from salestalk import REPO_ROOT

WRITE_CALLS = frozenset(
    {
        "put_object",
        "upload_file",
        "upload_fileobj",
        "copy_object",
        "delete_object",
        "delete_objects",
        "create_multipart_upload",
        "upload_part",
        "complete_multipart_upload",
        "put_item",
        "update_item",
        "delete_item",
        "batch_write_item",
        "transact_write_items",
        "batch_writer",
        "load_bytes",
        "load_string",
        "load_file",
        "load_file_obj",
    }
)
GUARDS = {
    Path("plugins/salestalk/storage/tenant_s3.py"),
    Path("plugins/salestalk/storage/tenant_dynamodb.py"),
}
SCANNED = ("plugins", "dags", "include", "benchmarks")
# Control-plane writes outside any tenant's data, each with the only calls it may make.
CONTROL_PLANE = {
    # The tenant registry's own partition (tenant_registry.REGISTRY_PK), a constant, never a tenant's.
    Path("plugins/salestalk/tenant_registry.py"): {"put_item"},
}


def write_calls(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        (node.lineno, node.func.attr)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WRITE_CALLS
    ]


def source_files() -> list[Path]:
    return sorted(
        p.relative_to(REPO_ROOT)
        for folder in SCANNED
        for p in (REPO_ROOT / folder).rglob("*.py")
        if ".venvs" not in p.parts
    )


def test_only_the_guards_write() -> None:
    offenders = [
        f"{path}:{line}: .{name}()"
        for path in source_files()
        if path not in GUARDS
        for line, name in write_calls(REPO_ROOT / path)
        if name not in CONTROL_PLANE.get(path, set())
    ]
    assert offenders == [], (
        "S3/DynamoDB writes must go through TenantS3 or TenantDynamoWriter:\n" + "\n".join(offenders)
    )


@pytest.mark.parametrize("guard", sorted(GUARDS), ids=str)
def test_the_guards_do_write(guard: Path) -> None:
    assert write_calls(REPO_ROOT / guard), f"{guard} should hold the write calls this check protects"


def test_the_check_catches_a_bypass(tmp_path: Path) -> None:
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f(client):\n    client.put_object(Bucket='b', Key='tenants/t10/x', Body=b'')\n")
    assert write_calls(sneaky) == [(2, "put_object")]


def test_the_registry_partition_is_no_tenant_partition() -> None:
    from salestalk.storage.tenant_dynamodb import partition_key
    from salestalk.tenant_registry import REGISTRY_PK

    assert not REGISTRY_PK.startswith(partition_key("acme", "x").split("acme", 1)[0])
    assert "{" not in REGISTRY_PK and REGISTRY_PK.endswith("#")
