"""The ``/_sandbox/`` control API's guard header and route listing, and the CLI's busy-port message."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import requests

from airflow_provider_smtp2go.sandbox import CONTROL_HEADER, CONTROL_HEADERS, Smtp2goSandbox
from airflow_provider_smtp2go.sandbox.control_routes import ROUTES


@pytest.mark.parametrize(("method", "name"), sorted({(r.method, r.name) for r in ROUTES}))
def test_every_control_route_refuses_a_request_without_the_header(
    smtp2go_sandbox: Smtp2goSandbox, method: str, name: str
) -> None:
    url = f"{smtp2go_sandbox.url}/_sandbox/{name}"
    for headers in ({}, {CONTROL_HEADER: "0"}, {CONTROL_HEADER: ""}):
        resp = requests.request(method, url, json={}, headers=headers, timeout=5)
        assert resp.status_code == 403
        assert f"{CONTROL_HEADER}: 1" in resp.json()["error"]


def test_a_cross_origin_simple_post_cannot_inject_a_fault(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    # What a web page may send to loopback without a CORS preflight: text/plain, no custom header.
    page_post = requests.post(
        f"{sb.url}/_sandbox/faults",
        data='{"path": "*", "status": 503, "rate": 1.0}',
        headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        timeout=5,
    )
    assert page_post.status_code == 403
    assert sb.faults.list() == []
    reset = requests.post(f"{sb.url}/_sandbox/reset", headers={"Content-Type": "text/plain"}, timeout=5)
    assert reset.status_code == 403
    # The preflight a page needs before sending the header is never approved.
    preflight = requests.options(
        f"{sb.url}/_sandbox/faults",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Headers": CONTROL_HEADER},
        timeout=5,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert not preflight.ok


def test_the_header_does_not_apply_to_the_api(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    resp = requests.post(
        f"{sb.base_url}/email/send",
        json={"sender": "ops@example.com", "to": ["a@example.com"], "subject": "Hi", "text_body": "x"},
        headers={"X-Smtp2go-Api-Key": sb.api_key},
        timeout=5,
    )
    assert resp.status_code == 200


def test_get_sandbox_root_lists_the_routes_and_each_one_answers(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    for root in (f"{sb.url}/_sandbox/", f"{sb.url}/_sandbox"):
        listing = requests.get(root, headers=CONTROL_HEADERS, timeout=5)
        assert listing.status_code == 200
    body = listing.json()
    assert body["header"] == f"{CONTROL_HEADER}: 1"
    rows = body["routes"]
    assert all(set(row) == {"method", "path", "body", "description"} and row["description"] for row in rows)
    pairs = {(row["method"], row["path"]) for row in rows}
    assert {("GET", "/_sandbox/"), ("POST", "/_sandbox/faults"), ("POST", "/_sandbox/clock")} <= pairs
    (faults_row,) = (row for row in rows if row["method"] == "POST" and row["path"] == "/_sandbox/faults")
    assert "path" in faults_row["body"].split(", ")
    assert "endpoint" not in faults_row["body"]
    for method, path in pairs:
        if method == "GET":
            assert requests.get(f"{sb.url}{path}", headers=CONTROL_HEADERS, timeout=5).status_code == 200, path


def test_wrong_method_on_a_known_route_is_405_and_unknown_route_404(smtp2go_sandbox: Smtp2goSandbox) -> None:
    sb = smtp2go_sandbox
    wrong = requests.put(f"{sb.url}/_sandbox/faults", headers=CONTROL_HEADERS, timeout=5)
    assert wrong.status_code == 405
    assert "DELETE, GET, POST" in wrong.json()["error"]
    missing = requests.get(f"{sb.url}/_sandbox/nothing", headers=CONTROL_HEADERS, timeout=5)
    assert missing.status_code == 404
    assert "GET /_sandbox/" in missing.json()["error"]


def test_cli_on_a_busy_port_says_use_port_0_in_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "airflow_provider_smtp2go.sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(port) in lines[0]
    assert "--port 0" in lines[0]
    assert "already in use" in lines[0]
