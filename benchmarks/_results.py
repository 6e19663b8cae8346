"""Where the benchmarks print and keep their result tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def publish(text: str, results_file: Path, repo_root: Path) -> None:
    """Print the tables and write them to ``benchmarks/results/`` (git-ignored)."""
    print("\n" + text)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(text)
    print(f"written to {results_file.relative_to(repo_root)}")
