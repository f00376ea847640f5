"""Inspection and control of the sandbox: Python API, /_sandbox/* over HTTP, lifecycle, CLI.

``smtp2go_sandbox`` is the fixture users get from our pytest11 entry point (pytest_plugin.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from airflow_provider_smtp2go.sandbox import CONTROL_HEADERS, Smtp2goSandbox


def send(sb: Smtp2goSandbox, key: str | None = None, **over: Any) -> requests.Response:
    body: dict[str, Any] = {"sender": "ops@example.com", "to": ["alice@example.com"], "subject": "Hi", "text_body": "x"}
    body.update(over)
    return requests.post(
        f"{sb.base_url}/email/send", json=body, headers={"X-Smtp2go-Api-Key": key or sb.api_key}, timeout=5
    )


def test_fixture_yields_a_running_sandbox_with_a_runtime_key(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    assert sb.base_url == f"http://127.0.0.1:{sb.port}/v3"
    assert sb.url == f"http://127.0.0.1:{sb.port}"
    assert sb.api_key.startswith("api-")
    assert len(sb.api_key) == 36
    assert sb.api_key not in repr(sb)
    assert send(sb).status_code == 200


def test_start_stop_without_context_manager() -> None:
    sb = Smtp2goSandbox().start()
    try:
        assert send(sb).status_code == 200
        url = sb.url
    finally:
        sb.stop()
    assert not sb.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/_sandbox/health", headers=CONTROL_HEADERS, timeout=2)
    sb.stop()  # idempotent


def test_non_loopback_host_is_refused_unless_allowed() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        Smtp2goSandbox(host="0.0.0.0")
    with pytest.raises(ValueError, match="allow_non_loopback"):
        Smtp2goSandbox(host="192.0.2.1")
    Smtp2goSandbox(host="0.0.0.0", allow_non_loopback=True)  # constructed, not started
    Smtp2goSandbox(host="localhost")


def test_arrivals_and_duplicates_by_content_and_by_idempotency_header(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    send(sb)
    send(sb)
    send(sb, subject="Other")
    key_header = [{"header": "X-Smtp2go-Idempotency-Key", "value": "run-1"}]
    send(sb, custom_headers=key_header, subject="A")
    send(sb, custom_headers=key_header, subject="B")  # same logical message despite new content
    arrivals = sb.arrivals()
    assert sorted(arrivals.values()) == [1, 2, 2]
    assert arrivals["key:run-1"] == 2
    assert len(sb.duplicates()) == 2
    assert len(sb.messages()) == 5


def test_request_counts_per_path_and_per_key(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    other = "second-" + sb.api_key[4:]
    sb.add_api_key(other)
    send(sb)
    send(sb, key=other)
    requests.post(f"{sb.base_url}/activity/search", json={}, headers={"X-Smtp2go-Api-Key": other}, timeout=5)
    assert sb.request_count() == 3
    assert sb.request_count("email/send") == 2
    assert sb.request_count("/v3/email/send") == 2
    assert sb.request_count("/activity/search") == 1
    assert sb.request_count(api_key=other) == 2
    assert sb.request_count("email/send", api_key=sb.api_key) == 1


def test_max_messages_evicts_oldest_first() -> None:
    with Smtp2goSandbox(max_messages=3) as sb:
        ids = [send(sb, subject=f"m{i}").json()["data"]["email_id"] for i in range(5)]
        assert [m.email_id for m in sb.messages()] == ids[2:]
        assert {e["email_id"] for e in sb.events()} == set(ids[2:])
        assert sum(sb.arrivals().values()) == 3


def test_http_control_api(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    ctl = f"{sb.url}/_sandbox"
    ctl_http = requests.Session()
    ctl_http.headers.update(CONTROL_HEADERS)
    assert ctl_http.get(f"{ctl}/health", timeout=5).json() == {"status": "ok"}

    limited = "ctl-" + sb.api_key[4:]
    made = ctl_http.post(f"{ctl}/keys", json={"api_key": limited, "permissions": ["/email/send"]}, timeout=5)
    assert made.status_code == 201
    assert made.json()["username"].startswith("api-")
    assert send(sb, key=limited).status_code == 200

    tpl = {"template_id": "hello-1", "subject": "Hi {{ who }}", "text_body": "body"}
    assert ctl_http.post(f"{ctl}/templates", json=tpl, timeout=5).status_code == 201
    assert send(sb, template_id="hello-1", template_data={"who": "you"}).status_code == 200
    assert ctl_http.post(f"{ctl}/suppressions", json={"email_address": "no@example.com"}, timeout=5).ok
    assert send(sb, to=["no@example.com"]).json()["data"]["failed"] == 1

    messages = ctl_http.get(f"{ctl}/messages", timeout=5).json()["messages"]
    assert [m["subject"] for m in messages] == ["Hi", "Hi you", "Hi"]
    assert messages[0]["to"] == ["alice@example.com"]
    assert messages[2]["failed_recipients"] == ["no@example.com"]
    events = ctl_http.get(f"{ctl}/events", params={"email_id": messages[0]["email_id"]}, timeout=5).json()
    assert [e["event"] for e in events["events"]] == ["processed", "delivered"]
    assert ctl_http.get(f"{ctl}/duplicates", timeout=5).json() == {"duplicates": {}}
    assert len(ctl_http.get(f"{ctl}/arrivals", timeout=5).json()["arrivals"]) == 3

    counts = ctl_http.get(f"{ctl}/requests", params={"path": "email/send"}, timeout=5).json()
    assert counts["count"] == 3
    assert counts["by_path"] == {"email/send": 3}
    assert sb.api_key not in str(counts)  # keys are shown by username only

    fault = ctl_http.post(f"{ctl}/faults", json={"path": "email/send", "status": 503, "count": 1}, timeout=5)
    assert fault.status_code == 201
    assert len(ctl_http.get(f"{ctl}/faults", timeout=5).json()["faults"]) == 1
    assert send(sb).status_code == 503
    ctl_http.post(f"{ctl}/faults", json={"path": "email/send", "status": 500}, timeout=5)
    assert ctl_http.delete(f"{ctl}/faults", timeout=5).json() == {"faults": []}
    assert send(sb).status_code == 200
    assert ctl_http.post(f"{ctl}/faults", json={"kind": "nope"}, timeout=5).status_code == 400

    clock = ctl_http.post(f"{ctl}/clock", json={"freeze": True, "set": "2026-01-02T03:04:05Z"}, timeout=5).json()
    assert clock == {"now": "2026-01-02T03:04:05Z", "frozen": True}
    clock = ctl_http.post(f"{ctl}/clock", json={"advance": 60}, timeout=5).json()
    assert clock["now"] == "2026-01-02T03:05:05Z"
    assert sb.clock.now().minute == 5

    assert ctl_http.post(f"{ctl}/reset", timeout=5).json() == {"reset": True}
    assert sb.messages() == []
    assert sb.request_count() == 0
    assert send(sb).status_code == 200  # keys survive a reset
    assert ctl_http.get(f"{ctl}/nothing", timeout=5).status_code == 404


def test_api_rejects_get(smtp2go_sandbox: Smtp2goSandbox) -> None:
    resp = requests.get(f"{smtp2go_sandbox.base_url}/email/send", timeout=5)
    assert resp.status_code == 405
    assert "error_code" in resp.json()["data"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_python_dash_m_serves_until_terminated() -> None:
    port = _free_port()
    key = "api-" + os.urandom(16).hex()
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_smtp2go.sandbox", "--port", str(port), "--api-key", key],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{base}/_sandbox/health", headers=CONTROL_HEADERS, timeout=0.5)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.05)
        resp = requests.post(
            f"{base}/v3/email/send",
            json={"sender": "a@example.com", "to": ["b@example.com"], "text_body": "x"},
            headers={"X-Smtp2go-Api-Key": key},
            timeout=5,
        )
        assert resp.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"{base}/v3" in out
    assert key in out


def test_cli_refuses_non_loopback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "airflow_provider_smtp2go.sandbox", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2
    assert "non-loopback" in result.stderr
