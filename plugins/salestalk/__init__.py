"""SalesTalk data pipelines: config, extract, land, stage, validate, quarantine and publish."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
