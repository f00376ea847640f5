"""Smtp2goHandler through real HTTP against the sandbox: alerts, digests, outages, 429s, slow
API, dictConfig, exit and fork.  Windows and timeouts are small so the whole file stays fast."""

from __future__ import annotations

import json
import logging
import logging.config
import logging.handlers
import os
import queue
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
from logging_handler import Smtp2goHandler

Factory = Callable[..., Smtp2goHandler]


def fake_key() -> str:
    return "api-" + secrets.token_hex(16).upper()


@pytest.fixture
def sandbox() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sb:
        yield sb


@pytest.fixture
def make_handler(sandbox: Smtp2goSandbox) -> Iterator[Factory]:
    handlers: list[Smtp2goHandler] = []

    def make(**overrides: Any) -> Smtp2goHandler:
        settings: dict[str, Any] = {
            "api_key": sandbox.api_key,
            "base_url": sandbox.base_url,
            "hostname": "test-host",
            "digest_window": 0.3,
            "flush_timeout": 5,
            "max_attempts": 2,
            "retry_deadline": 5,
            "retry_interval": 0.1,
            "retry_interval_max": 0.2,
            "timeout": 5,
        }
        settings.update(overrides)
        handler = Smtp2goHandler("ops@example.com", "alerts@example.com", **settings)
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.close()


def logger_with(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def raise_and_log(logger: logging.Logger, message: str, *args: object) -> None:
    try:
        {}["missing"]
    except KeyError:
        logger.exception(message, *args)


def test_first_error_arrives_promptly_as_its_own_email(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(digest_window=60)
    logger = logger_with(handler, "it.prompt")
    raise_and_log(logger, "payment <failed> for %s", "order-7")
    # No flush: the worker sends on its own.
    assert wait_for(lambda: len(sandbox.messages()) == 1)
    [msg] = sandbox.messages()
    assert msg.subject == "[test-host] ERROR it.prompt: payment <failed> for order-7"
    assert msg.to == ["ops@example.com"] and msg.sender == "alerts@example.com"
    assert "Traceback (most recent call last):" in msg.text_body and "KeyError: 'missing'" in msg.text_body
    assert "payment &lt;failed&gt; for order-7" in msg.html_body
    assert msg.custom_headers["X-Log-Level"] == "ERROR"


def test_storm_of_repeats_becomes_one_alert_and_one_digest(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(digest_window=0.5)
    logger = logger_with(handler, "it.storm")
    for i in range(5000):
        logger.error("disk full on /dev/sda%d", i % 3)
    assert wait_for(lambda: len(sandbox.messages()) == 2, timeout=5)
    time.sleep(0.6)  # a second window passes with no new records: nothing more is sent
    alert, digest = sandbox.messages()
    assert alert.custom_headers["X-Log-Alert-Kind"] == "alert"
    assert digest.custom_headers["X-Log-Alert-Kind"] == "digest"
    assert "4,999 records" in digest.text_body
    assert digest.subject == "[test-host] 4,999 log records in 1 group, first: disk full on /dev/sda1"
    assert len(sandbox.messages()) == 2


def test_outage_keeps_alerts_and_sends_one_catch_up_digest(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(digest_window=60)
    logger = logger_with(handler, "it.outage")
    sandbox.inject_fault("email/send", status=503, rate=1.0)  # down until cleared
    logger.error("first during outage")
    assert wait_for(lambda: sandbox.request_count("email/send") >= 2)
    for i in range(50):
        logger.error("repeat %d", i)
        logger.critical("another kind")
    time.sleep(0.3)
    assert sandbox.messages() == []
    sandbox.clear_faults()
    assert wait_for(lambda: len(sandbox.messages()) == 1, timeout=5)
    [catch_up] = sandbox.messages()
    assert catch_up.custom_headers["X-Log-Alert-Kind"] == "digest"
    assert "101 log records in 3 groups" in catch_up.text_body
    assert "SMTP2GO could not be reached" in catch_up.text_body
    assert handler.stats["pending"] == 0
    assert sandbox.duplicates() == {}


def test_429_is_retried_by_the_client_and_delivered_once(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(max_attempts=3)
    sandbox.inject_fault("email/send", status=429, retry_after=0.2, count=1)
    logger = logger_with(handler, "it.429")
    logger.critical("rate limited once")
    handler.flush()
    assert [m.subject for m in sandbox.messages()] == ["[test-host] CRITICAL it.429: rate limited once"]
    assert sandbox.request_count("email/send") == 2
    assert sandbox.duplicates() == {}


def test_ambiguous_send_is_not_repeated(
    sandbox: Smtp2goSandbox, make_handler: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = make_handler()
    sandbox.inject_fault("email/send", kind="drop_after", count=1)
    logger_with(handler, "it.ambiguous").error("maybe delivered")
    handler.flush()
    handler.flush()
    assert sandbox.request_count("email/send") == 1  # accepted by the server, answer lost
    assert len(sandbox.messages()) == 1
    assert "Smtp2goAmbiguousSendError" in capsys.readouterr().err


def test_slow_api_never_blocks_the_logging_thread(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(flush_timeout=5)
    sandbox.inject_fault("email/send", status=None, latency=1.5, count=1)
    logger = logger_with(handler, "it.slow")
    logger.error("first")  # the worker is now stuck in a 1.5 s request
    assert wait_for(lambda: sandbox.request_count("email/send") == 1)
    for i in range(2000):
        logger.error("while slow %d", i)
    logger.critical("another kind")
    # All 2001 calls returned while the single in-flight request is still unanswered.
    assert sandbox.messages() == []
    handler.flush()
    subjects = sorted(m.subject for m in sandbox.messages())
    assert subjects == [
        "[test-host] CRITICAL it.slow: another kind",
        "[test-host] ERROR it.slow: first",
        "[test-host] ERROR it.slow: while slow 0",
    ]
    [slow] = [m for m in sandbox.messages() if "while slow" in m.subject]
    assert "2,000 records" in slow.text_body


def test_close_says_so_when_an_email_is_still_in_flight(
    sandbox: Smtp2goSandbox, make_handler: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = make_handler(flush_timeout=0.5, timeout=30, retry_deadline=30)
    sandbox.inject_fault("email/send", kind="hang", rate=1.0)
    logger_with(handler, "it.hang").error("into the void")
    started = time.monotonic()
    handler.close()
    assert time.monotonic() - started < 2.0
    err = capsys.readouterr().err
    assert "gave up after 0.5 s with an alert email still being sent" in err
    assert "Traceback" not in err


def test_api_down_does_not_hang_flush_or_close(make_handler: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    handler = make_handler(base_url="http://127.0.0.1:9/v3", flush_timeout=1, retry_deadline=0.5)
    logger = logger_with(handler, "it.down")
    logger.error("nobody listens")
    started = time.monotonic()
    handler.flush()
    handler.close()
    assert time.monotonic() - started < 4  # bounded by flush_timeout, not by the retry policy
    assert handler.stats["pending"] == 1  # kept, not lost silently
    err = capsys.readouterr().err
    assert "could not reach SMTP2GO" in err and "1 records kept" in err
    assert "Logging error" not in err and len(err.strip().splitlines()) == 1  # one line per outage


def test_hourly_cap_sends_one_notice_then_a_digest_of_what_was_suppressed(
    sandbox: Smtp2goSandbox, make_handler: Factory
) -> None:
    handler = make_handler(max_emails_per_hour=2, cap_period=1.0, digest_window=0)
    logger = logger_with(handler, "it.cap")
    logger.error("kind 1")
    handler.flush()
    for _ in range(10):
        logger.error("kind 2")
        logger.critical("kind 3")
    handler.flush()
    assert wait_for(lambda: len(sandbox.messages()) == 2)
    notice = sandbox.messages()[1]
    assert notice.subject.startswith("[test-host] Too many alerts: 20 records; more held until")
    for _ in range(300):
        logger.error("kind 2")
    handler.flush()
    assert len(sandbox.messages()) == 2  # capped: held, counted, not sent
    assert wait_for(lambda: len(sandbox.messages()) == 3, timeout=3)  # the period ends
    digest = sandbox.messages()[2]
    assert digest.subject.endswith("(300 suppressed by the hourly cap)")
    assert "300 records arrived while the limit of 2 emails" in digest.text_body


def test_root_logger_at_debug_with_http_debug_logs_sends_exactly_one_email(
    sandbox: Smtp2goSandbox, make_handler: Factory
) -> None:
    handler = make_handler(level="DEBUG")
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "airflow_provider_smtp2go"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    sandbox.inject_fault("email/send", status=503, count=1)  # the client logs a retry warning
    try:
        logging.getLogger("it.root").error("one alert")
        handler.flush()
        time.sleep(0.3)
        handler.flush()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name in ("urllib3", "airflow_provider_smtp2go"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    assert [m.subject for m in sandbox.messages()] == ["[test-host] ERROR it.root: one alert"]


def test_behind_a_queue_handler_the_traceback_still_arrives(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler()
    q: queue.Queue[logging.LogRecord] = queue.Queue(100)
    listener = logging.handlers.QueueListener(q, handler)
    listener.start()
    logger = logger_with(logging.handlers.QueueHandler(q), "it.queued")
    try:
        raise_and_log(logger, "queued failure")
    finally:
        listener.stop()
    handler.flush()
    [msg] = sandbox.messages()
    assert msg.subject == "[test-host] ERROR it.queued: queued failure"
    assert "KeyError: 'missing'" in msg.text_body
    assert "<pre" in msg.html_body and "Traceback (most recent call last):" in msg.html_body


def test_dictconfig_plain_strings_key_from_env(sandbox: Smtp2goSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERTS_SMTP2GO_KEY", sandbox.api_key)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "email": {
                    "class": "logging_handler.Smtp2goHandler",
                    "level": "ERROR",
                    "recipients": "ops@example.com, oncall@example.com",
                    "sender": "alerts@example.com",
                    "api_key_env": "ALERTS_SMTP2GO_KEY",
                    "base_url": sandbox.base_url,
                    "subject": "%(levelname)s on %(hostname)s: %(message)s",
                    "digest_window": "0.2",
                    "flush_timeout": "3",
                }
            },
            "loggers": {"it.dictcfg": {"handlers": ["email"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger("it.dictcfg")
    handler = logger.handlers[0]
    try:
        logger.info("not an alert")
        logger.error("configured from strings")
        handler.flush()
    finally:
        logger.removeHandler(handler)
        handler.close()
    [msg] = sandbox.messages()
    assert msg.to == ["ops@example.com", "oncall@example.com"]
    assert msg.subject.startswith("ERROR on ") and msg.subject.endswith(": configured from strings")


CHILD_SCRIPT = """
import logging.config, os, sys
logging.config.dictConfig({
    "version": 1,
    "handlers": {"email": {
        "class": "logging_handler.Smtp2goHandler",
        "recipients": "ops@example.com", "sender": "alerts@example.com",
        "base_url": os.environ["SANDBOX_URL"], "digest_window": "3600", "flush_timeout": "5",
    }},
    "root": {"handlers": ["email"], "level": "INFO"},
})
log = logging.getLogger("child")
log.error("first words")
for i in range(100):
    log.error("repeat %d", i)          # folded: only a flush at exit can deliver them
log.critical("last words before exit, pid %d", os.getpid())
print(os.getpid())
"""


def test_last_record_before_interpreter_exit_arrives(sandbox: Smtp2goSandbox) -> None:
    env = {**os.environ, "SMTP2GO_API_KEY": sandbox.api_key, "SANDBOX_URL": sandbox.base_url}
    result = subprocess.run(
        [sys.executable, "-c", CHILD_SCRIPT], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    pid = result.stdout.strip()
    subjects = [m.subject for m in sandbox.messages()]
    assert any(s.endswith(f"last words before exit, pid {pid}") for s in subjects), subjects
    texts = "\n".join(m.text_body for m in sandbox.messages())
    assert "100 records" in texts  # the folded repeats were flushed at exit too
    assert sandbox.api_key not in result.stderr + result.stdout


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_gets_a_working_worker(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler()
    logger = logger_with(handler, "it.fork")
    logger.error("parent before fork")
    handler.flush()  # the parent's worker thread is running now
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: log, deliver, report, leave without running pytest's teardown
        code = 1
        try:
            os.close(read_fd)
            logger.error("from the child %d", os.getpid())
            handler.close()
            os.write(write_fd, json.dumps(handler.stats).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        child_stats = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    logger.error("parent after fork")
    handler.flush()
    subjects = sorted(m.subject for m in sandbox.messages())
    assert subjects == sorted(
        [
            "[test-host] ERROR it.fork: parent before fork",
            f"[test-host] ERROR it.fork: from the child {pid}",
            "[test-host] ERROR it.fork: parent after fork",
        ]
    )
    assert child_stats["sent"] == 1  # the child's own worker sent it, not a copy of the parent's


def test_api_key_never_appears_in_output_errors_or_email(
    sandbox: Smtp2goSandbox, make_handler: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    good = fake_key()
    sandbox.add_api_key(good)
    handler = make_handler(api_key=good)
    logger_with(handler, "it.secret").error("hello")
    handler.flush()
    wrong = fake_key()  # unknown to the sandbox: 401
    bad = make_handler(api_key=wrong)
    logger_with(bad, "it.secret2").error("hello again")
    bad.flush()
    bad.close()
    captured = capsys.readouterr()
    assert "Smtp2goAuthError" in captured.err  # the failure was reported...
    seen = [captured.err, captured.out, repr(handler), repr(vars(handler)), repr(bad), str(bad.stats)]
    seen += [json.dumps(m.to_dict(), default=str) for m in sandbox.messages()]
    for key in (good, wrong):
        assert all(key not in text for text in seen)  # ...without the key


def test_concurrent_threads_and_close_lose_nothing(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(digest_window=0.2)
    logger = logger_with(handler, "it.threads")

    def work(n: int) -> None:
        for i in range(500):
            logger.error("worker %d", n)
            if i % 100 == 0:
                time.sleep(0.05)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handler.close()
    assert sum(int(m.custom_headers["X-Log-Records"]) for m in sandbox.messages()) == 2000


def key_runs(key: str, text: str) -> list[str]:
    """Every run of 8 characters of ``key`` found in ``text``."""
    return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]


class Opaque:
    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return f"Opaque(secret={self.secret!r})"


def test_the_handlers_own_key_never_reaches_the_inbox(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    key = sandbox.api_key
    handler = make_handler(digest_window=0.2, subject="%(levelname)s %(message)s %(user_key)s")
    logger = logger_with(handler, "it.leak")
    try:
        raise RuntimeError(f"auth failed with {key}")
    except RuntimeError:
        logger.exception("calling with key %s (tail %s)", key, key[-12:], extra={"user_key": key})
    for i in range(3):  # repeats of one line: the digest lists their texts too
        logger.error("retry %d with %r", i, Opaque(key))
    handler.flush()
    time.sleep(0.3)
    handler.flush()
    messages = sandbox.messages()
    assert len(messages) >= 2
    for message in messages:
        for text in (message.subject, message.text_body, message.html_body or ""):
            assert key_runs(key, text) == [], text
    texts = "\n".join(m.text_body for m in messages)
    assert "RuntimeError: auth failed with ***" in texts
    assert "Opaque(secret='***')" in texts


def test_user_patterns_are_scrubbed_from_dictconfig(sandbox: Smtp2goSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP2GO_API_KEY", sandbox.api_key)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "email": {
                    "class": "logging_handler.Smtp2goHandler",
                    "recipients": "ops@example.com",
                    "sender": "alerts@example.com",
                    "base_url": sandbox.base_url,
                    "redact": [r"password=\S+", r"\b\d{4}-\d{4}-\d{4}-\d{4}\b"],
                }
            },
            "loggers": {"it.patterns": {"handlers": ["email"], "level": "INFO", "propagate": False}},
        }
    )
    logger = logging.getLogger("it.patterns")
    handler = logger.handlers[0]
    try:
        logger.error("login password=hunter2 card 4111-1111-1111-1111 failed")
        handler.flush()
    finally:
        logger.removeHandler(handler)
        handler.close()
    [msg] = sandbox.messages()
    for text in (msg.subject, msg.text_body, msg.html_body):
        assert "hunter2" not in text and "4111" not in text
    assert "login *** card *** failed" in msg.subject


def test_a_wrong_key_is_reported_once_and_the_next_email_counts_the_dropped(
    sandbox: Smtp2goSandbox, make_handler: Factory, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = fake_key()  # unknown to the sandbox: 401
    handler = make_handler(api_key=wrong, digest_window=0)
    logger = logger_with(handler, "it.wrongkey")
    logger.error("first alert")
    handler.flush()
    logger.critical("second alert")
    handler.flush()
    logger.error("third alert")
    handler.flush()
    assert sandbox.messages() == []
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err
    [line] = err.strip().splitlines()  # once, on one line
    assert "Smtp2goHandler to=ops@example.com" in line and "SMTP2GO refused the API key" in line
    assert "Smtp2goAuthError" in line
    assert key_runs(wrong, line) == []
    assert handler.stats["refused"] == 3
    sandbox.add_api_key(wrong)  # the key is fixed (e.g. its permission granted)
    time.sleep(0.25)  # the pause after a refusal ends
    logger.error("after the fix")
    handler.flush()
    [msg] = sandbox.messages()
    assert "3 records of earlier alert emails could not be delivered" in msg.text_body
    assert "Smtp2goAuthError" in msg.text_body
    assert capsys.readouterr().err == ""


def test_a_refused_key_from_the_environment_is_read_again(
    sandbox: Smtp2goSandbox, make_handler: Factory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IT_ALERT_KEY", fake_key())
    handler = make_handler(api_key=None, api_key_env="IT_ALERT_KEY", digest_window=0)
    logger = logger_with(handler, "it.rekey")
    logger.error("with the old key")
    handler.flush()
    assert "environment variable IT_ALERT_KEY" in capsys.readouterr().err
    monkeypatch.setenv("IT_ALERT_KEY", sandbox.api_key)  # an operator fixes the environment
    time.sleep(0.25)
    logger.error("with the new key")
    handler.flush()
    [msg] = sandbox.messages()
    assert msg.subject == "[test-host] ERROR it.rekey: with the new key"
    assert "1 record of earlier alert emails could not be delivered" in msg.text_body


def test_distinct_messages_from_one_line_all_reach_the_inbox(sandbox: Smtp2goSandbox, make_handler: Factory) -> None:
    handler = make_handler(digest_window=60)
    logger = logger_with(handler, "it.distinct")
    for i in range(10):
        logger.error("table %s failed", ["orders", "users", "payments"][i % 3])
    handler.flush()
    alert, digest = sandbox.messages()
    assert alert.subject == "[test-host] ERROR it.distinct: table orders failed"
    for name, count in (("orders", 3), ("users", 3), ("payments", 3)):
        assert f"{count} x table {name} failed" in digest.text_body
        assert f"{count} x table {name} failed" in digest.html_body


def test_a_group_with_many_texts_shows_the_first_and_counts_the_rest(
    sandbox: Smtp2goSandbox, make_handler: Factory
) -> None:
    handler = make_handler(digest_window=60, max_distinct_messages=2)
    logger = logger_with(handler, "it.many")
    logger.error("job %d failed", 0)
    handler.flush()  # the prompt alert
    for i in range(1, 21):
        logger.error("job %d failed", i % 2 if i <= 10 else i)
    handler.flush()
    digest = sandbox.messages()[1]
    assert "5 x job 1 failed" in digest.text_body and "5 x job 0 failed" in digest.text_body
    assert "... and 10 more distinct messages (10 records)" in digest.text_body
