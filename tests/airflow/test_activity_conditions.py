"""Pure rules of the activity wait: validation, matching, query planning. No network, no DB."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_smtp2go.activity_watch import (
    WaitCondition,
    check_window,
    evaluate,
    normalize_email_ids,
    parse_since,
    plan_queries,
)
from airflow_provider_smtp2go.client.errors import Smtp2goValidationError

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def ev(email_id: str, event: str, seconds: float = 0, **extra: Any) -> dict[str, Any]:
    date = (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"email_id": email_id, "event": event, "date": date, "recipient": f"{email_id}@example.com", **extra}


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field", "rule", "text"),
    [
        ({"email_ids": ["a"], "event_types": ["opend"]}, "event_types", "choice", "unknown event type 'opend'"),
        ({"email_ids": ["a"], "failure_event_types": ["bounced"]}, "failure_event_types", "choice", "'bounced'"),
        ({"email_ids": []}, "email_ids", "required", "empty"),
        ({"email_ids": ""}, "email_ids", "required", "empty"),
        ({}, "email_ids", "required", "search_recipient"),
        ({"email_ids": ["a"], "search_recipient": "x@example.com"}, "email_ids", "exclusive", "not both"),
        ({"email_ids": ["a"], "match": "some"}, "match", "choice", "'all' or 'any'"),
        ({"email_ids": ["a"], "event_types": []}, "event_types", "required", "at least one"),
        (
            {"email_ids": ["a"], "event_types": ["opened", "spam"], "failure_event_types": ["spam"]},
            "failure_event_types",
            "overlap",
            "spam",
        ),
        ({"email_ids": ["a"], "since": datetime(2026, 1, 1)}, "since", "timezone", "timezone-aware"),
        ({"email_ids": ["a"], "since": "2026-01-01T00:00:00"}, "since", "timezone", "timezone-aware"),
        ({"email_ids": ["a"], "since": "yesterday"}, "since", "format", "ISO-8601"),
        ({"email_ids": ["a b"]}, "email_ids", "format", "not an SMTP2GO email id"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(kwargs: dict[str, Any], field: str, rule: str, text: str) -> None:
    with pytest.raises(Smtp2goValidationError) as err:
        WaitCondition.create(**kwargs)
    assert (err.value.field, err.value.rule) == (field, rule)
    assert text in str(err.value)


def test_window_beyond_history_is_refused_and_configurable() -> None:
    now = T0
    with pytest.raises(Smtp2goValidationError, match="more than 30 days ago") as err:
        check_window(now - timedelta(days=31), now=now)
    assert err.value.field == "since"
    check_window(now - timedelta(days=31), now=now, history_days=60)  # a plan with longer history
    with pytest.raises(Smtp2goValidationError, match="more than 5 days"):
        check_window(now - timedelta(days=6), now=now, history_days=5)
    check_window(now - timedelta(days=29), now=now)


def test_default_failure_types_exclude_what_you_wait_for() -> None:
    assert WaitCondition.create(email_ids="a").failure_event_types == ("hard-bounced", "rejected", "spam")
    bounce = WaitCondition.create(email_ids="a", event_types=["hard-bounced", "soft-bounced"])
    assert bounce.failure_event_types == ("rejected", "spam")
    assert WaitCondition.create(email_ids="a", failure_event_types=[]).failure_event_types == ()


def test_email_ids_come_from_the_send_operator_xcom_in_any_shape() -> None:
    assert normalize_email_ids({"email_id": "x1", "request_id": "r"}) == ["x1"]
    assert normalize_email_ids([{"email_id": "x1"}, {"email_id": "x2"}, "x1"]) == ["x1", "x2"]
    assert normalize_email_ids("x1, x2") == ["x1", "x2"]
    with pytest.raises(Smtp2goValidationError, match="email_id"):
        normalize_email_ids({"request_id": "r"})


def test_since_is_normalised_to_utc() -> None:
    since = parse_since("2026-11-26T12:00:00+02:00")
    assert since == T0
    assert since is not None and since.tzinfo == timezone.utc


def test_condition_round_trips_through_its_dict() -> None:
    cond = WaitCondition.create(
        email_ids=["a", "b"], event_types="opened,clicked", failure_event_types=["spam"], match="any", since=T0
    )
    assert WaitCondition.from_dict(cond.to_dict()) == cond
    search = WaitCondition.create(search_recipient=" ops@example.com ", event_types=["hard-bounced"])
    assert WaitCondition.from_dict(search.to_dict()) == search
    assert search.search_recipient == "ops@example.com"


# -- matching -----------------------------------------------------------------------------------
def test_all_waits_for_every_id_and_returns_the_matching_events() -> None:
    cond = WaitCondition.create(email_ids=["a", "b"], event_types=["opened"])
    partial = evaluate(cond, [ev("a", "delivered"), ev("a", "opened", 30), ev("b", "delivered")])
    assert partial.status == "waiting"
    assert partial.pending == ("b",)
    done = evaluate(cond, [ev("a", "opened", 30), ev("b", "opened", 40), ev("b", "delivered")])
    assert done.status == "satisfied"
    payload = done.to_payload()
    assert payload["status"] == "success"
    assert payload["email_ids"] == ["a", "b"]
    assert [(e["email_id"], e["event"]) for e in payload["events"]] == [("a", "opened"), ("b", "opened")]
    assert payload["pending_email_ids"] == []


def test_any_is_satisfied_by_the_first_id() -> None:
    cond = WaitCondition.create(email_ids=["a", "b"], event_types=["delivered"], match="any")
    out = evaluate(cond, [ev("b", "delivered")])
    assert out.status == "satisfied"
    assert out.pending == ("a",)
    assert out.to_payload()["email_ids"] == ["b"]


def test_failure_fails_fast_naming_email_and_event() -> None:
    cond = WaitCondition.create(email_ids=["a", "b"], event_types=["opened"])
    out = evaluate(cond, [ev("a", "opened"), ev("b", "hard-bounced", 5, smtp_response="550 5.1.1 no such user")])
    assert out.status == "failed"
    assert "email b to b@example.com was hard-bounced" in out.message
    assert "550 5.1.1 no such user" in out.message
    assert out.to_payload()["failure_event"]["event"] == "hard-bounced"


def test_any_fails_only_when_no_id_can_succeed() -> None:
    cond = WaitCondition.create(email_ids=["a", "b"], event_types=["delivered"], match="any")
    assert evaluate(cond, [ev("a", "rejected")]).status == "waiting"
    out = evaluate(cond, [ev("a", "rejected"), ev("b", "spam", 3)])
    assert out.status == "failed"
    assert "email a" in out.message and "rejected" in out.message


def test_the_earliest_decisive_event_wins() -> None:
    cond = WaitCondition.create(email_ids=["a"], event_types=["delivered"])
    # delivered, then a spam complaint later: the delivery was already seen.
    assert evaluate(cond, [ev("a", "spam", 60), ev("a", "delivered", 0)]).status == "satisfied"
    # same instant: the failure counts (conservative for multi-recipient emails).
    assert evaluate(cond, [ev("a", "delivered", 0), ev("a", "hard-bounced", 0)]).status == "failed"


def test_events_before_since_and_of_other_emails_are_ignored() -> None:
    cond = WaitCondition.create(email_ids=["a"], event_types=["opened"], since=T0 + timedelta(seconds=10))
    assert evaluate(cond, [ev("a", "opened", 5), ev("zzz", "opened", 20)]).status == "waiting"
    assert evaluate(cond, [ev("a", "opened", 15)]).status == "satisfied"


def test_duplicates_are_counted_once() -> None:
    cond = WaitCondition.create(email_ids=["a"], event_types=["opened"])
    out = evaluate(cond, [ev("a", "opened"), ev("a", "opened")])
    assert len(out.matched) == 1


def test_search_is_settled_by_the_first_matching_email() -> None:
    cond = WaitCondition.create(search_recipient="x+", event_types=["hard-bounced"], failure_event_types=[])
    assert evaluate(cond, [ev("a", "delivered", recipient="x+ok@example.com")]).status == "waiting"
    out = evaluate(cond, [ev("a", "hard-bounced", recipient="x+hard-bounce@example.com")])
    assert out.status == "satisfied"
    other = evaluate(cond, [ev("a", "hard-bounced", recipient="someone@example.com")])
    assert other.status == "waiting"  # not this search's recipient


# -- query planning -----------------------------------------------------------------------------
def test_plan_coalesces_every_id_into_chunks_with_the_union_of_types() -> None:
    conds = [WaitCondition.create(email_ids=[f"id{i:03d}"], event_types=["opened"]) for i in range(250)]
    conds.append(WaitCondition.create(email_ids=["id000"], event_types=["clicked"], failure_event_types=[]))
    plan = plan_queries(conds, now=T0, chunk_size=100)
    assert [len(q.search_terms) for q, _ in plan] == [100, 100, 50]
    first, served = plan[0]
    assert set(served) >= {0, 250}
    assert first.event_types == ("opened", "hard-bounced", "rejected", "spam", "clicked")
    assert first.filters()["search"][0] == "id000"
    assert first.start_date == T0 - timedelta(days=30)  # no since: the whole history


def test_plan_uses_the_oldest_since_and_groups_identical_searches() -> None:
    conds = [
        WaitCondition.create(email_ids=["a"], since=T0 - timedelta(hours=2)),
        WaitCondition.create(email_ids=["b"], since=T0 - timedelta(hours=1)),
        WaitCondition.create(search_recipient="ops@example.com", since=T0),
        WaitCondition.create(search_recipient="ops@example.com", since=T0 - timedelta(minutes=5)),
        WaitCondition.create(search_subject="Invoice", since=T0),
    ]
    plan = plan_queries(conds, now=T0)
    assert len(plan) == 3
    assert plan[0][0].start_date == T0 - timedelta(hours=2)
    assert plan[1][0].search_recipient == "ops@example.com"
    assert plan[1][1] == [2, 3]
    assert plan[1][0].start_date == T0 - timedelta(minutes=5)
    assert plan[2][0].search_subject == "Invoice"
