"""Data-quality gate: GX suites as the rule source, DuckDB SQL for row verdicts, GX for reports.

Submodules are imported explicitly (``salestalk.quality.sql``...); nothing heavy is imported here.
"""
