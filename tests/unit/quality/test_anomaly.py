"""Anomaly detectors on seeded histories: each injected anomaly raises exactly one alert, normal days none."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from salestalk.alerting import dq
from salestalk.config.models import AnomalyConfig
from salestalk.names import LOAD, PUBLISH, VALIDATE
from salestalk.pipeline import hold_back_reason
from salestalk.quality.anomaly import Profile, detect
from tests.support.sources import a_source

DAY = dt.timedelta(days=1)
FIRST = dt.datetime(2026, 9, 7, tzinfo=dt.UTC)  # a Monday
WEEKDAY_SIZE = [240, 260, 250, 255, 230, 60, 40]  # a B2B product: quiet weekends
CONFIG = AnomalyConfig()


def seeded_day(rng: random.Random, start: dt.datetime, *, published: bool = True) -> Profile:
    """One normal day: weekday seasonality, binomial-like noise, ~2% nulls, a stable amount mean."""
    expected = WEEKDAY_SIZE[start.weekday()]
    rows = max(0, round(rng.gauss(expected, expected**0.5 * 1.5)))
    nulls = {"amount": rng.uniform(0.0, 0.04), "stage": rng.uniform(0.0, 0.02)}
    means = {"amount": rng.gauss(5000, 5000 / rows**0.5 if rows else 1)}
    return Profile(start, rows, nulls, means, start if published and rows else None)


def seeded_history(seed: int, days: int = 60) -> list[Profile]:
    rng = random.Random(seed)
    return [seeded_day(rng, FIRST + n * DAY) for n in range(days)]


def alerts_for(current: Profile, history: list[Profile], config: AnomalyConfig = CONFIG) -> list:
    """The run's DQ alerts for one tenant whose validate recorded these anomalies."""
    anomalies = [a.as_dict() for a in detect(current, history, config, now=current.interval_start)]
    validation = {
        "rows": current.rows,
        "failing": 0,
        "error_rate": 0.0,
        "table_failures": [],
        "duplicates_dropped": 0,
        "anomalies": anomalies,
    }
    source = a_source().model_copy(update={"anomalies": config})
    held = hold_back_reason(source, validation)
    publish = {"published": 0, "held_back": held} if held else {"published": current.rows, "stale_skipped": 0}
    steps = {LOAD: {"landed": current.rows}, VALIDATE: validation, PUBLISH: publish}
    return dq.quality_alerts(source, {"acme": steps}, run_id="r")


@pytest.mark.parametrize("seed", range(5))
def test_normal_seeded_days_raise_no_alert(seed: int) -> None:
    history = seeded_history(seed)
    for current in history[28:]:
        assert alerts_for(current, history) == [], current


def test_a_volume_drop_raises_one_volume_alert() -> None:
    history = seeded_history(11)
    normal = history[40]
    dropped = Profile(normal.interval_start, normal.rows // 4, normal.null_rates, normal.means)

    [alert] = alerts_for(dropped, history)

    assert alert.alert_type == "anomaly" and alert.runbook_path == "docs/runbooks/anomaly.md"
    [found] = alert.counts["by_tenant"]["acme"]["anomalies"]
    assert found["detector"] == "volume" and "dropped" in found["what"] and "same weekday" in found["what"]


def test_a_null_explosion_raises_one_nulls_alert_naming_the_column() -> None:
    history = seeded_history(12)
    normal = history[41]
    exploded = Profile(normal.interval_start, normal.rows, {**normal.null_rates, "stage": 0.6}, normal.means)

    [alert] = alerts_for(exploded, history)

    [found] = alert.counts["by_tenant"]["acme"]["anomalies"]
    assert found["detector"] == "nulls" and list(found["details"]["columns"]) == ["stage"]


def test_a_stalled_source_raises_one_freshness_alert_not_also_a_volume_one() -> None:
    history = seeded_history(13, days=40)
    stalled = [Profile(p.interval_start, 0, {}, {}, None) for p in seeded_history(13, days=44)[40:]]

    [alert] = alerts_for(stalled[-1], history + stalled[:-1])

    [found] = alert.counts["by_tenant"]["acme"]["anomalies"]
    assert found["detector"] == "freshness" and "no new rows for" in found["what"]


def test_a_drifting_mean_raises_one_drift_alert() -> None:
    history = seeded_history(14)
    normal = history[42]
    drifted = Profile(normal.interval_start, normal.rows, normal.null_rates, {"amount": 9000.0})

    [alert] = alerts_for(drifted, history)

    assert alert.counts["by_tenant"]["acme"]["anomalies"][0]["detector"] == "drift"


def test_nothing_is_flagged_before_the_minimum_history() -> None:
    history = seeded_history(15, days=CONFIG.min_history_days)
    empty = Profile(FIRST + (CONFIG.min_history_days + 1) * DAY, 0, {}, {})
    assert detect(empty, history[:-1], CONFIG, now=empty.interval_start) == []
    assert detect(empty, history, CONFIG, now=empty.interval_start) != []


def test_a_hold_detector_holds_the_publish_back_and_pages_once_as_an_anomaly() -> None:
    config = AnomalyConfig(volume={"mode": "hold"})
    history = seeded_history(16)
    normal = history[43]
    dropped = Profile(normal.interval_start, 3, normal.null_rates, normal.means)

    alerts = alerts_for(dropped, history, config)

    assert [a.alert_type for a in alerts] == ["anomaly"], "no dq_error_rate alert for an anomaly hold"
    by_tenant = alerts[0].counts["by_tenant"]["acme"]
    assert by_tenant["published"] == 0 and by_tenant["held_back"].startswith("anomaly detected: volume")
    assert "publish held back" in alerts[0].what
