"""Each endpoint of the client through real HTTP to the sandbox, plus the secrecy guarantees."""

from __future__ import annotations

import asyncio
import logging
import pickle
import traceback
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.client import (
    AsyncSmtp2goClient,
    Attachment,
    Email,
    RetryPolicy,
    Smtp2goAmbiguousSendError,
    Smtp2goAuthError,
    Smtp2goClient,
    Smtp2goError,
    Smtp2goSendFailed,
    Smtp2goTransportError,
    Smtp2goValidationError,
)
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


def test_send_delivers_everything_the_email_says(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("day,count\nmon,3\n")
    result = client.send(
        Email(
            sender="Reports <reports@example.com>",
            to="ops@example.com, dev@example.com",
            cc=["lead@example.com"],
            bcc=["audit@example.com"],
            subject="Daily report",
            text_body="See attachment.",
            html_body="<p>See attachment.</p>",
            reply_to="help@example.com",
            custom_headers={"X-Job": "daily"},
            attachments=[report],
        )
    )
    assert result.email_id and result.request_id and result.succeeded == 1
    [message] = smtp2go_sandbox.messages()
    assert message.email_id == result.email_id
    assert message.subject == "Daily report"
    assert list(message.to) == ["ops@example.com", "dev@example.com"]
    assert list(message.bcc) == ["audit@example.com"]
    assert message.html_body == "<p>See attachment.</p>"
    assert [a.filename for a in message.attachments] == ["report.csv"]
    headers = {k.lower(): v for k, v in dict(message.custom_headers).items()}
    assert headers["x-job"] == "daily" and headers["reply-to"] == "help@example.com"


def test_suppressed_recipient_is_a_failed_send(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    smtp2go_sandbox.suppress("gone@example.com")
    with pytest.raises(Smtp2goSendFailed) as excinfo:
        client.send(Email(sender="bot@example.com", to=["gone@example.com"], subject="x", text_body="y"))
    assert excinfo.value.failed >= 1 and excinfo.value.failures


def test_invalid_email_sends_nothing(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    with pytest.raises(Smtp2goValidationError):
        client.send(Email(sender="bot@example.com", to=["ops@example.com"], subject="x\r\nBcc: a@b.c", text_body="y"))
    tiny = Smtp2goClient(smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, max_size_bytes=1000)
    with pytest.raises(Smtp2goValidationError, match="MiB"):
        tiny.send(
            Email(
                sender="bot@example.com",
                to=["ops@example.com"],
                subject="big",
                text_body="x" * 2000,
                attachments=[Attachment.from_bytes("a.bin", b"0" * 10)],
            )
        )
    assert smtp2go_sandbox.request_count() == 0


def test_template_send(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    smtp2go_sandbox.add_template(
        "welcome-01", "Welcome {{ name }}", html_body="<p>Hi {{ name }}</p>", text_body="Hi {{ name }}"
    )
    client.send(
        Email(sender="bot@example.com", to=["ann@example.com"], template_id="welcome-01", template_data={"name": "Ann"})
    )
    [message] = smtp2go_sandbox.messages()
    assert message.subject == "Welcome Ann"
    assert client.view_template("welcome-01")
    assert client.search_templates()


def test_scheduled_send_returns_schedule_id(client: Smtp2goClient) -> None:
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    result = client.send(
        Email(sender="bot@example.com", to=["ops@example.com"], subject="later", text_body="x", schedule=when)
    )
    assert result.schedule_id
    assert result.to_dict()["schedule_id"] == result.schedule_id


def test_send_mime(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    message = EmailMessage()
    message["From"] = "bot@example.com"
    message["To"] = "ops@example.com"
    message["Subject"] = "Via MIME"
    message.set_content("plain body")
    message.add_alternative("<b>html body</b>", subtype="html")
    message.add_attachment(b"a,b\n", maintype="text", subtype="csv", filename="x.csv")
    assert client.send_mime(message).succeeded == 1
    [received] = smtp2go_sandbox.messages()
    assert received.subject == "Via MIME"
    assert [a.filename for a in received.attachments] == ["x.csv"]


def test_activity_paging_follows_continue_token(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    ids = {
        client.send(Email(sender="bot@example.com", to=[f"u{i}@example.com"], subject=f"n{i}", text_body="x")).email_id
        for i in range(7)
    }
    smtp2go_sandbox.clock.advance(60)
    first = client.search_activity(event_types=["delivered"], limit=3)
    assert len(first.events) == 3 and first.continue_token and first.total_events == 7
    events = list(client.iter_activity(event_types=["delivered"], limit=3))
    assert {e.email_id for e in events} == ids
    assert smtp2go_sandbox.request_count("activity/search") == 1 + 3


def test_activity_sees_behaviours_over_time(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    result = client.send(Email(sender="bot@example.com", to=["ann+open-30s@example.com"], subject="x", text_body="y"))
    smtp2go_sandbox.clock.advance(5)
    assert not client.search_activity(search_email_id=result.email_id, event_types=["opened"]).events
    smtp2go_sandbox.clock.advance(60)
    [opened] = client.search_activity(search_email_id=result.email_id, event_types=["opened"]).events
    assert opened.recipient == "ann+open-30s@example.com"


def test_activity_limiter_spaces_calls_to_the_budget(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)
    waits: list[float] = []
    with Smtp2goClient(fake_api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=2) as c:
        c._sleep = waits.append
        for _ in range(3):
            c.search_activity()
        c.api_key_permissions()  # other endpoints are not limited
    assert len(waits) == 1 and 55 < waits[0] <= 60


def test_stats_permissions_and_suppressions(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    client.send(Email(sender="bot@example.com", to=["x+hard-bounce@example.com"], subject="x", text_body="y"))
    smtp2go_sandbox.clock.advance(60)
    assert "/email/send" in client.api_key_permissions()
    summary = client.email_summary()
    assert summary["email_count"] == 1 and summary["hardbounces"] == 1
    assert client.email_bounces()["hardbounces"] == 1
    assert "spams" in client.email_spam()
    assert "unsubscribes" in client.email_unsubs()
    assert "cycle_max" in client.email_cycle()
    assert client.email_history()["history"]
    client.add_suppression("blocked@example.com", block_description="test")
    listed = client.view_suppressions()["results"]
    assert any(r["email_address"] == "blocked@example.com" for r in listed)
    client.remove_suppression("blocked@example.com", reasons=["manual"])
    assert not any(r["email_address"] == "blocked@example.com" for r in client.view_suppressions()["results"])


def test_subaccount_default_scopes_activity(smtp2go_sandbox: Smtp2goSandbox) -> None:
    smtp2go_sandbox.add_subaccount("Billing", "billing@example.com", subaccount_id="SUB01")
    with Smtp2goClient(
        smtp2go_sandbox.api_key,
        base_url=smtp2go_sandbox.base_url,
        subaccount_id="SUB01",
        activity_requests_per_minute=None,
    ) as c:
        assert "subaccount_id='SUB01'" in repr(c)
        c.search_activity()  # the sandbox accepts the filter; nothing belongs to SUB01
        assert c.search_activity().events == []


# Secrets: the key appears in no repr, error, traceback, chain or log.


def test_key_never_leaks(
    smtp2go_sandbox: Smtp2goSandbox,
    fake_api_key: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request at DEBUG
    client = Smtp2goClient(
        fake_api_key,
        base_url=smtp2go_sandbox.base_url,
        retry=RetryPolicy(max_attempts=2, deadline=5, backoff_base=0.01),
    )
    errors: list[BaseException] = []
    for action in (
        lambda: client.send(Email(sender="bot@example.com", to=["a@example.com"], subject="s", text_body="b")),
        client.search_activity,
    ):
        with pytest.raises(Smtp2goAuthError) as excinfo:
            action()
        errors.append(excinfo.value)
    smtp2go_sandbox.add_api_key(fake_api_key)
    smtp2go_sandbox.inject_fault("email/send", kind="drop_after", count=1)
    with pytest.raises(Smtp2goError) as excinfo:
        client.send(Email(sender="bot@example.com", to=["a@example.com"], subject="s", text_body="b"))
    errors.append(excinfo.value)
    texts = [repr(client), str(client)]
    for error in errors:
        texts += [str(error), repr(error), repr(vars(error)), "".join(traceback.format_exception(error))]
        assert error.__cause__ is None and error.__context__ is None
    texts += [r.getMessage() for r in caplog.records]
    out, err = capsys.readouterr()
    texts += [out, err]
    assert any("urllib3" in r.name for r in caplog.records)  # the debug logs were really captured
    for text in texts:
        assert fake_api_key not in text
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_async_client_endpoints(smtp2go_sandbox: Smtp2goSandbox) -> None:
    async def scenario() -> None:
        async with AsyncSmtp2goClient(
            smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
        ) as c:
            sent = await c.send(Email(sender="bot@example.com", to=["a@example.com"], subject="s", text_body="b"))
            assert "/activity/search" in await c.api_key_permissions()
            smtp2go_sandbox.clock.advance(60)
            events = [e async for e in c.iter_activity(search_email_id=sent.email_id, limit=1)]
            assert {e.event for e in events} >= {"processed", "delivered"}
            assert (await c.email_summary())["email_count"] == 1

    asyncio.run(scenario())


def test_the_async_client_has_every_endpoint_of_the_sync_one(smtp2go_sandbox: Smtp2goSandbox) -> None:
    async def scenario() -> None:
        async with AsyncSmtp2goClient(
            smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, activity_requests_per_minute=None
        ) as c:
            await c.send(Email(sender="bot@example.com", to=["x+hard-bounce@example.com"], subject="x", text_body="y"))
            smtp2go_sandbox.clock.advance(60)
            assert (await c.email_bounces())["hardbounces"] == 1
            assert "spams" in await c.email_spam()
            assert "unsubscribes" in await c.email_unsubs()
            assert "cycle_max" in await c.email_cycle()
            await c.add_suppression("blocked@example.com", block_description="test")
            listed = (await c.view_suppressions())["results"]
            assert any(r["email_address"] == "blocked@example.com" for r in listed)
            await c.remove_suppression("blocked@example.com", reasons=["manual"])
            assert not any(
                r["email_address"] == "blocked@example.com" for r in (await c.view_suppressions())["results"]
            )
            assert isinstance(await c.search_templates(), dict)
            scan = await c.scan_activity(event_types=["hard-bounced"])
            assert [e.event for e in scan.events] == ["hard-bounced"] and not scan.truncated

    asyncio.run(scenario())


def test_an_injected_httpx_client_honours_the_clients_timeout(smtp2go_sandbox: Smtp2goSandbox) -> None:
    import time

    import httpx

    smtp2go_sandbox.inject_fault("stats/email_summary", kind="hang")

    async def scenario() -> None:
        async with httpx.AsyncClient(timeout=60) as http:  # its own timeout would wait a minute
            c = AsyncSmtp2goClient(
                smtp2go_sandbox.api_key,
                base_url=smtp2go_sandbox.base_url,
                timeout=(1, 1),
                retry=RetryPolicy.no_retries(),
                http_client=http,
            )
            with pytest.raises(Smtp2goTransportError, match="ReadTimeout"):
                await c.email_summary()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < 3


def test_redirects_are_not_followed_so_the_key_stays_put(fake_api_key: str) -> None:
    import http.server
    import threading

    seen: list[dict[str, str]] = []

    class Elsewhere(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(dict(self.headers))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Redirect(Elsewhere):
        def do_POST(self) -> None:
            self.send_response(307)
            self.send_header("Location", f"http://localhost:{other.server_address[1]}/v3/email/send")
            self.send_header("Content-Length", "0")
            self.end_headers()

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    first = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    for server in (other, first):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{first.server_address[1]}/v3"
    email = Email(sender="bot@example.com", to=["a@example.com"], subject="s", text_body="b")
    try:
        with Smtp2goClient(fake_api_key, base_url=base_url) as client, pytest.raises(Smtp2goError) as excinfo:
            client.send(email)
        assert "307" in str(excinfo.value)

        async def via_async() -> None:
            async with AsyncSmtp2goClient(fake_api_key, base_url=base_url) as aclient:
                with pytest.raises(Smtp2goError):
                    await aclient.send(email)

        asyncio.run(via_async())
    finally:
        for server in (other, first):
            server.shutdown()
            server.server_close()
    assert seen == []  # the key (and the email) never reached the other host


@pytest.mark.parametrize("fault", [{"kind": "drop_after"}, {"status": 500}])
def test_an_unanswered_webhook_add_advises_viewing_webhooks_not_the_activity_log(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, fault: dict[str, Any]
) -> None:
    smtp2go_sandbox.inject_fault("webhook/add", count=1, **fault)
    with pytest.raises(Smtp2goAmbiguousSendError) as caught:
        client.add_webhook("http://127.0.0.1:9/hook", events=["bounce"])
    text = str(caught.value)
    assert "webhook may or may not have been added" in text and "view_webhooks()" in text
    assert "email" not in text.lower() and "activity log" not in text

    smtp2go_sandbox.inject_fault("email/send", count=1, **fault)
    with pytest.raises(Smtp2goAmbiguousSendError) as caught:
        client.send(Email(sender="ops@example.com", to="dev@example.com", subject="Hi", text_body="Hi"))
    assert "email may or may not have been accepted" in str(caught.value)
    assert "activity log" in str(caught.value)
