"""One settings object for both transports, endpoint methods derived once (issue 11, findings 3 and 8)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import inspect
import pickle
from pathlib import Path

import pytest

from airflow_provider_smtp2go.client import AsyncSmtp2goClient, RetryPolicy, Smtp2goClient, Smtp2goValidationError
from airflow_provider_smtp2go.client.protocol import ApiCall, build_http_request
from airflow_provider_smtp2go.client.secret import Secret
from airflow_provider_smtp2go.client.settings import USER_AGENT, ClientSettings

CLIENT_DIR = Path(__file__).resolve().parents[2] / "airflow_provider_smtp2go" / "client"


def public_methods(client: object) -> set[str]:
    return {name for name in dir(client) if not name.startswith("_") and callable(getattr(client, name))}


SYNC, AIO = Smtp2goClient("k" * 20), AsyncSmtp2goClient("k" * 20)


def test_both_clients_have_the_same_public_methods() -> None:
    sync, aio = public_methods(SYNC), public_methods(AIO)
    # Each transport's own lifecycle methods aside, the two are the same API.
    assert sync - {"close"} == aio - {"aclose"}
    assert {
        "email_bounces",
        "email_spam",
        "email_unsubs",
        "email_cycle",
        "view_suppressions",
        "add_suppression",
        "remove_suppression",
        "search_templates",
        "view_template",
        "scan_activity",
    } <= aio


@pytest.mark.parametrize("name", sorted(public_methods(SYNC) - {"close"}))
def test_the_async_twin_takes_the_same_arguments_and_is_awaitable(name: str) -> None:
    sync, aio = inspect.signature(getattr(SYNC, name)), inspect.signature(getattr(AIO, name))
    assert sync.parameters == aio.parameters
    if name != "iter_activity":  # an async generator, iterated with ``async for``
        assert not inspect.iscoroutinefunction(getattr(SYNC, name))


def test_settings_keep_the_key_out_of_repr_pickles_and_asdict(fake_api_key: str) -> None:
    settings = ClientSettings.create(fake_api_key, region="eu", subaccount_id="S1")
    texts = [repr(settings), str(settings), repr(dataclasses.asdict(settings)), repr(copy.deepcopy(settings))]
    assert all(fake_api_key not in text for text in texts)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(settings)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(settings.api_key)
    assert settings.api_key.reveal() == fake_api_key
    assert f"{settings.api_key}" == "***" and settings.api_key == Secret(fake_api_key)


def test_one_settings_object_builds_both_clients(fake_api_key: str) -> None:
    settings = ClientSettings.create(fake_api_key, base_url="http://127.0.0.1:9/v3", timeout=(1, 2))
    sync, aio = Smtp2goClient(settings), AsyncSmtp2goClient(settings)
    assert sync.settings is aio.settings is settings
    assert sync.timeout == aio.timeout == (1.0, 2.0)
    with pytest.raises(TypeError, match="not both"):
        Smtp2goClient(settings, timeout=3)
    with pytest.raises(TypeError, match="unknown client option"):
        ClientSettings.create(fake_api_key, regoin="eu")  # type: ignore[call-arg]
    with pytest.raises(Smtp2goValidationError) as info:
        ClientSettings.create(fake_api_key, timeout=float("inf"))
    assert info.value.field == "timeout"


def test_no_retries_is_chosen_when_the_client_is_built(fake_api_key: str) -> None:
    client = Smtp2goClient(fake_api_key, retry=RetryPolicy.no_retries())
    assert client.retry_policy.max_attempts == 1
    with pytest.raises(AttributeError):
        client.retry_policy = RetryPolicy()  # type: ignore[misc]


def test_protocol_takes_the_user_agent_instead_of_importing_the_package() -> None:
    tree = ast.parse((CLIENT_DIR / "protocol.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "airflow_provider_smtp2go" not in imported
    request = build_http_request(ApiCall("x"), base_url="https://h/v3", api_key="k", user_agent="me/1")
    assert request.headers["User-Agent"] == "me/1"
    assert USER_AGENT.startswith("airflow-provider-smtp2go/")
