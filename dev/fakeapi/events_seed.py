"""Deterministic ``classification.performed`` event files, as a tenant's producer would drop them.

Each (tenant, arrival day) file holds, in this order:
- ``GOOD[tenant]`` valid events stamped during the day, request ids ``R-{yyyymmdd}-{n:04d}``;
- 3 exact duplicates of the first 3 lines;
- 2 out-of-order pairs: a newer version of events 4 and 5 (an hour later), then the original again;
- on every day after the first, 2 late events: a newer and an older version of the previous day's
  events 6 and 7, arriving a day late (the newer wins, the older is stale);
- 1 event stamped 2 minutes after the day ends (within the 5-minute clock-skew tolerance) and 1 stamped
  2 hours after it (beyond it: quarantined);
- one event per kind in ``BROKEN_KINDS``: each breaks the contract and is quarantined.
``expected_counts`` states what the pipeline must make of a file.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

GOOD: dict[str, int] = {"acme": 80, "globex": 50, "initech": 40}
INTENTS = ("pricing", "objection", "scheduling", "competitor", "churn_risk", "other")
SUBJECT_TYPES = ("call", "email", "meeting")
BROKEN_KINDS = (
    "string_confidence",
    "nan_confidence",
    "duplicate_tenant_key",
    "bad_timestamp",
    "unknown_intent",
    "other_tenant",
    "not_json",
)
FIRST_DAY = date(2026, 11, 1)


def _good(tenant: str) -> int:
    """Valid events per day: a demo tenant's own count, a generated tenant's (t001..) its model's."""
    from dev.fakeapi.seed import size_model

    return GOOD[size_model(tenant)]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_event(rng: random.Random, tenant: str, request_id: str, moment: datetime) -> dict[str, Any]:
    return {
        "tenantId": tenant,
        "requestId": request_id,
        "subject": {"type": rng.choice(SUBJECT_TYPES), "id": f"S-{rng.randint(1, 9999):04d}"},
        "intent": rng.choice(INTENTS),
        "time": _stamp(moment),
        "confidence": {
            "overall": round(rng.uniform(0, 1), 3),
            "components": {"keywords": round(rng.uniform(0, 1), 3), "tone": round(rng.uniform(0, 1), 3)},
        },
    }


def _line(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def good_events(tenant: str, day: date | str) -> list[dict[str, Any]]:
    day = date.fromisoformat(day) if isinstance(day, str) else day
    rng = random.Random(f"salestalk-events/{tenant}/{day.isoformat()}")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    stamp = day.strftime("%Y%m%d")
    return [
        make_event(rng, tenant, f"R-{stamp}-{n:04d}", start + timedelta(minutes=5 + n * 23 % (23 * 60)))
        for n in range(1, _good(tenant) + 1)
    ]


def _broken(kind: str, tenant: str, day: date) -> bytes:
    rng = random.Random(f"salestalk-events/broken/{kind}/{tenant}/{day.isoformat()}")
    start = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    event = make_event(rng, tenant, f"X-{day.strftime('%Y%m%d')}-{kind}", start)
    if kind == "string_confidence":
        event["confidence"]["overall"] = "0.9"
    elif kind == "nan_confidence":
        return _line(event).replace(
            b'"overall":' + json.dumps(event["confidence"]["overall"]).encode(), b'"overall":NaN'
        )
    elif kind == "duplicate_tenant_key":
        return b'{"tenantId":"' + tenant.encode() + b'",' + _line(event)[1:]
    elif kind == "bad_timestamp":
        event["time"] = start.strftime("%Y-%m-%d %H:%M")
    elif kind == "unknown_intent":
        event["intent"] = "upsell"
    elif kind == "other_tenant":
        event["tenantId"] = "acme" if tenant != "acme" else "globex"
    elif kind == "not_json":
        return b'{"tenantId": "' + tenant.encode() + b'", "requestId": '
    return _line(event)


def classification_event_lines(tenant: str, day: date | str) -> list[bytes]:
    day = date.fromisoformat(day) if isinstance(day, str) else day
    good = good_events(tenant, day)
    lines = [_line(e) for e in good]
    lines += [_line(e) for e in good[:3]]
    for event in good[3:5]:
        newer = {**event, "time": _stamp(datetime.fromisoformat(event["time"]) + timedelta(hours=1))}
        lines += [_line(newer), _line(event)]
    if day > FIRST_DAY:
        previous = good_events(tenant, day - timedelta(days=1))
        newer = {
            **previous[5],
            "time": _stamp(datetime.fromisoformat(previous[5]["time"]) + timedelta(hours=2)),
        }
        older = {
            **previous[6],
            "time": _stamp(datetime.fromisoformat(previous[6]["time"]) - timedelta(hours=2)),
        }
        lines += [_line(newer), _line(older)]
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    rng = random.Random(f"salestalk-events/skew/{tenant}/{day.isoformat()}")
    lines.append(
        _line(make_event(rng, tenant, f"R-{day.strftime('%Y%m%d')}-skew-ok", end + timedelta(minutes=2)))
    )
    lines.append(
        _line(make_event(rng, tenant, f"R-{day.strftime('%Y%m%d')}-skew-bad", end + timedelta(hours=2)))
    )
    lines += [_broken(kind, tenant, day) for kind in BROKEN_KINDS]
    return lines


def expected_counts(tenant: str, day: date | str) -> dict[str, int]:
    """Rows in, quarantined, distinct request ids passed, and duplicates dropped within the batch."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    late = 2 if day > FIRST_DAY else 0
    extracted = _good(tenant) + 3 + 4 + late + 2 + len(BROKEN_KINDS)
    quarantined = 1 + len(BROKEN_KINDS)
    passed = _good(tenant) + late + 1
    return {
        "extracted": extracted,
        "quarantined": quarantined,
        "passed": passed,
        "duplicates_dropped": extracted - quarantined - passed,
    }
