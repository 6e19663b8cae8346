"""Alerting config: defaults, global routes from _defaults.yaml, and clear errors for mistakes."""

from __future__ import annotations

import yaml

from salestalk.config.loader import load_sources
from tests.support.sources import a_source, copy_sources, source_file


def test_defaults_give_every_source_a_log_route_and_a_freshness_deadline() -> None:
    loaded = load_sources()
    assert not loaded.errors
    for source in loaded.configs.values():
        own = (yaml.safe_load(loaded.files[source.name].read_text()) or {}).get("alerting") or {}
        if "routes" not in own:
            assert [r.kind for r in source.alerting.routes] == ["log"], source.name
        if "deadlines" not in own:
            ((deadline),) = source.alerting.deadlines
            assert deadline.name == "freshness_target" and deadline.minutes is None, source.name
        if "data_quality" not in own:
            assert source.alerting.data_quality.max_error_rate == 0.001, source.name
            assert source.alerting.data_quality.min_completeness == 0.995, source.name


def test_a_source_can_replace_the_routes_and_mistakes_are_named(tmp_path) -> None:
    folder = copy_sources(tmp_path / "sources")

    def no_alerting_of_its_own(source) -> bool:
        return "alerting" not in yaml.safe_load(source_file(source, folder).read_text())

    replaced = a_source(no_alerting_of_its_own, folder=folder, what="without its own alerting")
    mistaken = a_source(
        lambda c: c.name != replaced.name and no_alerting_of_its_own(c),
        folder=folder,
        what="besides the first",
    )
    with source_file(replaced, folder).open("a") as handle:
        handle.write(
            "alerting:\n  routes:\n    - {kind: pagerduty, connection: revenue_pd}\n"
            "    - {kind: sns, topic_arn: 'arn:aws:sns:us-east-1:123456789012:alerts'}\n"
        )
    with source_file(mistaken, folder).open("a") as handle:
        handle.write("alerting:\n  routes:\n    - {kind: slak}\n  deadlnes: []\n")
    loaded = load_sources(folder)
    assert [r.kind for r in loaded.configs[replaced.name].alerting.routes] == ["pagerduty", "sns"]
    assert loaded.configs[replaced.name].alerting.deadlines[0].name == "freshness_target"  # still merged in
    errors = sorted(str(e) for e in loaded.errors)
    assert any(
        "alerting.routes[0].kind: must be one of 'log', 'slack', 'sns', 'pagerduty'" in e for e in errors
    )
    assert any("alerting.deadlnes: unknown key (did you mean 'deadlines'?)" in e for e in errors)
