"""dev/ (fake source API, embedded stack, demo, local Airflow launcher) is never imported by plugins/ or dags/.

Every ``.py`` under those folders is parsed and every import statement is checked, wherever it sits: module
level, inside functions, under ``if TYPE_CHECKING:`` or in a ``try``. Relative imports cannot reach dev/
(it is not inside either folder), so only absolute imports are checked.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("plugins", "dags")
DEV = "dev"


def dev_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every import of ``dev`` or ``dev.*`` anywhere in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.extend((node.lineno, name) for name in names if name == DEV or name.startswith(f"{DEV}."))
    return found


def shipped_files() -> list[Path]:
    return sorted(p for folder in SHIPPED for p in (REPO_ROOT / folder).rglob("*.py"))


def test_no_shipped_module_imports_dev() -> None:
    files = shipped_files()
    assert len(files) > 10, f"expected the modules of {SHIPPED}, scanned only {files}"
    assert REPO_ROOT / "plugins" / "salestalk" / "__main__.py" in files
    offences = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offences.extend(
            f"{path.relative_to(REPO_ROOT)}:{line}: imports {module}" for line, module in dev_imports(tree)
        )
    assert not offences, "production code must not import dev/:\n" + "\n".join(offences)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import dev\n", [(1, "dev")]),
        ("import os, dev.fakeapi as api\n", [(1, "dev.fakeapi")]),
        ("from dev.embedded import start_embedded\n", [(1, "dev.embedded")]),
        ("from dev import demo\n", [(1, "dev")]),
        ("def f():\n    from dev.demo import run_demo\n", [(2, "dev.demo")]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dev.embedded import EmbeddedStack\n",
            [(3, "dev.embedded")],
        ),
        ("try:\n    import dev.localairflow\nexcept ImportError:\n    pass\n", [(2, "dev.localairflow")]),
        ("import devtools\nfrom developer import x\nfrom . import dev\nfrom .dev import y\n", []),
        ("from salestalk.dev import z\nimport salestalk.dev\n", []),
    ],
)
def test_the_check_finds_dev_imports_wherever_they_are(source: str, expected: list[tuple[int, str]]) -> None:
    assert dev_imports(ast.parse(source)) == expected
