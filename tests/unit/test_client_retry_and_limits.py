"""Retry policy arithmetic, the activity limiter, and activity query validation (no network)."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_smtp2go.client import (
    Deadline,
    Decision,
    EventType,
    RetryPolicy,
    Smtp2goAmbiguousSendError,
    Smtp2goApiError,
    Smtp2goAuthError,
    Smtp2goRateLimitError,
    Smtp2goServerError,
    Smtp2goTransportError,
    Smtp2goValidationError,
)
from airflow_provider_smtp2go.client.activity import build_activity_query, parse_activity_page
from airflow_provider_smtp2go.client.limits import MAX_RETRY_AFTER
from airflow_provider_smtp2go.client.ratelimit import SlidingWindowLimiter, shared_limiter
from airflow_provider_smtp2go.client.retry import call_with_retry


def test_classify_follows_the_table() -> None:
    classify = RetryPolicy.classify
    assert classify(Smtp2goTransportError("refused", request_sent=False)) is Decision.RETRY
    assert classify(Smtp2goTransportError("read timeout on a read call")) is Decision.RETRY
    assert classify(Smtp2goRateLimitError("429")) is Decision.RETRY
    assert classify(Smtp2goServerError("503", status=503)) is Decision.RETRY
    assert classify(Smtp2goAmbiguousSendError("no answer")) is Decision.AMBIGUOUS
    assert classify(Smtp2goApiError("400", status=400)) is Decision.PERMANENT
    assert classify(Smtp2goAuthError("401", status=401)) is Decision.PERMANENT
    assert classify(ValueError("bug")) is Decision.PERMANENT


def test_should_retry_adds_the_ambiguous_opt_in() -> None:
    assert RetryPolicy().should_retry(Smtp2goServerError("503", status=503))
    assert not RetryPolicy().should_retry(Smtp2goAmbiguousSendError("no answer"))
    assert RetryPolicy(retry_ambiguous_sends=True).should_retry(Smtp2goAmbiguousSendError("no answer"))


def test_429_waits_honour_retry_after_else_back_off_from_a_minute() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    assert policy.wait_after(Smtp2goRateLimitError("429", retry_after=5.0), 1, rng=rng) == 5.0
    first = policy.wait_after(Smtp2goRateLimitError("429"), 1, rng=rng)
    second = policy.wait(2, rate_limited=True, rng=rng)
    assert 60.0 <= first <= 75.0
    assert 120.0 <= second <= 150.0
    capped = policy.wait(10, rate_limited=True, rng=rng)
    assert capped <= 300.0 * 1.25


def test_other_waits_grow_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    rng = random.Random(2)
    waits = [policy.wait_after(Smtp2goServerError("503"), attempt, rng=rng) for attempt in range(1, 7)]
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 2.0
    assert all(w <= 8.0 for w in waits)


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(deadline=0)


def test_limiter_spaces_requests_to_the_budget() -> None:
    now = [1000.0]
    limiter = SlidingWindowLimiter(limit=3, period=60.0, clock=lambda: now[0])
    assert [limiter.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.reserve() == 60.0  # the 4th waits for the 1st to leave the window
    now[0] += 30.0
    assert limiter.reserve() == 30.0  # the 5th books the slot after the 2nd leaves (t=1060)


def test_limiter_block_makes_everyone_wait() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=60, period=60.0, clock=lambda: now[0])
    limiter.block_for(90.0)
    assert limiter.reserve() == 90.0
    assert limiter.reserve() == 90.0


def test_shared_limiter_is_per_key_and_host(fake_api_key: str) -> None:
    a = shared_limiter(fake_api_key, "api.smtp2go.com", 60)
    assert shared_limiter(fake_api_key, "api.smtp2go.com", 60) is a
    assert shared_limiter(fake_api_key, "eu-api.smtp2go.com", 60) is not a
    assert shared_limiter(fake_api_key + "x", "api.smtp2go.com", 60) is not a


def test_clients_with_different_shares_of_one_account_keep_the_stricter(fake_api_key: str) -> None:
    # A trigger's poller and a poke-mode sensor in one process must not add up their budgets.
    loose = shared_limiter(fake_api_key, "api.smtp2go.com", 60)
    strict = shared_limiter(fake_api_key, "api.smtp2go.com", 20)
    assert strict is loose and loose.limit == 20
    assert shared_limiter(fake_api_key, "api.smtp2go.com", 60).limit == 20


def test_activity_query_validation() -> None:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    body = build_activity_query(
        start_date=start,
        end_date=start + timedelta(days=1),
        search=["E1", "E2"],
        event_types=[EventType.OPENED, "clicked"],
        limit=1000,
        only_latest=True,
    )
    assert body == {
        "start_date": "2026-11-01T00:00:00Z",
        "end_date": "2026-11-02T00:00:00Z",
        "search": "E1 | E2",
        "event_types": ["opened", "clicked"],
        "limit": 1000,
        "only_latest": True,
    }
    with pytest.raises(Smtp2goValidationError, match="unknown event type"):
        build_activity_query(event_types=["bounced"])
    with pytest.raises(Smtp2goValidationError) as excinfo:
        build_activity_query(start_date=datetime(2026, 11, 1))
    assert excinfo.value.rule == "timezone"
    with pytest.raises(Smtp2goValidationError):
        build_activity_query(limit=1001)
    with pytest.raises(Smtp2goValidationError):
        build_activity_query(start_date=start, end_date=start)


def test_activity_page_parsing() -> None:
    page = parse_activity_page(
        {
            "events": [
                {"email_id": "E1", "event": "delivered", "date": "2026-11-01T10:00:00Z", "recipient": "a@x.org"}
            ],
            "total_events": 5,
            "continue_token": "tok",
        },
        "req",
    )
    assert page.total_events == 5 and page.continue_token == "tok" and page.request_id == "req"
    event = page.events[0]
    assert event.date == datetime(2026, 11, 1, 10, tzinfo=timezone.utc)
    assert event.to_dict()["recipient"] == "a@x.org"


def test_environment_proxy_settings_are_read_once_and_honoured(
    monkeypatch: pytest.MonkeyPatch, fake_api_key: str
) -> None:
    from airflow_provider_smtp2go.client import Smtp2goClient

    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    client = Smtp2goClient(fake_api_key, region="eu")
    # Resolved at construction; requests no longer scans the environment on every call.
    assert client._session.trust_env is False
    assert client._session.proxies["https"] == "http://proxy.example.com:3128"
    assert client._session.verify == "/etc/corp-ca.pem"
    monkeypatch.setenv("NO_PROXY", "eu-api.smtp2go.com")
    assert "https" not in Smtp2goClient(fake_api_key, region="eu")._session.proxies


@pytest.mark.parametrize(
    ("seconds", "expected"), [(math.inf, MAX_RETRY_AFTER), (1e308, MAX_RETRY_AFTER), (math.nan, 60.0), (-5, 60.0)]
)
def test_limiter_block_is_clamped_and_never_overflows(seconds: float, expected: float) -> None:
    limiter = SlidingWindowLimiter(limit=60, period=60.0, clock=lambda: 0.0)
    limiter.block_for(seconds)
    assert limiter.reserve() == expected


def test_a_slot_past_the_callers_deadline_is_refused_and_not_booked() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(limit=1, period=60.0, clock=lambda: now[0])
    assert limiter.reserve(max_wait=0.0) == 0.0
    for _ in range(3):
        with pytest.raises(Smtp2goRateLimitError) as info:
            limiter.reserve(max_wait=10.0, endpoint="activity/search")
        assert info.value.retry_after == 60.0 and info.value.endpoint == "activity/search"
    now[0] = 59.0
    assert limiter.reserve(max_wait=10.0) == 1.0  # the refusals above booked nothing


def test_the_retry_loop_never_starts_a_wait_past_the_deadline() -> None:
    now = [0.0]
    policy = RetryPolicy(max_attempts=10, deadline=10, backoff_base=4, backoff_max=4)
    deadline = policy.start(clock=lambda: now[0])
    attempts: list[float] = []

    def attempt(d: Deadline) -> None:
        attempts.append(d.remaining())
        raise Smtp2goServerError("busy", status=503)

    def sleep(seconds: float) -> None:
        assert seconds < deadline.remaining()
        now[0] += seconds

    with pytest.raises(Smtp2goServerError):
        call_with_retry(policy, "stats/email_cycle", attempt, sleep=sleep, deadline=deadline)
    assert 2 <= len(attempts) <= 5 and all(r > 0 for r in attempts)
