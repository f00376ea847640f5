"""The sandbox under hostile input (issue 10, finding 3): always an answer, never a crash.

Deeply nested JSON, absurd clock values and wrong JSON types get a 400 in the route's own error
shape, the connection stays usable, and idle connections are closed after a timeout.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_smtp2go.sandbox import CONTROL_HEADERS, Smtp2goSandbox
from airflow_provider_smtp2go.sandbox.api import ROUTES, SandboxApi
from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.server import CONNECTION_THREAD_NAME
from airflow_provider_smtp2go.sandbox.state import SandboxState, Template

SEND = {"sender": "ops@example.com", "to": ["alice@example.com"], "subject": "Hi", "text_body": "x"}
DEEP = b"[" * 100_000


@pytest.fixture
def sb() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def http(sb: Smtp2goSandbox) -> Iterator[requests.Session]:
    """One keep-alive session: a crash would drop its connection and fail the next request."""
    with requests.Session() as session:
        session.headers.update(CONTROL_HEADERS)
        session.headers["X-Smtp2go-Api-Key"] = sb.api_key
        yield session


def post_json(http: requests.Session, url: str, body: Any) -> requests.Response:
    """POST ``body`` as JSON, NaN and Infinity included (``requests``' own ``json=`` refuses them)."""
    return http.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=5)


def still_serving(sb: Smtp2goSandbox, http: requests.Session) -> bool:
    return http.post(f"{sb.base_url}/email/send", json=SEND, timeout=5).status_code == 200


def assert_smtp2go_400(resp: requests.Response) -> None:
    assert resp.status_code == 400, resp.text[:300]
    body = resp.json()
    assert set(body) == {"request_id", "data"}
    assert body["data"]["error_code"] == "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD"


def assert_control_400(resp: requests.Response, mentions: str = "") -> None:
    assert resp.status_code == 400, resp.text[:300]
    message = resp.json()["error"]
    assert isinstance(message, str)
    assert mentions in message


@pytest.mark.parametrize("path", sorted(ROUTES))
def test_deeply_nested_json_is_a_400_on_every_api_route(sb: Smtp2goSandbox, http: requests.Session, path: str) -> None:
    resp = http.post(f"{sb.base_url}/{path}", data=DEEP, headers={"Content-Type": "application/json"}, timeout=10)
    assert_smtp2go_400(resp)
    assert still_serving(sb, http)


def test_nesting_under_the_interpreter_limit_is_refused_too(sb: Smtp2goSandbox, http: requests.Session) -> None:
    # Python can parse this, but no SMTP2GO payload is this deep: refused before any handler runs.
    deep_data = '{"a":' * 900 + "1" + "}" * 900
    body = json.dumps({**SEND, "template_data": {}})[:-1] + f', "custom": {deep_data}}}'
    resp = http.post(f"{sb.base_url}/email/send", data=body, headers={"Content-Type": "application/json"}, timeout=10)
    assert_smtp2go_400(resp)
    assert http.get(f"{sb.url}/_sandbox/messages", timeout=5).status_code == 200


def test_a_forged_continue_token_is_refused_not_a_crash(sb: Smtp2goSandbox, http: requests.Session) -> None:
    for raw in (DEEP, b'{"v":1,"as_of":1,"hw":1e400,"offset":0}'):
        token = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        resp = http.post(f"{sb.base_url}/activity/search", json={"continue_token": token}, timeout=10)
        assert resp.status_code == 400, resp.text[:200]
        assert resp.json()["data"]["field_validation_errors"]["fieldname"] == "continue_token"
    assert still_serving(sb, http)


def test_deeply_nested_json_is_a_400_on_the_control_api(sb: Smtp2goSandbox, http: requests.Session) -> None:
    for route in ("faults", "clock", "keys", "templates"):
        assert_control_400(http.post(f"{sb.url}/_sandbox/{route}", data=DEEP, timeout=10), "nested")
    assert sb.faults.list() == []
    assert still_serving(sb, http)


ABSURD_CLOCK = [
    {"advance": 1e308},
    {"advance": math.inf},
    {"advance": -math.inf},
    {"advance": math.nan},
    {"advance": -1e308},
    {"advance": -1e12},  # before 1970
    {"advance": 10**400},  # a JSON integer no float can hold
    {"advance": "60"},
    {"advance": True},
    {"set": "0001-01-01"},
    {"set": "9999-12-31T23:59:59Z"},
    {"set": 1e308},
    {"set": ["2026-01-01"]},
    {"set": "2026-01-01", "advance": 1e308},
    {"freeze": "yes"},
    {"advnace": 60},
]


def test_absurd_clock_values_are_400_and_leave_the_clock_alone(sb: Smtp2goSandbox, http: requests.Session) -> None:
    http.post(f"{sb.url}/_sandbox/clock", json={"freeze": True, "set": "2026-01-02T03:04:05Z"}, timeout=5)
    wrong: list[str] = []
    for body in ABSURD_CLOCK:
        try:
            resp = post_json(http, f"{sb.url}/_sandbox/clock", body)
        except requests.ConnectionError as exc:
            wrong.append(f"{body}: connection dropped ({type(exc).__name__})")
            continue
        if resp.status_code != 400 or not isinstance(resp.json().get("error"), str):
            wrong.append(f"{body}: {resp.status_code} {resp.text[:120]}")
    assert wrong == []
    clock = http.get(f"{sb.url}/_sandbox/clock", timeout=5).json()
    assert clock == {"now": "2026-01-02T03:04:05Z", "frozen": True}
    assert still_serving(sb, http)
    assert http.post(f"{sb.base_url}/activity/search", json={}, timeout=5).status_code == 200


def test_the_python_clock_refuses_absurd_moves_too() -> None:
    clock = SandboxClock(frozen=True)
    before = clock.timestamp()
    for seconds in (math.inf, math.nan, 1e308, -1e308, 10**400):
        with pytest.raises(ValueError, match="between 1970-01-01 and 9000-01-01"):
            clock.advance(seconds)
    assert clock.timestamp() == before
    clock.advance(-60)  # modest moves backwards stay allowed
    assert clock.timestamp() == before - 60


BAD_CONTROL_BODIES: list[tuple[str, Any, str]] = [
    ("faults", {"path": 5}, "path"),
    ("faults", {"kind": 5}, "kind"),
    ("faults", {"status": "503"}, "status"),
    ("faults", {"status": 99}, "status"),
    ("faults", {"count": True}, "count"),
    ("faults", {"count": "3"}, "count"),
    ("faults", {"rate": "0.5"}, "rate"),
    ("faults", {"latency": math.nan}, "latency"),
    ("faults", {"latency": 1e308}, "latency"),
    ("faults", {"latency": None}, "latency"),
    ("faults", {"ratelimit_reset": math.inf}, "ratelimit_reset"),
    ("faults", {"ratelimit_reset": 10**400}, "ratelimit_reset"),
    ("faults", {"retry_after": [1]}, "retry_after"),
    ("faults", {"retry_after": "1\r\nSet-Cookie: x=1"}, "retry_after"),
    ("faults", {"retry_after": "bientôt"}, "retry_after"),
    ("faults", {"kind": "trickle", "bytes_per_second": math.inf}, "bytes_per_second"),
    ("faults", {"endpoint": "email/send"}, "'path'"),
    ("keys", {"api_key": 5}, "api_key"),
    ("keys", {"api_key": "api-x", "permissions": "/email/send"}, "permissions"),
    ("keys", {"api_key": "api-x", "permissions": [1]}, "permissions"),
    ("templates", {"template_id": 5, "subject": "s"}, "template_id"),
    ("templates", {"template_id": "tpl-1", "subject": ["s"]}, "subject"),
    ("templates", {"template_id": "tpl-1", "subject": "s", "text_body": {"a": 1}}, "text_body"),
    ("suppressions", {"email_address": 5}, "email_address"),
    ("suppressions", {"email_address": "a@example.com", "reason": 5}, "reason"),
    ("faults", [], "object"),
    ("faults", "text", "object"),
]


def test_wrong_types_on_the_control_api_are_400_naming_the_field(sb: Smtp2goSandbox, http: requests.Session) -> None:
    wrong: list[str] = []
    for route, body, mentions in BAD_CONTROL_BODIES:
        try:
            resp = post_json(http, f"{sb.url}/_sandbox/{route}", body)
        except requests.ConnectionError:
            wrong.append(f"{route} {body!r:.60}: connection dropped")
            continue
        message = resp.json().get("error", "") if resp.headers["Content-Type"].startswith("application/json") else ""
        if resp.status_code != 400 or mentions not in str(message):
            wrong.append(f"{route} {body!r:.60}: {resp.status_code} {resp.text[:120]}")
    assert wrong == []
    assert sb.faults.list() == []
    assert sb.state.templates() == []
    assert still_serving(sb, http)


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe{}", b"\x00"])
def test_unparseable_control_bodies_are_400(sb: Smtp2goSandbox, http: requests.Session, raw: bytes) -> None:
    assert_control_400(http.post(f"{sb.url}/_sandbox/faults", data=raw, timeout=5), "JSON")


def test_retry_after_is_sent_as_given_however_absurd(sb: Smtp2goSandbox, http: requests.Session) -> None:
    cases = {
        "Wed, 21 Oct 2015 07:28:00 GMT": "Wed, 21 Oct 2015 07:28:00 GMT",
        "soon": "soon",
        math.inf: "inf",
        math.nan: "nan",
        -5: "-5",
        1e308: str(int(1e308)),
        10**400: str(10**400),
        2.5: "2.5",
    }
    for value, header in cases.items():
        made = post_json(http, f"{sb.url}/_sandbox/faults", {"status": 429, "retry_after": value})
        assert made.status_code == 201, made.text
        resp = http.post(f"{sb.base_url}/email/send", json=SEND, timeout=5)
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == header


def test_template_search_with_wrong_types_is_a_400(sb: Smtp2goSandbox, http: requests.Session) -> None:
    sb.add_template("tpl-1", "Hi")
    for body in ({"tags": 5}, {"tags": [[]]}, {"tags": [{}]}, {"search_terms": 5}, {"search_terms": [1]}):
        resp = http.post(f"{sb.base_url}/template/search", json=body, timeout=5)
        assert_smtp2go_400(resp)
        assert resp.json()["data"]["field_validation_errors"]["fieldname"] in ("tags", "search_terms")
    assert still_serving(sb, http)


def test_no_api_field_of_a_wrong_type_crashes_a_handler() -> None:
    """A sweep, in process for speed: every route x field x odd JSON value answers below 500."""
    state = SandboxState(SandboxClock())
    state.add_key("api-sweep")
    state.add_template(Template("tpl-1", "name", "Hi {{ a }}", "<p>x</p>", "x"))
    api = SandboxApi(state)
    fields = [
        "sender",
        "to",
        "cc",
        "bcc",
        "subject",
        "text_body",
        "html_body",
        "custom_headers",
        "attachments",
        "inlines",
        "template_id",
        "template_data",
        "fastaccept",
        "schedule",
        "mime_email",
        "email_address",
        "reasons",
        "fuzzy",
        "sort",
        "block_description",
        "id",
        "template_name",
        "template_variables",
        "tags",
        "search_terms",
        "sort_direction",
        "limit",
        "continue_token",
        "start_date",
        "end_date",
        "event_types",
        "search",
        "search_subject",
        "search_sender",
        "search_recipient",
        "search_usernames",
        "search_email_id",
        "only_latest",
        "only_latest_by_sent",
        "include_headers",
        "subaccounts",
        "username",
        "group_by",
    ]
    odd: list[Any] = [None, 5, -1, 10**30, 1.5, True, "", "x", [], {}, [1], [None], [{}], [[]], {"a": 1}]
    odd += [math.nan, math.inf, "\x00", [{"header": 5, "value": None}], [{"filename": 5, "fileblob": 5}]]
    crashed: list[str] = []
    for path in ROUTES:
        base = {**SEND} if path == "email/send" else {"id": "tpl-1"} if path.startswith("template/") else {}
        for name in fields:
            for value in odd:
                body = json.dumps({**base, name: value}).encode()
                try:
                    status = api.respond(api.parse(f"/v3/{path}", "api-sweep", "application/json", body)).status
                except Exception as exc:  # the bug this test is for
                    crashed.append(f"{path} {name}={value!r:.30}: {type(exc).__name__}")
                    continue
                if status >= 500:
                    crashed.append(f"{path} {name}={value!r:.30}: {status}")
    assert crashed == []


def _connection_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == CONNECTION_THREAD_NAME}


def test_idle_connections_are_closed_after_the_connection_timeout() -> None:
    before = _connection_threads()
    with Smtp2goSandbox(connection_timeout=0.3) as sb:
        socks = [socket.create_connection(("127.0.0.1", sb.port), timeout=5) for _ in range(60)]
        try:
            request = b"GET /_sandbox/health HTTP/1.1\r\nHost: x\r\nX-Smtp2go-Sandbox: 1\r\n\r\n"
            for sock in socks[:20]:  # a finished keep-alive request, then silence
                sock.sendall(request)
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            for sock in socks[20:40]:  # half a request line, then silence (slowloris)
                sock.sendall(b"POST /v3/email/send HTTP/1.1\r\nHost: x\r\n")
            # socks[40:] never send anything.
            started = time.monotonic()
            for sock in socks:
                assert sock.recv(4096) == b"", "the server closed it (end of stream)"
            assert time.monotonic() - started < 4.0
            deadline = time.monotonic() + 3
            while not _connection_threads() <= before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _connection_threads() <= before, "a thread outlived its idle connection"
            assert requests.get(f"{sb.url}/_sandbox/health", headers=CONTROL_HEADERS, timeout=5).ok
        finally:
            for sock in socks:
                sock.close()


def test_connection_timeout_must_be_positive() -> None:
    for bad in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError, match="connection_timeout"):
            Smtp2goSandbox(connection_timeout=bad)
