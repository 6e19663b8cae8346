"""Generated events: valid ones always pass; NaN, booleans, numeric strings and bad times always quarantine."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_contracts_rfc3339 import near_date_times, oracle_date_time

from salestalk.contracts import parse_event, parse_tenant_event

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INTENTS = ["pricing", "objection", "scheduling", "competitor", "churn_risk", "other"]

tenant_ids = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True).filter(
    lambda t: "--" not in t
)
request_ids = st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True)
snake_names = st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True)
scores = st.floats(0, 1, allow_nan=False) | st.integers(0, 1)
subjects = st.fixed_dictionaries(
    {"type": st.sampled_from(["call", "email", "meeting"]), "id": st.text(min_size=1, max_size=40)}
)
timestamps = st.builds(
    lambda moment, offset: moment.isoformat() + offset,
    st.datetimes(),
    st.sampled_from(["Z", "+00:00", "-03:00", "+05:45", "+14:00"]),
)


def classification_events(version: int) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {"schemaVersion": st.just(version)}
    components = st.dictionaries(snake_names, scores, max_size=5)
    if version >= 2:
        optional["language"] = st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True)
        components = st.builds(
            lambda c, lang: {**c, **lang},
            components,
            st.fixed_dictionaries({}, optional={"language": scores}),
        )
    return st.fixed_dictionaries(
        {
            "tenantId": tenant_ids,
            "requestId": request_ids,
            "subject": subjects,
            "intent": st.sampled_from(INTENTS),
            "time": timestamps,
            "confidence": st.fixed_dictionaries({"overall": scores, "components": components}),
        },
        optional=optional,
    )


narrative_events = st.fixed_dictionaries(
    {
        "tenantId": tenant_ids,
        "requestId": request_ids,
        "subject": subjects,
        "time": timestamps,
        "model": st.text(min_size=1, max_size=30),
        "narrative": st.text(min_size=1, max_size=300),
        "sourceRequestIds": st.lists(request_ids, unique=True, max_size=4),
        "language": st.from_regex(r"[a-z]{2}(-[A-Z]{2})?", fullmatch=True),
    }
)

summary_events = st.fixed_dictionaries(
    {
        "tenantId": tenant_ids,
        "summaryId": request_ids,
        "period": st.fixed_dictionaries(
            {"start": st.dates().map(lambda d: d.isoformat()), "end": st.dates().map(lambda d: d.isoformat())}
        ),
        "metrics": st.dictionaries(
            snake_names, st.floats(allow_nan=False, allow_infinity=False) | st.integers()
        ),
        "topIntents": st.lists(
            st.fixed_dictionaries({"intent": st.sampled_from(INTENTS), "count": st.integers(0, 10**12)}),
            max_size=4,
        ),
        "references": st.lists(
            st.sampled_from(["curated.deals", "staging.calls", "warehouse://curated/deals"])
            | st.builds(lambda t: f"warehouse://curated/deals?tenant={t}", tenant_ids),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        "computedAt": timestamps,
    }
)

any_valid_event = st.one_of(
    classification_events(1).map(lambda e: ("classification.performed", 1, e)),
    classification_events(2).map(lambda e: ("classification.performed", 2, e)),
    narrative_events.map(lambda e: ("narrative.generated", 1, e)),
    summary_events.map(lambda e: ("insight-summary", 1, e)),
)


@SETTINGS
@given(any_valid_event, st.booleans())
def test_generated_valid_events_are_always_accepted(
    case: tuple[str, int, dict[str, Any]], as_bytes: bool
) -> None:
    contract, version, event = case
    text = json.dumps(event, ensure_ascii=not as_bytes, allow_nan=False)
    parsed = parse_event(text.encode() if as_bytes else text, contract, version)
    assert parsed.violations == [], parsed.violations
    assert parsed.payload == event


@SETTINGS
@given(classification_events(1))
def test_v1_events_stay_valid_under_v2(event: dict[str, Any]) -> None:
    event.pop("schemaVersion", None)
    assert parse_event(json.dumps(event), "classification.performed", 2).accepted


@SETTINGS
@given(any_valid_event, tenant_ids)
def test_events_of_another_tenant_are_always_quarantined(
    case: tuple[str, int, dict[str, Any]], run_tenant: str
) -> None:
    contract, version, event = case
    parsed = parse_tenant_event(json.dumps(event), contract, run_tenant, version)
    assert parsed.accepted == (event["tenantId"] == run_tenant)


BAD_NUMBERS = st.sampled_from(
    ["NaN", "Infinity", "-Infinity", "1e400", "true", "false", "null", '"0.5"', '"1"', '"NaN"']
)
NUMBER_SLOTS = {
    "classification.performed": (
        classification_events(2),
        [("confidence", "overall"), ("confidence", "components", "x")],
    ),
    "insight-summary": (summary_events, [("metrics", "m"), ("topIntents", 0, "count")]),
}


def put(event: dict[str, Any], slot: tuple[str | int, ...], value: Any) -> None:
    target: Any = event
    for key in slot[:-1]:
        if isinstance(key, int):
            while len(target) <= key:
                target.append({"intent": "other", "count": 1})
        target = target[key]
    target[slot[-1]] = value


@SETTINGS
@given(st.data(), st.sampled_from(sorted(NUMBER_SLOTS)), BAD_NUMBERS)
def test_nan_booleans_and_numeric_strings_always_quarantine(
    data: st.DataObject, contract: str, token: str
) -> None:
    events, slots = NUMBER_SLOTS[contract]
    event, slot = data.draw(events), data.draw(st.sampled_from(slots))
    marker = "__BAD_NUMBER__"
    put(event, slot, marker)
    parsed = parse_event(json.dumps(event).replace(f'"{marker}"', token), contract)
    assert not parsed.accepted
    expected_path = "$." + ".".join(str(k) for k in slot).replace(".0.", "[0].")
    assert expected_path in {v.path for v in parsed.quarantined}, parsed.violations


@SETTINGS
@given(classification_events(1), st.one_of(near_date_times(), st.text(max_size=30)))
def test_event_timestamps_are_accepted_exactly_when_the_oracle_says_rfc3339(
    event: dict[str, Any], time: str
) -> None:
    event["time"] = time
    parsed = parse_event(json.dumps(event), "classification.performed")
    assert parsed.accepted == oracle_date_time(time), (time, parsed.violations)
