"""The ``trickle`` and ``hang`` faults over real HTTP: slow and silent servers, and stopping them."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from airflow_provider_smtp2go.sandbox import CONTROL_HEADERS, Smtp2goSandbox
from airflow_provider_smtp2go.sandbox.server import CONNECTION_THREAD_NAME

SEND = {"sender": "ops@example.com", "to": ["alice@example.com"], "subject": "Hi", "text_body": "x"}


@pytest.fixture
def sb() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sandbox:
        yield sandbox


def connection_threads() -> set[threading.Thread]:
    """The sandbox's live connection handlers; "now <= before" means every new one has ended."""
    return {t for t in threading.enumerate() if t.name == CONNECTION_THREAD_NAME}


def wait_until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def raw_send(sb: Smtp2goSandbox, timeout: float = 5.0) -> socket.socket:
    """Send one /email/send request on a raw socket and return the socket, unread."""
    body = json.dumps(SEND).encode()
    head = (
        f"POST /v3/email/send HTTP/1.1\r\nHost: 127.0.0.1:{sb.port}\r\nContent-Type: application/json\r\n"
        f"X-Smtp2go-Api-Key: {sb.api_key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", sb.port), timeout=timeout)
    sock.sendall(head.encode() + body)
    return sock


def test_trickle_outlives_a_per_read_timeout_and_the_send_is_accepted(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="trickle", bytes_per_second=400)
    started = time.monotonic()
    resp = requests.post(
        f"{sb.base_url}/email/send", json=SEND, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=(2, 0.3)
    )
    elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert resp.json()["data"]["succeeded"] == 1
    assert len(sb.messages()) == 1
    # Headers + body are a few hundred bytes: at 400 B/s the answer takes far longer than the
    # 0.3 s read timeout, which never fired because bytes kept coming.
    assert elapsed > 0.6


def test_trickle_writes_headers_slowly_too(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("email/send", kind="trickle", bytes_per_second=100)
    sock = raw_send(sb)
    try:
        sock.settimeout(0.5)
        chunks = [sock.recv(4096) for _ in range(4)]
    finally:
        sock.close()
    received = b"".join(chunks)
    assert all(chunks), "each read got bytes within 0.5 s"
    assert received.startswith(b"HTTP/1.1 200")
    assert b"\r\n\r\n" not in received  # four reads in, the headers are still arriving


def test_trickle_cut_off_is_an_ambiguous_send_and_the_handler_ends(sb: Smtp2goSandbox) -> None:
    before = connection_threads()
    sb.inject_fault("email/send", kind="trickle", bytes_per_second=10)
    sock = raw_send(sb)
    assert sock.recv(1) == b"H"
    sock.close()  # the client gives up mid-answer
    (msg,) = sb.messages()  # ...but the email was accepted
    assert msg.recipients == ["alice@example.com"]
    assert wait_until(lambda: connection_threads() <= before), "the trickling handler did not end"


def test_hang_reads_the_request_and_never_answers(sb: Smtp2goSandbox) -> None:
    before = connection_threads()
    sb.inject_fault("email/send", kind="hang")
    sock = raw_send(sb, timeout=0.5)
    try:
        with pytest.raises(TimeoutError):
            sock.recv(1)
        assert sb.request_count("email/send") == 1
        assert sb.messages() == []  # never processed
    finally:
        sock.close()
    assert wait_until(lambda: connection_threads() <= before), "the hung handler outlived its client"
    resp = requests.post(f"{sb.base_url}/email/send", json=SEND, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=5)
    assert resp.status_code == 200  # count=1: spent


def test_a_client_read_timeout_fires_on_a_hang(sb: Smtp2goSandbox) -> None:
    sb.inject_fault("activity/search", kind="hang")
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{sb.base_url}/activity/search", json={}, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=0.3)


@pytest.mark.parametrize(
    ("kind", "extra"), [("hang", {}), ("trickle", {"bytes_per_second": 1}), ("latency", {"latency": 60})]
)
def test_stop_ends_held_connections_promptly(kind: str, extra: dict[str, float]) -> None:
    before = connection_threads()
    sb = Smtp2goSandbox().start()
    try:
        sb.inject_fault("email/send", kind=kind, **extra)  # type: ignore[arg-type]
        sock = raw_send(sb)
        assert wait_until(lambda: sb.request_count("email/send") == 1)
        started = time.monotonic()
        sb.stop()
        assert time.monotonic() - started < 2.0
        assert wait_until(lambda: connection_threads() <= before, timeout=2.0), f"a {kind} handler outlived stop()"
        sock.settimeout(2.0)
        while sock.recv(4096):  # whatever was trickled, then end of stream: the server closed it
            pass
        sock.close()
    finally:
        sb.stop()


def test_trickle_and_hang_through_the_control_api(sb: Smtp2goSandbox) -> None:
    ctl = f"{sb.url}/_sandbox/faults"
    made = requests.post(
        ctl, headers=CONTROL_HEADERS, json={"path": "email/send", "kind": "trickle", "bytes_per_second": 400}, timeout=5
    )
    assert made.status_code == 201
    assert made.json()["kind"] == "trickle"
    assert made.json()["bytes_per_second"] == 400
    hang = requests.post(
        ctl,
        headers=CONTROL_HEADERS,
        json={"path": "activity/search", "kind": "hang", "rate": 1.0, "count": 2},
        timeout=5,
    )
    assert hang.status_code == 201
    kinds = {f["kind"] for f in requests.get(ctl, headers=CONTROL_HEADERS, timeout=5).json()["faults"]}
    assert kinds == {"trickle", "hang"}
    resp = requests.post(
        f"{sb.base_url}/email/send", json=SEND, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=(2, 0.3)
    )
    assert resp.status_code == 200
    for _ in range(2):
        with pytest.raises(requests.ReadTimeout):
            requests.post(
                f"{sb.base_url}/activity/search", json={}, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=0.3
            )
    assert requests.post(
        f"{sb.base_url}/activity/search", json={}, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=5
    ).ok


@pytest.mark.parametrize(
    "arguments",
    [
        {"kind": "trickle"},
        {"kind": "trickle", "bytes_per_second": 0},
        {"kind": "trickle", "bytes_per_second": -3},
        {"kind": "hang", "bytes_per_second": 5},
    ],
)
def test_bad_trickle_arguments_are_refused(sb: Smtp2goSandbox, arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="bytes_per_second"):
        sb.inject_fault("email/send", **arguments)  # type: ignore[arg-type]
    resp = requests.post(f"{sb.url}/_sandbox/faults", json=arguments, headers=CONTROL_HEADERS, timeout=5)
    assert resp.status_code == 400
    assert "bytes_per_second" in resp.json()["error"]
