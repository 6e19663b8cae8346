"""Anomaly detection for one tenant's batch against its own trailing history, before publish.

Four detectors, each ``warn`` (alert; publish proceeds) or ``hold`` (publish held back, as the error-rate
gate does):

- ``volume``: rows against the median of the same weekday in the training window (silent until two of
  that weekday are known), outside ``[1 - max_drop, max_rise] x baseline`` and further
  from it than ``noise_sigmas x sqrt(baseline)`` (a count's own noise);
- ``nulls``: a column's null rate more than ``max_increase`` above its median rate;
- ``drift``: a numeric column's mean more than ``max_z`` robust standard deviations (1.4826 x MAD of the
  daily means) from their median;
- ``freshness``: time since rows were last published, against ``max_cadence_multiple`` x the median gap
  between past publishes.

A detector stays silent until ``min_history_days`` batches are known: it has nothing to compare with.
Pure functions over :class:`Profile` values; the pipeline reads and records them.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from salestalk.config.models import AnomalyConfig

ROBUST_SIGMA = 1.4826  # MAD x this estimates a normal distribution's standard deviation
MIN_SAME_WEEKDAY = 2


@dataclass(frozen=True)
class Profile:
    """What one batch looked like: its size, null rates and numeric means, and when it published rows."""

    interval_start: dt.datetime
    rows: int
    null_rates: dict[str, float] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    published_rows_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "null_rates": self.null_rates, "means": self.means}


@dataclass(frozen=True)
class Anomaly:
    detector: str
    mode: str
    what: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def training(history: list[Profile], current: Profile, config: AnomalyConfig) -> list[Profile]:
    """The batches of the training window before ``current``, oldest first."""
    since = current.interval_start - dt.timedelta(days=config.training_days)
    return sorted(
        (p for p in history if since <= p.interval_start < current.interval_start),
        key=lambda p: p.interval_start,
    )


def detect(
    current: Profile, history: list[Profile], config: AnomalyConfig, now: dt.datetime
) -> list[Anomaly]:
    """Every anomaly of ``current`` against ``history`` (other batches of the same source and tenant)."""
    past = training(history, current, config)
    if len(past) < config.min_history_days:
        return []
    stalled = _freshness(current, past, config, now)
    volume = [] if stalled else _volume(current, past, config)  # a stalled source: one cause, one anomaly
    return [*volume, *_nulls(current, past, config), *_drift(current, past, config), *stalled]


def _volume(current: Profile, past: list[Profile], config: AnomalyConfig) -> list[Anomaly]:
    rule = config.volume
    weekday = current.interval_start.weekday()
    sample = [p.rows for p in past if p.interval_start.weekday() == weekday]
    if len(sample) < MIN_SAME_WEEKDAY:  # a weekday's size is unknown until two of it are seen
        return []
    baseline = statistics.median(sample)
    noise = rule.noise_sigmas * baseline**0.5  # counts vary like sqrt(count): small days need more room
    low = min(baseline * (1 - rule.max_drop), baseline - noise)
    high = max(baseline * rule.max_rise, baseline + noise)
    if low <= current.rows <= high or (baseline == 0 and current.rows == 0):
        return []
    direction = "dropped" if current.rows < low else "rose"
    return [
        Anomaly(
            "volume",
            rule.mode,
            f"row count {direction} to {current.rows} against a baseline of {baseline:g} (the same weekday, "
            f"{len(sample)} batches)",
            {"rows": current.rows, "baseline": baseline, "low": round(low, 3), "high": round(high, 3)},
        )
    ]


def _nulls(current: Profile, past: list[Profile], config: AnomalyConfig) -> list[Anomaly]:
    rule = config.nulls
    exploded = {}
    for column, rate in sorted(current.null_rates.items()):
        known = [p.null_rates[column] for p in past if column in p.null_rates]
        if len(known) < config.min_history_days:
            continue
        baseline = statistics.median(known)
        if rate - baseline > rule.max_increase:
            exploded[column] = {"null_rate": round(rate, 4), "baseline": round(baseline, 4)}
    if not exploded or current.rows == 0:
        return []
    listed = ", ".join(f"{c} {v['null_rate']:.1%} (usually {v['baseline']:.1%})" for c, v in exploded.items())
    return [Anomaly("nulls", rule.mode, f"null rate jumped: {listed}", {"columns": exploded})]


def _drift(current: Profile, past: list[Profile], config: AnomalyConfig) -> list[Anomaly]:
    rule = config.drift
    drifted = {}
    for column, mean in sorted(current.means.items()):
        if rule.columns and column not in rule.columns:
            continue
        known = [p.means[column] for p in past if column in p.means]
        if len(known) < config.min_history_days:
            continue
        center = statistics.median(known)
        spread = ROBUST_SIGMA * statistics.median(abs(m - center) for m in known)
        spread = max(spread, 0.01 * abs(center), 1e-9)
        z = (mean - center) / spread
        if abs(z) > rule.max_z:
            drifted[column] = {"mean": round(mean, 6), "baseline": round(center, 6), "z": round(z, 2)}
    if not drifted:
        return []
    listed = ", ".join(
        f"{c} mean {v['mean']:g} (usually {v['baseline']:g}, z={v['z']:g})" for c, v in drifted.items()
    )
    return [Anomaly("drift", rule.mode, f"distribution drift: {listed}", {"columns": drifted})]


def _freshness(
    current: Profile, past: list[Profile], config: AnomalyConfig, now: dt.datetime
) -> list[Anomaly]:
    rule = config.freshness
    published = sorted(p.published_rows_at for p in past if p.published_rows_at is not None)
    if len(published) < 2 or current.rows > 0:
        return []
    cadence = statistics.median(b - a for a, b in zip(published, published[1:], strict=False))
    age = now - published[-1]
    if age <= cadence * rule.max_cadence_multiple:
        return []
    hours = age.total_seconds() / 3600
    return [
        Anomaly(
            "freshness",
            rule.mode,
            f"no new rows for {hours:.1f} h; rows usually arrive every {cadence.total_seconds() / 3600:.1f} h",
            {"hours_since_rows": round(hours, 2), "cadence_hours": round(cadence.total_seconds() / 3600, 2)},
        )
    ]


HOLD_REASON = "anomaly detected"  # how a publish held back by an anomaly is explained; alerts look for it


def describe(anomalies: list[dict[str, Any]]) -> str:
    """Recorded anomalies (``Anomaly.as_dict``) in one line: ``detector: what; ...``."""
    return "; ".join(f"{a['detector']}: {a['what']}" for a in anomalies)


def hold_reason(anomalies: list[dict[str, Any]]) -> str | None:
    """Why publish is held back, if any recorded anomaly comes from a ``hold`` detector."""
    held = [a for a in anomalies if a["mode"] == "hold"]
    return f"{HOLD_REASON}: {describe(held)}" if held else None
