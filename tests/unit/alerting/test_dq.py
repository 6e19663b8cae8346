"""Data-quality alerts: error rate above 0.1%, completeness below 99.5%, one alert per type and run."""

from __future__ import annotations

from salestalk.alerting.dq import completeness, quality_alerts


def steps(landed: int, failing: int, published: int, stale: int = 0, dups: int = 0, held: str | None = None):
    publish = (
        {"published": 0, "held_back": held} if held else {"published": published, "stale_skipped": stale}
    )
    return {
        "load_to_staging": {"landed": landed, "staged": landed},
        "validate": {
            "rows": landed,
            "failing": failing,
            "error_rate": failing / landed,
            "duplicates_dropped": dups,
            "reasons": {"amount_positive": failing} if failing else {},
        },
        "publish": publish,
    }


def test_a_clean_run_raises_nothing(source) -> None:
    results = {"acme": steps(1000, 1, 997, stale=1, dups=1)}
    assert quality_alerts(source, results, run_id="r1") == []
    assert completeness(results["acme"]) == 0.999


def test_error_rate_above_threshold_alerts_once_for_all_tenants(source) -> None:
    results = {
        "acme": steps(1000, 2, 998),  # 0.2% > 0.1%
        "globex": steps(1000, 15, 985),  # 1.5%: also below 99.5% completeness
        "initech": steps(1000, 1, 999),  # 0.1% is not above
    }
    alerts = {a.alert_type: a for a in quality_alerts(source, results, run_id="r1")}
    assert set(alerts) == {"dq_error_rate"}, "one alert per tenant: the error rate explains the gap"
    error = alerts["dq_error_rate"]
    assert error.tenants == ("acme", "globex")
    assert error.counts["by_tenant"]["globex"] == {
        "rows": 1000,
        "failing": 15,
        "error_rate": 0.015,
        "published": 985,
        "reasons": {"amount_positive": 15},
        "completeness": 0.985,
    }
    assert "passing rows were published for acme, globex (completeness down to 98.50%)" in error.what


def test_rows_lost_between_steps_are_a_completeness_alert(source) -> None:
    results = {"acme": steps(1000, 1, 980), "initech": steps(1000, 0, 1000)}  # 19 rows unaccounted for
    (alert,) = quality_alerts(source, results, run_id="r1")
    assert alert.alert_type == "completeness" and alert.tenants == ("acme",)
    assert alert.counts["by_tenant"]["acme"]["completeness"] == 0.98
    assert alert.runbook_path == "docs/runbooks/completeness.md"


def test_held_back_batches_are_paged_as_nothing_published(source) -> None:
    results = {"globex": steps(1000, 200, 0, held="error rate 20.00% is above the 5.00% limit")}
    (alert,) = quality_alerts(source, results, run_id="r1")
    assert alert.alert_type == "dq_error_rate" and alert.tenants == ("globex",)
    assert "publish held back for globex: nothing of this interval was published" in alert.what
    assert "passing rows were published" not in alert.what


def test_the_dedup_key_is_per_run(source) -> None:
    results = {"acme": steps(1000, 5, 995)}
    first = quality_alerts(source, results, run_id="r1")[0]
    assert quality_alerts(source, results, run_id="r1")[0].dedup_key == first.dedup_key
    assert quality_alerts(source, results, run_id="r2")[0].dedup_key != first.dedup_key


def test_thresholds_come_from_config(source) -> None:
    from salestalk.config.alerting import AlertingConfig

    lenient = source.model_copy(
        update={"alerting": AlertingConfig.model_validate({"data_quality": {"max_error_rate": 0.05}})}
    )
    assert [a.alert_type for a in quality_alerts(source, {"acme": steps(1000, 40, 960)}, run_id="r")] == [
        "dq_error_rate"
    ]
    assert quality_alerts(lenient, {"acme": steps(1000, 40, 960)}, run_id="r")[0].alert_type == "completeness"
