"""Paging of the shared activity queries (no Airflow): every page is read, up to a cap."""

from __future__ import annotations

import asyncio
import logging

import pytest

from airflow_provider_smtp2go.activity_watch.queries import ActivityQuery, afetch_events, fetch_events
from airflow_provider_smtp2go.client import AsyncSmtp2goClient, Email, Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


@pytest.fixture
def sent_ids(smtp2go_sandbox: Smtp2goSandbox) -> list[str]:
    with Smtp2goClient(smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url) as client:
        ids = [
            str(
                client.send(
                    Email(sender="b@example.com", to=[f"u{i}@example.com"], subject="s", text_body="t")
                ).email_id
            )
            for i in range(5)
        ]
    smtp2go_sandbox.clock.advance(60)
    return ids


def test_all_pages_are_read_and_counted(smtp2go_sandbox: Smtp2goSandbox, sent_ids: list[str]) -> None:
    query = ActivityQuery(search_terms=tuple(sent_ids), event_types=("delivered",))
    with Smtp2goClient(
        smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
    ) as client:
        scan = fetch_events(client, query, page_size=2)
    assert sorted(e.email_id for e in scan.events) == sorted(sent_ids)
    assert (scan.pages, scan.truncated) == (3, False)

    async def via_async() -> tuple[int, int]:
        async with AsyncSmtp2goClient(
            smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
        ) as aclient:
            scan = await afetch_events(aclient, query, page_size=2)
            return len(scan.events), scan.pages

    assert asyncio.run(via_async()) == (5, 3)


def test_paging_stops_at_the_cap_and_says_so(
    smtp2go_sandbox: Smtp2goSandbox, sent_ids: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    query = ActivityQuery(search_terms=tuple(sent_ids), event_types=("delivered",))
    with (
        Smtp2goClient(
            smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
        ) as client,
        caplog.at_level(logging.WARNING),
    ):
        scan = fetch_events(client, query, page_size=2, max_pages=2)
    assert (len(scan.events), scan.pages) == (4, 2)
    # The caller learns that the result is partial, and the log says so.
    assert scan.truncated and scan.continue_token
    assert any("more pages after 2" in r.getMessage() and "partial" in r.getMessage() for r in caplog.records)
