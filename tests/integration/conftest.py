"""Fixtures shared by the integration tests (real HTTP over loopback to the sandbox)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_smtp2go.client import Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


@pytest.fixture
def client(smtp2go_sandbox: Smtp2goSandbox) -> Iterator[Smtp2goClient]:
    """A sync client of the test's sandbox, with no activity rate limit to wait on."""
    with Smtp2goClient(
        smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
    ) as c:
        yield c
