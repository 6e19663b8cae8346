"""Alerting config: defaults, global routes from _defaults.yaml, and clear errors for mistakes."""

from __future__ import annotations

import shutil

from salestalk.config.loader import SOURCES_DIR, load_sources


def test_defaults_give_every_source_a_log_route_and_a_freshness_deadline() -> None:
    loaded = load_sources()
    assert not loaded.errors
    for source in loaded.configs.values():
        assert [r.kind for r in source.alerting.routes] == ["log"]
        ((deadline),) = source.alerting.deadlines
        assert deadline.name == "freshness_target" and deadline.minutes is None
        assert source.alerting.data_quality.max_error_rate == 0.001
        assert source.alerting.data_quality.min_completeness == 0.995


def test_a_source_can_replace_the_routes_and_mistakes_are_named(tmp_path) -> None:
    folder = tmp_path / "sources"
    shutil.copytree(SOURCES_DIR, folder)
    with (folder / "deals.yaml").open("a") as handle:
        handle.write(
            "alerting:\n  routes:\n    - {kind: pagerduty, connection: revenue_pd}\n"
            "    - {kind: sns, topic_arn: 'arn:aws:sns:us-east-1:123456789012:alerts'}\n"
        )
    with (folder / "calls.yaml").open("a") as handle:
        handle.write("alerting:\n  routes:\n    - {kind: slak}\n  deadlnes: []\n")
    loaded = load_sources(folder)
    assert [r.kind for r in loaded.configs["deals"].alerting.routes] == ["pagerduty", "sns"]
    assert loaded.configs["deals"].alerting.deadlines[0].name == "freshness_target"  # still merged in
    errors = sorted(str(e) for e in loaded.errors)
    assert any(
        "alerting.routes[0].kind: must be one of 'log', 'slack', 'sns', 'pagerduty'" in e for e in errors
    )
    assert any("alerting.deadlnes: unknown key (did you mean 'deadlines'?)" in e for e in errors)
