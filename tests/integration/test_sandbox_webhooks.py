"""The sandbox delivers webhooks like SMTP2GO: real HTTP posts to a receiver on loopback.

Each test registers a webhook through the client's ``/webhook/*`` methods, sends mail whose
recipients' behaviours produce events, and watches a small receiver (a stdlib HTTP server
that records every request and answers as scripted) on a frozen sandbox clock.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest

from airflow_provider_smtp2go.client import (
    AsyncSmtp2goClient,
    Email,
    Smtp2goApiError,
    Smtp2goClient,
    Smtp2goValidationError,
)
from airflow_provider_smtp2go.sandbox import CONTROL_HEADERS, SandboxClock, Smtp2goSandbox
from airflow_provider_smtp2go.sandbox.webhooks import THREAD_NAME

START = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


@dataclass
class Posted:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> list[tuple[str, str]]:
        return parse_qsl(self.body.decode(), keep_blank_values=True)

    def field(self, name: str) -> str:
        values = [v for k, v in self.form if k == name]
        assert len(values) == 1, (name, values)
        return values[0]


@dataclass
class Receiver:
    """Records posts; ``answers`` is a queue of statuses (then 200); ``delay`` stalls each answer."""

    url: str = ""
    posts: list[Posted] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def events(self) -> list[str]:
        return [p.field("event") if not p.body.startswith(b"{") else json.loads(p.body)["event"] for p in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if state.delay:
                state.release.wait(state.delay)
            with state.lock:
                state.posts.append(Posted(self.path, dict(self.headers.items()), body))
                status = state.answers.pop(0) if state.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/smtp2go"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox(clock=SandboxClock(START, frozen=True), max_webhooks=2) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Smtp2goSandbox) -> Iterator[Smtp2goClient]:
    with Smtp2goClient(sandbox.api_key, base_url=sandbox.base_url, activity_requests_per_minute=None) as c:
        yield c


def send(client: Smtp2goClient, *to: str, **extra: Any) -> str:
    email = Email(sender="Ops Team <ops@example.com>", to=list(to), subject="Hello", text_body="Hi", **extra)
    return client.send(email).email_id


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# -- management ---------------------------------------------------------------------------------


def test_add_view_edit_remove_have_the_documented_shapes(client: Smtp2goClient) -> None:
    added = client.add_webhook(
        "https://airflow.example.com/smtp2go/webhooks/",
        events=["bounce", "open"],
        headers=["X-Campaign"],
        output_format="json",
        auth_header_type="bearer",
        auth_header_value="s3cret-token",
    )
    assert isinstance(added["id"], int)
    assert set(added) == {
        "id",
        "url",
        "events",
        "sms_events",
        "headers",
        "usernames",
        "output_format",
        "auth_header_type",
        "auth_header_value",
    }
    assert added["events"] == ["bounce", "open"] and added["output_format"] == "json"
    assert client.view_webhooks() == [added]

    edited = client.edit_webhook(added["id"], events=["bounce"])
    assert edited["events"] == ["bounce"]
    assert edited["url"] == added["url"] and edited["headers"] == ["X-Campaign"]  # the rest is kept

    removed = client.remove_webhook(added["id"])
    assert removed == edited
    assert client.view_webhooks() == []


def test_form_is_the_default_format(client: Smtp2goClient) -> None:
    assert client.add_webhook("https://example.com/hook")["output_format"] == "form"


def test_plan_limit_refuses_one_webhook_too_many(client: Smtp2goClient) -> None:
    client.add_webhook("https://example.com/a")
    client.add_webhook("https://example.com/b")
    with pytest.raises(Smtp2goApiError) as caught:
        client.add_webhook("https://example.com/c")
    assert caught.value.status == 400
    assert caught.value.error_code == "E_ApiResponseCodes.WEBHOOK_LIMIT_REACHED"
    assert len(client.view_webhooks()) == 2


def test_free_plan_default_allows_one_webhook() -> None:
    with (
        Smtp2goSandbox() as sb,
        Smtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as client,
    ):
        client.add_webhook("https://example.com/a")
        with pytest.raises(Smtp2goApiError):
            client.add_webhook("https://example.com/b")


def test_unknown_webhook_and_bad_fields_are_refused(client: Smtp2goClient, sandbox: Smtp2goSandbox) -> None:
    with pytest.raises(Smtp2goApiError) as caught:
        client.remove_webhook(99999)
    assert caught.value.status == 400
    # What the client refuses before the network, the sandbox refuses too.
    for body in ({"url": "ftp://example.com/"}, {"url": "https://x.example/", "output_format": "xml"}, {}):
        request = urllib.request.Request(
            f"{sandbox.base_url}/webhook/add",
            data=json.dumps(body).encode(),
            headers={"X-Smtp2go-Api-Key": sandbox.api_key, "Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as http_error:
            urllib.request.urlopen(request, timeout=5)
        assert http_error.value.code == 400
    with pytest.raises(Smtp2goValidationError):
        client.add_webhook("https://example.com/hook", events=["opened"])  # the activity spelling


def test_no_webhook_field_of_a_wrong_type_crashes_a_handler() -> None:
    """In process for speed: every /webhook/* path x field x odd JSON value answers below 500."""
    import math

    from airflow_provider_smtp2go.sandbox.api import SandboxApi
    from airflow_provider_smtp2go.sandbox.state import SandboxState
    from airflow_provider_smtp2go.sandbox.webhook_config import WebhookRegistry

    state = SandboxState(SandboxClock())
    state.add_key("api-sweep")
    api = SandboxApi(state, webhooks=WebhookRegistry(max_webhooks=1000))
    fields = ["id", "url", "events", "sms_events", "headers", "usernames", "output_format"]
    fields += ["auth_header_type", "auth_header_value", "subaccount_id"]
    odd: list[Any] = [None, 5, -1, 10**30, 1.5, True, "", "x", [], {}, [1], [None], [{}], {"a": 1}]
    odd += [math.nan, math.inf, "\x00", "a\r\nb", "http://[::1", "https://\u00e9.example/"]
    crashed: list[str] = []
    for path in ("webhook/view", "webhook/add", "webhook/edit", "webhook/remove"):
        for name in fields:
            for value in odd:
                body = json.dumps({"url": "https://example.com/h", "id": 4317, name: value}).encode()
                try:
                    status = api.respond(api.parse(f"/v3/{path}", "api-sweep", "application/json", body)).status
                except Exception as exc:  # the bug this test is for
                    crashed.append(f"{path} {name}={value!r:.30}: {type(exc).__name__}")
                    continue
                if status >= 500:
                    crashed.append(f"{path} {name}={value!r:.30}: {status}")
    assert crashed == []


def test_async_client_manages_webhooks(sandbox: Smtp2goSandbox) -> None:
    import asyncio

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with AsyncSmtp2goClient(sandbox.api_key, base_url=sandbox.base_url) as client:
            added = await client.add_webhook("https://example.com/hook", events=["spam"])
            await client.edit_webhook(added["id"], output_format="json")
            listed = await client.view_webhooks()
            return listed, await client.remove_webhook(added["id"])

    listed, removed = asyncio.run(scenario())
    assert [w["output_format"] for w in listed] == ["json"]
    assert removed["events"] == ["spam"]


# -- delivery -----------------------------------------------------------------------------------


def test_form_posts_carry_each_events_fields_auth_and_custom_headers(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    client.add_webhook(
        receiver.url,
        events=["processed", "bounce", "delivered"],
        headers=["X-Campaign", "X-Absent"],
        auth_header_type="bearer",
        auth_header_value="hook-token-123",
    )
    email_id = send(client, "x+hard-bounce@example.com", "alice@example.com", custom_headers={"X-Campaign": "autumn"})
    wait_for(lambda: len(receiver.posts) == 3)
    by_event = {p.field("event"): p for p in receiver.posts}
    assert set(by_event) == {"processed", "bounce", "delivered"}
    for post in receiver.posts:
        assert post.headers["Authorization"] == "Bearer hook-token-123"
        assert post.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert post.path == "/hooks/smtp2go"
        assert post.field("email_id") == email_id
        assert post.field("X-Campaign") == "autumn"
        assert "X-Absent" not in dict(post.form)  # only headers the email has
        assert post.field("Subject") == post.field("subject") == "Hello"
        assert post.field("time") == "2026-11-26T10:00:00Z"
        assert post.field("sendtime") == "2026-11-26T10:00:00.000000+00:00"
        assert len(post.field("id")) == 32
    processed = by_event["processed"]
    assert [v for k, v in processed.form if k == "recipients"] == ["x+hard-bounce@example.com", "alice@example.com"]
    assert "rcpt" not in dict(processed.form)
    bounce = by_event["bounce"]
    assert bounce.field("bounce") == "hard" and bounce.field("rcpt") == "x+hard-bounce@example.com"
    assert bounce.field("message").startswith("550") and bounce.field("host")
    assert "recipients" not in dict(bounce.form)
    assert by_event["delivered"].field("rcpt") == "alice@example.com"
    assert len({p.field("id") for p in receiver.posts}) == 3  # a new id per callback


def test_json_posts_and_basic_auth(client: Smtp2goClient, receiver: Receiver) -> None:
    credentials = base64.b64encode(b"smtp2go:pa55word").decode()
    client.add_webhook(
        receiver.url,
        events=["processed", "click"],
        output_format="json",
        auth_header_type="basic",
        auth_header_value=credentials,
    )
    send(client, "x+click@example.com", "b@example.com", html_body='<a href="https://example.com/offer">go</a>')
    wait_for(lambda: len(receiver.posts) == 2)
    bodies = {json.loads(p.body)["event"]: json.loads(p.body) for p in receiver.posts}
    assert bodies["processed"]["recipients"] == ["x+click@example.com", "b@example.com"]
    assert bodies["click"]["url"] == "https://example.com/offer"
    assert bodies["click"]["rcpt"] == "x+click@example.com" and bodies["click"]["user-agent"]
    for post in receiver.posts:
        assert post.headers["Content-Type"] == "application/json"
        assert post.headers["Authorization"] == f"Basic {credentials}"


def test_credentials_in_the_url_become_basic_auth(client: Smtp2goClient, receiver: Receiver) -> None:
    client.add_webhook(receiver.url.replace("http://", "http://hook:p%40ss@"), events=["delivered"])
    send(client, "alice@example.com")
    wait_for(lambda: len(receiver.posts) == 1)
    assert receiver.posts[0].headers["Authorization"] == "Basic " + base64.b64encode(b"hook:p@ss").decode()


def test_future_events_are_posted_when_the_clock_gets_there(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    client.add_webhook(receiver.url, events=["open"])
    send(client, "x+open-30s@example.com")
    assert sandbox.webhooks.drain()
    assert receiver.posts == []
    sandbox.clock.advance(29)
    assert sandbox.webhooks.drain() and receiver.posts == []
    sandbox.clock.advance(1)
    assert sandbox.webhooks.drain()
    assert receiver.events() == ["open"]
    assert receiver.posts[0].field("time") == "2026-11-26T10:00:30Z"


def test_only_subscribed_events_and_listed_usernames_fire(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    hook = client.add_webhook(receiver.url, events=["bounce"], usernames=["api-SOMEONEELSE"])
    send(client, "x+hard-bounce@example.com", "x+open@example.com")
    assert sandbox.webhooks.drain() and receiver.posts == []
    username = sandbox.state.key_info(sandbox.api_key).username  # type: ignore[union-attr]
    client.edit_webhook(hook["id"], usernames=[username])
    send(client, "x+soft-bounce@example.com", "x+open@example.com")
    wait_for(lambda: len(receiver.posts) == 1)
    assert sandbox.webhooks.drain()
    assert receiver.events() == ["bounce"] and receiver.posts[0].field("bounce") == "soft"


def test_non_2xx_is_retried_on_the_schedule(client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver) -> None:
    receiver.answers = [503, 500]
    client.add_webhook(receiver.url, events=["bounce"])
    send(client, "x+hard-bounce@example.com")
    wait_for(lambda: len(receiver.posts) == 1)
    assert sandbox.webhooks.drain()
    sandbox.clock.advance(59)
    assert sandbox.webhooks.drain() and len(receiver.posts) == 1  # the first retry is due 1 min later
    sandbox.clock.advance(1)
    assert sandbox.webhooks.drain() and len(receiver.posts) == 2
    sandbox.clock.advance(240)  # 5 min after the first attempt
    assert sandbox.webhooks.drain() and len(receiver.posts) == 3
    [delivery] = sandbox.webhooks.deliveries()
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [503, 500, 200]
    times = [a["at"][11:] for a in delivery["attempts"]]
    assert times == ["10:00:00Z", "10:01:00Z", "10:05:00Z"]
    assert len({p.field("id") for p in receiver.posts}) == 1  # a retry is the same callback


def test_a_slow_receiver_times_out_and_is_retried(client: Smtp2goClient, receiver: Receiver) -> None:
    with Smtp2goSandbox(clock=SandboxClock(START, frozen=True), webhook_timeout=0.5) as sb:
        with Smtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as c:
            c.add_webhook(receiver.url, events=["delivered"])
            receiver.delay = 3.0
            started = time.monotonic()
            send(c, "alice@example.com")
            wait_for(lambda: sb.webhooks.deliveries() and sb.webhooks.deliveries()[0]["attempts"])
            assert time.monotonic() - started < 3.0
            [attempt] = sb.webhooks.deliveries()[0]["attempts"]
            assert attempt["status"] is None and "timed out" in attempt["error"]
            receiver.delay = 0.0
            receiver.release.set()
            sb.clock.advance(60)
            wait_for(lambda: sb.webhooks.deliveries()[0]["state"] == "delivered")


def test_retries_end_after_the_schedule(receiver: Receiver) -> None:
    with Smtp2goSandbox(clock=SandboxClock(START, frozen=True), webhook_retry_schedule=[10, 20]) as sb:
        with Smtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as c:
            receiver.answers = [500] * 5
            c.add_webhook(receiver.url, events=["delivered"])
            send(c, "alice@example.com")
            for _ in range(3):
                sb.clock.advance(10)
                assert sb.webhooks.drain()
            [delivery] = sb.webhooks.deliveries()
            assert delivery["state"] == "failed" and len(delivery["attempts"]) == 3
            assert len(receiver.posts) == 3


# -- faults -------------------------------------------------------------------------------------


def test_duplicate_fault_posts_the_same_callback_twice(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    client.add_webhook(receiver.url, events=["bounce"])
    sandbox.webhooks.inject_fault("duplicate", event="hard-bounced")
    send(client, "x+hard-bounce@example.com")
    wait_for(lambda: len(receiver.posts) == 2)
    assert sandbox.webhooks.drain()
    assert receiver.posts[0].body == receiver.posts[1].body
    deliveries = sandbox.webhooks.deliveries()
    assert deliveries[1]["copy_of"] == deliveries[0]["id"]


def test_out_of_order_fault_lets_the_next_callback_overtake(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    client.add_webhook(receiver.url, events=["processed", "delivered", "open"])
    sandbox.webhooks.inject_fault("out_of_order", event="processed")
    send(client, "x+open@example.com")
    wait_for(lambda: len(receiver.posts) == 3)
    assert receiver.events() == ["delivered", "processed", "open"]


def test_delay_fault_holds_a_callback_on_the_sandbox_clock(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    client.add_webhook(receiver.url, events=["bounce", "processed"])
    sandbox.webhooks.inject_fault("delay", event="bounce", delay=600)
    send(client, "x+hard-bounce@example.com")
    wait_for(lambda: len(receiver.posts) == 1)
    assert sandbox.webhooks.drain() and receiver.events() == ["processed"]
    sandbox.clock.advance(600)
    assert sandbox.webhooks.drain() and receiver.events() == ["processed", "bounce"]


def test_receiver_down_for_n_attempts(client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver) -> None:
    client.add_webhook(receiver.url, events=["delivered"])
    sandbox.webhooks.inject_fault("down", count=2)
    send(client, "alice@example.com")
    for step in (0, 60, 240):
        sandbox.clock.advance(step)
        assert sandbox.webhooks.drain()
    [delivery] = sandbox.webhooks.deliveries()
    assert [a["status"] for a in delivery["attempts"]] == [None, None, 200]
    assert "down" in delivery["attempts"][0]["error"]
    assert len(receiver.posts) == 1  # the "down" attempts never reached it


def test_non_loopback_urls_are_never_posted(client: Smtp2goClient, sandbox: Smtp2goSandbox) -> None:
    client.add_webhook("https://hooks.example.com/smtp2go", events=["delivered"])
    send(client, "alice@example.com")
    wait_for(lambda: bool(sandbox.webhooks.deliveries()) and sandbox.webhooks.deliveries()[0]["state"] != "pending")
    [delivery] = sandbox.webhooks.deliveries()
    assert delivery["state"] == "failed" and "loopback" in delivery["attempts"][0]["error"]


# -- inspection over HTTP, lifecycle ------------------------------------------------------------


def control(sandbox: Smtp2goSandbox, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    request = urllib.request.Request(
        f"{sandbox.url}/_sandbox/{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={**CONTROL_HEADERS, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_control_routes_show_attempts_and_inject_faults(
    client: Smtp2goClient, sandbox: Smtp2goSandbox, receiver: Receiver
) -> None:
    client.add_webhook(receiver.url, events=["bounce"], auth_header_type="bearer", auth_header_value="tok-abc")
    fault = control(sandbox, "POST", "webhooks/faults", {"kind": "down", "count": 1})
    assert fault["kind"] == "down" and fault["remaining"] == 1
    send(client, "x+hard-bounce@example.com")
    assert control(sandbox, "POST", "webhooks/drain", {"timeout": 5})["drained"] is True
    sandbox.clock.advance(60)
    assert control(sandbox, "POST", "webhooks/drain", {"timeout": 5})["drained"] is True
    [delivery] = control(sandbox, "GET", "webhooks/deliveries?event=hard-bounced")["deliveries"]
    assert [a["status"] for a in delivery["attempts"]] == [None, 200]
    assert delivery["headers"]["Authorization"] == "Bearer ***"
    attempts = control(sandbox, "GET", "webhooks/attempts")["attempts"]
    assert [a["number"] for a in attempts] == [1, 2]
    assert control(sandbox, "GET", "webhooks")["webhooks"][0]["events"] == ["bounce"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{sandbox.url}/_sandbox/webhooks/deliveries", timeout=5)
    assert caught.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as caught:
        control(sandbox, "POST", "webhooks/faults", {"kind": "explode"})
    assert caught.value.code == 400


def test_reset_forgets_webhooks_and_deliveries(client: Smtp2goClient, sandbox: Smtp2goSandbox) -> None:
    client.add_webhook("https://example.com/hook", events=["delivered"])
    send(client, "alice@example.com")
    sandbox.reset()
    assert client.view_webhooks() == [] and sandbox.webhooks.deliveries() == []


def test_stop_ends_the_delivery_thread_even_with_a_hung_receiver(receiver: Receiver) -> None:
    receiver.delay = 30.0
    before = set(threading.enumerate())  # other sandboxes (a session fixture's) may be running
    sb = Smtp2goSandbox(clock=SandboxClock(START, frozen=True)).start()
    with Smtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as c:
        c.add_webhook(receiver.url, events=["delivered"])
        send(c, "alice@example.com")
    wait_for(lambda: sb.webhooks.deliveries() != [])
    time.sleep(0.2)  # let the attempt get stuck in the receiver
    started = time.monotonic()
    sb.stop()
    assert time.monotonic() - started < 6.0
    assert not [t for t in set(threading.enumerate()) - before if t.name.startswith(THREAD_NAME)]
