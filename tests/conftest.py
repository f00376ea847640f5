"""Fixtures shared by every test tier. The ``smtp2go_sandbox`` fixture comes from our pytest plugin."""

from __future__ import annotations

import secrets

import pytest


@pytest.fixture
def fake_api_key() -> str:
    """A distinctive, never-committed key: tests assert it appears in no log, error or output."""
    return "api-" + secrets.token_hex(16).upper()
