"""pytest plugin: the ``smtp2go_sandbox`` fixture.

Registered through the ``pytest11`` entry point, so any project that installs
``airflow-provider-smtp2go`` gets it::

    def test_sends(smtp2go_sandbox):
        client = MyClient(base_url=smtp2go_sandbox.base_url, api_key=smtp2go_sandbox.api_key)
        client.send(...)
        assert len(smtp2go_sandbox.messages()) == 1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_smtp2go.sandbox.control import Smtp2goSandbox


@pytest.fixture
def smtp2go_sandbox() -> Iterator[Smtp2goSandbox]:
    """A started sandbox on a free loopback port, stopped after the test."""
    with Smtp2goSandbox() as sandbox:
        yield sandbox
