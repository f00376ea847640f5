"""One activity pager, and truncation is never silent (issue 11, finding 2)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_smtp2go.client import AsyncSmtp2goClient, Email, Smtp2goClient
from airflow_provider_smtp2go.client.activity import ActivityPage, ActivityPager
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


def sent_with_events(sandbox: Smtp2goSandbox) -> str:
    with Smtp2goClient(sandbox.api_key, base_url=sandbox.base_url, activity_requests_per_minute=None) as c:
        email_id = c.send(Email(sender="bot@example.com", to=["a@example.com"], subject="s", text_body="b")).email_id
    sandbox.clock.advance(60)
    assert email_id
    return email_id


def test_scan_reports_truncation_and_resumes(smtp2go_sandbox: Smtp2goSandbox) -> None:
    email_id = sent_with_events(smtp2go_sandbox)
    with Smtp2goClient(
        smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
    ) as c:
        whole = c.scan_activity(search_email_id=email_id, limit=1)
        assert whole.pages >= 2 and not whole.truncated and whole.continue_token is None
        first = c.scan_activity(search_email_id=email_id, limit=1, max_pages=1)
        assert (first.pages, first.truncated, len(first.events)) == (1, True, 1)
        assert first.continue_token
        rest = c.scan_activity(search_email_id=email_id, limit=1, continue_token=first.continue_token)
        assert first.events + rest.events == whole.events


def test_async_scan_is_the_same_rule(smtp2go_sandbox: Smtp2goSandbox) -> None:
    email_id = sent_with_events(smtp2go_sandbox)

    async def main() -> tuple[bool, int]:
        async with AsyncSmtp2goClient(
            smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
        ) as c:
            scan = await c.scan_activity(search_email_id=email_id, limit=1, max_pages=1)
            return scan.truncated, scan.pages

    assert asyncio.run(main()) == (True, 1)


def test_iter_activity_warns_when_it_stops_early(
    smtp2go_sandbox: Smtp2goSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    email_id = sent_with_events(smtp2go_sandbox)
    caplog.set_level(logging.WARNING, logger="airflow_provider_smtp2go.client")
    with Smtp2goClient(
        smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
    ) as c:
        assert len(list(c.iter_activity(search_email_id=email_id, limit=1, max_pages=1))) == 1
        [record] = [r for r in caplog.records if "stopped after" in r.getMessage()]
        assert "max_pages=1" in record.getMessage() and email_id in record.getMessage()
        caplog.clear()
        assert len(list(c.iter_activity(search_email_id=email_id, limit=1))) >= 2
        assert not [r for r in caplog.records if "stopped after" in r.getMessage()]

    async def via_async() -> int:
        async with AsyncSmtp2goClient(
            smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
        ) as ac:
            return len([e async for e in ac.iter_activity(search_email_id=email_id, limit=1, max_pages=1)])

    assert asyncio.run(via_async()) == 1
    assert [r for r in caplog.records if "stopped after" in r.getMessage()]


def test_a_server_repeating_its_token_ends_the_scan_as_truncated() -> None:
    pager = ActivityPager({})
    page = ActivityPage(events=[], total_events=5, continue_token="same")
    assert pager.add(page) is True
    assert pager.add(page) is False
    assert pager.scan().truncated and pager.scan().continue_token == "same"
