"""Scripted failures over real HTTP: what a client actually sees for each fault kind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

SEND = {"sender": "ops@example.com", "to": ["alice@example.com"], "subject": "Hi", "text_body": "x"}


@pytest.fixture
def sb() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sandbox:
        yield sandbox


def post(sb: Smtp2goSandbox, path: str = "email/send", body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        f"{sb.base_url}/{path}",
        json=SEND if body is None else body,
        headers={"X-Smtp2go-Api-Key": sb.api_key},
        timeout=5,
    )


def test_429_with_retry_after_and_ratelimit_reset_then_recovers(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", status=429, retry_after=7, ratelimit_reset=30, count=2)
    for _ in range(2):
        resp = post(sb)
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "7"
        assert int(resp.headers["X-RateLimit-Reset"]) >= int(time.time()) + 29
        assert resp.json()["data"]["error_code"] == "E_ApiResponseCodes.REQ_LIMIT_EXCEEDED"
    assert post(sb).status_code == 200
    assert sb.request_count("email/send") == 3
    assert len(sb.messages()) == 1  # faulted requests were not processed


def test_429_without_retry_after(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", status=429)
    resp = post(sb)
    assert resp.status_code == 429
    assert "Retry-After" not in resp.headers
    assert "X-RateLimit-Reset" not in resp.headers


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_have_smtp2go_shaped_bodies(sb: Smtp2goSandbox, status: int) -> None:
    sb.inject_fault("email/send", status=status)
    resp = post(sb)
    assert resp.status_code == status
    body = resp.json()
    assert set(body) == {"request_id", "data"}
    assert body["data"]["error_code"].startswith("E_ApiResponseCodes.")
    assert body["data"]["error"]


def test_fault_only_hits_its_path_and_star_hits_all(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("activity/search", status=503, count=5)
    assert post(sb).status_code == 200
    assert post(sb, "activity/search", {}).status_code == 503
    sb.clear_faults()
    sb.inject_fault("*", status=500, count=2)
    assert post(sb, "stats/email_cycle", {}).status_code == 500
    assert post(sb).status_code == 500
    assert post(sb).status_code == 200


def test_latency_delays_then_processes(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="latency", latency=0.3)
    started = time.perf_counter()
    resp = post(sb)
    assert resp.status_code == 200
    assert time.perf_counter() - started >= 0.3
    with pytest.raises(requests.ReadTimeout):
        sb.inject_fault("email/send", kind="latency", latency=0.5)
        requests.post(f"{sb.base_url}/email/send", json=SEND, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=0.1)


def test_drop_before_closes_without_processing(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="drop_before")
    with pytest.raises(requests.ConnectionError):
        post(sb)
    assert sb.messages() == []
    assert sb.request_count("email/send") == 1
    assert post(sb).status_code == 200


def test_drop_after_processes_but_the_client_sees_a_connection_error(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="drop_after")
    with pytest.raises(requests.ConnectionError):
        post(sb)
    (msg,) = sb.messages()  # the ambiguous send: it did arrive
    assert msg.recipients == ["alice@example.com"]
    post(sb)  # a naive retry
    assert list(sb.duplicates().values()) == [2]


def test_malformed_body_is_200_but_not_json(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="malformed")
    resp = post(sb)
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()


def test_html_502_is_a_proxy_page(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="html_502")
    resp = post(sb)
    assert resp.status_code == 502
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in resp.text


def test_rate_faults_are_seeded_and_repeatable() -> None:
    def run() -> list[int]:
        with Smtp2goSandbox(fault_seed=42) as sb:
            sb.inject_fault("email/send", status=503, rate=0.5)
            return [post(sb).status_code for _ in range(40)]

    first, second = run(), run()
    assert first == second
    assert 5 < first.count(503) < 35
    assert set(first) == {200, 503}


def test_rate_with_count_caps_the_firings(sb: Smtp2goSandbox) -> None:
    fault = sb.inject_fault("email/send", status=500, rate=1.0, count=3)
    codes = [post(sb).status_code for _ in range(5)]
    assert codes == [500, 500, 500, 200, 200]
    assert fault.fired == 3


def test_invalid_fault_arguments_are_refused(sb: Smtp2goSandbox) -> None:
    with pytest.raises(ValueError, match="kind"):
        sb.inject_fault(kind="explode")
    with pytest.raises(ValueError, match="rate"):
        sb.inject_fault(rate=2.0)
