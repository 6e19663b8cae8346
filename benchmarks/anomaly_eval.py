"""How much history each anomaly detector needs, and its false-positive rate on normal seeded days.

Two kinds of seeded history, per tenant, 90 days each:
- ``fakeapi``: the fake source API's own seeded days (``dev.fakeapi.seed.seed_rows``) for each HTTP
  resource and demo tenant, profiled as validate does (rows, null rates, numeric means);
- ``seasonal``: a B2B week (quiet weekends) with count noise of 1.5 x Poisson, ~2% nulls and a noisy mean.

For each history length h (``min_history_days``), every day after the warm-up is checked as it is
(false positives), and again with one injected anomaly of each kind (detections):
volume drop to 25%, a column's null rate +50 points, the numeric mean x1.8, and a source stalled 4 days.

    .venv/bin/python benchmarks/anomaly_eval.py [--days 90] [--seeds 5]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from dataclasses import replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "plugins"), str(REPO_ROOT)]

from salestalk.config.models import AnomalyConfig  # noqa: E402
from salestalk.quality.anomaly import Profile, detect  # noqa: E402

DAY = dt.timedelta(days=1)
FIRST = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)  # a Monday
WEEK = [240, 260, 250, 255, 230, 60, 40]
HISTORY_LENGTHS = (2, 3, 5, 7, 10, 14, 21, 28)


def fakeapi_histories(days: int) -> list[list[Profile]]:
    from dev.fakeapi import seed

    histories = []
    for resource in seed.HTTP_RESOURCES:
        numeric = [f for f in seed.FIELDS[resource] if f.endswith(("amount", "seconds", "count"))]
        for tenant in seed.DEMO_TENANTS:
            history = []
            for n in range(days):
                start = FIRST + n * DAY
                rows = seed.seed_rows(resource, tenant, start.date())
                nulls = {f: sum(r.get(f) is None for r in rows) / len(rows) for f in seed.FIELDS[resource]}
                means = {}
                for f in numeric:
                    values = [r[f] for r in rows if isinstance(r.get(f), int | float)]
                    if values:
                        means[f] = sum(values) / len(values)
                history.append(Profile(start, len(rows), nulls, means, start))
            histories.append(history)
    return histories


def seasonal_histories(days: int, seeds: int) -> list[list[Profile]]:
    histories = []
    for s in range(seeds):
        rng = random.Random(s)
        history = []
        for n in range(days):
            start = FIRST + n * DAY
            expected = WEEK[start.weekday()]
            rows = max(1, round(rng.gauss(expected, expected**0.5 * 1.5)))
            nulls = {"amount": rng.uniform(0, 0.04), "stage": rng.uniform(0, 0.02)}
            history.append(Profile(start, rows, nulls, {"amount": rng.gauss(5000, 5000 / rows**0.5)}, start))
        histories.append(history)
    return histories


def injected(day: Profile, history: list[Profile], index: int) -> dict[str, tuple[Profile, list[Profile]]]:
    column = sorted(day.null_rates)[0]
    numeric = sorted(day.means)[:1]
    cases = {
        "volume": (replace(day, rows=day.rows // 4), history),
        "nulls": (replace(day, null_rates={**day.null_rates, column: day.null_rates[column] + 0.5}), history),
        "stalled": (
            replace(day, rows=0, null_rates={}, means={}, published_rows_at=None),
            [
                *history[: index - 4],
                *(replace(p, rows=0, published_rows_at=None) for p in history[index - 4 : index]),
            ],
        ),
    }
    if numeric:
        cases["drift"] = (replace(day, means={**day.means, numeric[0]: day.means[numeric[0]] * 1.8}), history)
    return cases


def evaluate(histories: list[list[Profile]], h: int) -> dict[str, float]:
    """Each day checked with exactly ``h`` days of history before it (min_history_days = h)."""
    config = AnomalyConfig(min_history_days=h, training_days=28)
    normal = flagged = 0
    hits: dict[str, list[int]] = {}
    for full in histories:
        for index in range(28, len(full)):
            history = full[index - h : index + 1]
            day = history[-1]
            normal += 1
            flagged += bool(detect(day, history, config, now=day.interval_start))
            for kind, (current, past) in injected(day, history, len(history) - 1).items():
                found = {a.detector for a in detect(current, past, config, now=current.interval_start)}
                expected = "freshness" if kind == "stalled" else kind
                hits.setdefault(kind, []).append(expected in found)
    return {"fpr": flagged / normal, **{k: sum(v) / len(v) for k, v in hits.items()}, "days": normal}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    sets = {"fakeapi": fakeapi_histories(args.days), "seasonal": seasonal_histories(args.days, args.seeds)}
    print(
        f"{'history':<9} {'h':>3} {'normal days':>11} {'FPR':>7} {'volume':>7} {'nulls':>7} {'drift':>7} {'stalled':>8}"
    )
    for name, histories in sets.items():
        for h in HISTORY_LENGTHS:
            r = evaluate(histories, h)
            print(
                f"{name:<9} {h:>3} {r['days']:>11} {r['fpr']:>7.2%} {r['volume']:>7.1%} {r['nulls']:>7.1%} "
                f"{r.get('drift', float('nan')):>7.1%} {r['stalled']:>8.1%}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
