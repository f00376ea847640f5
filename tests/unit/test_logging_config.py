"""Handler configuration: strings from dictConfig/fileConfig, the key from the environment,
clear errors for bad settings, the recursion guard, and a cheap import."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import logging.config
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from airflow_provider_smtp2go.client import Smtp2goValidationError
from logging_handler import Smtp2goHandler
from logging_handler.credentials import resolve_credentials
from logging_handler.handler import IGNORED_LOGGERS
from logging_handler.settings import HandlerSettings, as_bool, as_int, as_level, as_list, as_seconds
from logging_handler.storm import Outgoing

# Never contacted: every unit test below stops before the network.
LOOPBACK = "http://127.0.0.1:9/v3"


def fake_key() -> str:
    return "api-" + secrets.token_hex(16).upper()


class RecordingHandler(Smtp2goHandler):
    """Captures rendered emails instead of sending them (the integration tests send for real)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.sent: list[tuple[Outgoing, str]] = []

    def send(self, mail, rendered):  # type: ignore[no-untyped-def,override]
        self.sent.append((mail, rendered.subject))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a@x.com", ["a@x.com"]),
        ("a@x.com, b@x.com;c@x.com", ["a@x.com", "b@x.com", "c@x.com"]),
        (["a@x.com"], ["a@x.com"]),
    ],
)
def test_recipients_from_list_or_comma_string(value: object, expected: list[str]) -> None:
    assert as_list("recipients", value) == expected


def test_scalar_coercions_accept_strings_and_name_the_argument() -> None:
    assert as_seconds("w", "2.5") == 2.5
    assert as_int("n", " 7 ") == 7
    assert as_bool("b", "False") is False and as_bool("b", "yes") is True
    assert as_level("level", "critical") == logging.CRITICAL and as_level("level", "30") == 30
    with pytest.raises(ValueError, match="digest_window: expected a number"):
        as_seconds("digest_window", "five")
    with pytest.raises(ValueError, match="max_groups: must be >= 1"):
        as_int("max_groups", "0", minimum=1)
    with pytest.raises(ValueError, match="html_body: expected true/false"):
        as_bool("html_body", "maybe")
    with pytest.raises(ValueError, match="unknown logging level"):
        as_level("level", "LOUD")
    with pytest.raises(ValueError, match="w: expected a finite number"):
        as_seconds("w", "nan")


def test_key_comes_from_the_environment_variable_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    key = fake_key()
    monkeypatch.setenv("MY_ALERT_KEY", key)
    creds = resolve_credentials(
        api_key=None,
        api_key_env="MY_ALERT_KEY",
        airflow_conn_id=None,
        region="eu",
        base_url=None,
        subaccount_id=None,
        sender="a@x.com",
    )
    assert creds.api_key == key
    assert key not in repr(creds)
    assert creds.source == "environment variable MY_ALERT_KEY"


def test_missing_key_is_a_clear_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMTP2GO_API_KEY", raising=False)
    with pytest.raises(ValueError, match="SMTP2GO_API_KEY"):
        Smtp2goHandler("ops@example.com", "alerts@example.com")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recipients": ""}, "recipients"),
        ({"recipients": "not-an-address"}, "to"),
        ({"sender": None}, "sender"),
        ({"region": "mars"}, "region"),
        ({"base_url": "http://example.com/v3"}, "https"),
        ({"digest_window": "soon"}, "digest_window"),
        ({"subject": "%(message)d"}, "subject"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs: dict[str, object], match: str) -> None:
    settings: dict[str, object] = {
        "recipients": "ops@example.com",
        "sender": "alerts@example.com",
        "api_key": fake_key(),
        "base_url": LOOPBACK,
    }
    settings.update(kwargs)
    if "region" in kwargs:
        settings.pop("base_url")
    with pytest.raises(ValueError, match=match):
        Smtp2goHandler(**settings)  # type: ignore[arg-type]


def test_dictconfig_with_plain_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    key = fake_key()
    monkeypatch.setenv("SMTP2GO_API_KEY", key)
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "alerts": {
                    "class": "logging_handler.Smtp2goHandler",
                    "level": "WARNING",
                    "recipients": "ops@example.com, oncall@example.com",
                    "sender": "alerts@example.com",
                    "base_url": LOOPBACK,
                    "digest_window": "2.5",
                    "max_emails_per_hour": "7",
                    "html_body": "false",
                    "flush_timeout": "0.5",
                    "retry_ambiguous_sends": "no",
                    "ignore_loggers": "noisy.lib",
                }
            },
            "loggers": {"cfgtest": {"handlers": ["alerts"], "propagate": False}},
        }
    )
    handler = logging.getLogger("cfgtest").handlers[0]
    try:
        assert isinstance(handler, Smtp2goHandler)
        assert handler.level == logging.WARNING
        assert handler.recipients == ["ops@example.com", "oncall@example.com"]
        assert handler._storm.digest_window == 2.5
        assert handler._storm.max_emails_per_hour == 7
        assert handler.formatter_mail.html_body is False
        assert handler.flush_timeout == 0.5
        assert "noisy.lib" in handler.ignored_loggers
        assert key not in repr(handler) and key not in repr(vars(handler))
    finally:
        logging.getLogger("cfgtest").removeHandler(handler)
        handler.close()


def test_fileconfig_with_args_and_kwargs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALERT_KEY", fake_key())
    ini = tmp_path / "logging.ini"
    ini.write_text(
        textwrap.dedent(
            f"""
            [loggers]
            keys=root,filecfg
            [handlers]
            keys=alerts
            [formatters]
            keys=
            [logger_root]
            handlers=
            [logger_filecfg]
            qualname=filecfg
            handlers=alerts
            propagate=0
            [handler_alerts]
            class=logging_handler.Smtp2goHandler
            level=ERROR
            args=('ops@example.com', 'alerts@example.com')
            kwargs={{'api_key_env': 'ALERT_KEY', 'base_url': '{LOOPBACK}', 'max_groups': '50'}}
            """
        )
    )
    logging.config.fileConfig(ini, disable_existing_loggers=False)
    handler = logging.getLogger("filecfg").handlers[0]
    try:
        assert isinstance(handler, Smtp2goHandler)
        assert handler._storm.max_groups == 50
    finally:
        logging.getLogger("filecfg").removeHandler(handler)
        handler.close()


@pytest.fixture
def recording() -> RecordingHandler:
    handler = RecordingHandler(
        "ops@example.com", "alerts@example.com", api_key=fake_key(), base_url=LOOPBACK, level="DEBUG", digest_window=0
    )
    yield handler
    handler.close()


@pytest.mark.parametrize("name", [*IGNORED_LOGGERS, "urllib3.connectionpool", "airflow_provider_smtp2go.client"])
def test_http_and_own_loggers_never_trigger_email(recording: RecordingHandler, name: str) -> None:
    record = logging.getLogger(name).makeRecord(name, logging.CRITICAL, "x.py", 1, "oops", None, None)
    assert recording.handle(record) is False
    recording.flush()
    assert recording.sent == []
    assert recording.stats["pending"] == 0


def test_similar_names_are_not_ignored(recording: RecordingHandler) -> None:
    record = logging.getLogger("requests_toolbelt").makeRecord("requests_toolbelt", 40, "x.py", 1, "m", None, None)
    assert recording.handle(record)
    recording.flush()
    assert len(recording.sent) == 1


def test_records_from_the_worker_thread_are_ignored(recording: RecordingHandler) -> None:
    outcome: list[object] = []

    def send_and_log(mail, rendered):  # type: ignore[no-untyped-def]
        # Whatever the worker logs, under any logger name, must not come back as email.
        record = logging.getLogger("app").makeRecord("app", logging.ERROR, "y.py", 9, "from worker", None, None)
        outcome.append(recording.handle(record))
        recording.sent.append((mail, rendered.subject))

    recording.send = send_and_log  # type: ignore[method-assign]
    recording.handle(logging.getLogger("app").makeRecord("app", logging.ERROR, "x.py", 1, "first", None, None))
    recording.flush()
    assert outcome == [False]
    assert len(recording.sent) == 1
    assert recording.stats["pending"] == 0


def test_a_message_that_logs_while_being_formatted_does_not_recurse(recording: RecordingHandler) -> None:
    logger = logging.getLogger("reentrant")
    logger.addHandler(recording)
    logger.propagate = False

    class Chatty:
        def __str__(self) -> str:
            logger.error("logged from __str__ %s", self)  # would recurse forever
            return "chatty"

    try:
        logger.error("value: %s", Chatty())
        recording.flush()
    finally:
        logger.removeHandler(recording)
    assert [subject for _, subject in recording.sent] == [
        f"[{recording.formatter_mail.hostname}] ERROR reentrant: value: chatty"
    ]


def test_emit_never_raises_into_the_caller(recording: RecordingHandler, capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("badargs")
    logger.addHandler(recording)
    logger.propagate = False
    try:
        logger.error("needs %d", "not a number")  # stdlib would print '--- Logging error ---'
        recording.flush()
    finally:
        logger.removeHandler(recording)
    assert "could not be formatted" in recording.sent[0][0].groups[0].sample.message
    assert "Logging error" in capsys.readouterr().err


def test_emit_from_many_threads_counts_every_record(recording: RecordingHandler) -> None:
    recording.formatter_mail.html_body = False
    logger = logging.getLogger("threads")
    logger.addHandler(recording)
    logger.propagate = False
    recording._storm.digest_window = 3600

    def spam() -> None:
        for _ in range(2000):
            logger.error("x")

    threads = [threading.Thread(target=spam) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recording.flush()
    logger.removeHandler(recording)
    assert sum(mail.count for mail, _ in recording.sent) == 8000


def test_import_is_cheap_and_pulls_in_neither_airflow_nor_httpx() -> None:
    code = textwrap.dedent(
        """
        import sys
        import logging_handler
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("airflow", "httpx", "requests", "tenacity"))
        assert not heavy, heavy
        h = logging_handler.Smtp2goHandler("a@example.com", "b@example.com", api_key="k" * 10,
                                           base_url="http://127.0.0.1:9/v3")
        heavy = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("airflow", "httpx")})
        assert not heavy, heavy
        h.close()
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_a_failed_construction_leaves_nothing_for_logging_shutdown() -> None:
    def ours() -> set[int]:
        handlers = (ref() for ref in logging._handlerList)  # type: ignore[attr-defined]
        return {id(h) for h in handlers if isinstance(h, Smtp2goHandler)}

    before = ours()
    with pytest.raises(ValueError) as raised:
        Smtp2goHandler("ops@example.com", "not an address", api_key=fake_key(), base_url=LOOPBACK)
    # The traceback keeps the half-built object alive; it must not be in logging's list.
    # (Handlers of earlier tests may be collected meanwhile, so compare for additions only.)
    assert raised.traceback is not None
    assert not ours() - before


NUMERIC_SETTINGS = [
    "flush_timeout",
    "timeout",
    "digest_window",
    "retry_deadline",
    "cap_period",
    "retry_interval",
    "retry_interval_max",
    "max_emails_per_hour",
    "max_groups",
    "max_attempts",
    "max_subject_length",
    "max_distinct_messages",
]


def base_settings(**changes: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "recipients": "ops@example.com",
        "sender": "alerts@example.com",
        "api_key": fake_key(),
        "base_url": LOOPBACK,
    }
    settings.update(changes)
    return settings


@pytest.mark.parametrize("name", NUMERIC_SETTINGS)
@pytest.mark.parametrize("value", [float("inf"), "inf", "-inf", float("nan"), "NaN", -1, "-0.5", "1e400", True, [1]])
def test_numeric_settings_refuse_infinite_negative_and_wrong_types(name: str, value: object) -> None:
    with pytest.raises(Smtp2goValidationError) as raised:
        Smtp2goHandler(**base_settings(**{name: value}))  # type: ignore[arg-type]
    assert raised.value.field == name
    assert str(raised.value).startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_groups", 7.5),
        ("max_attempts", "2.5"),
        ("timeout", "0"),
        ("retry_deadline", 0),
        ("cap_period", "0"),
        ("flush_timeout", 1e12),  # beyond what threading can wait
        ("html_body", "maybe"),
        ("retry_ambiguous_sends", 2),
        ("level", -5),
        ("level", "LOUD"),
        ("subject", 5),
        ("digest_subject", b"%(message)s"),
        ("hostname", 42),
        ("region", 3),
        ("base_url", ["http://127.0.0.1:9/v3"]),
        ("api_key", 12345),
        ("api_key_env", 7),
        ("airflow_conn_id", 7),
        ("sender", 7),
        ("recipients", 7),
        ("ignore_loggers", 7),
        ("redact", "(unclosed"),
        ("redact", ["ok", 5]),
        ("redact", ".*"),
        ("clock", "monotonic"),
        ("retry_interval_max", "1"),  # below retry_interval (30 s)
    ],
)
def test_every_setting_given_wrongly_is_refused_naming_it(name: str, value: object) -> None:
    with pytest.raises(Smtp2goValidationError) as raised:
        Smtp2goHandler(**base_settings(**{name: value}))  # type: ignore[arg-type]
    assert raised.value.field.split("[")[0] == name, raised.value


def test_dictconfig_strings_are_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP2GO_API_KEY", fake_key())
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {
            "alerts": {
                "class": "logging_handler.Smtp2goHandler",
                "recipients": "ops@example.com",
                "sender": "alerts@example.com",
                "base_url": LOOPBACK,
                "flush_timeout": "inf",
            }
        },
        "loggers": {"cfgbad": {"handlers": ["alerts"], "propagate": False}},
    }
    with pytest.raises(ValueError, match="Unable to configure handler 'alerts'") as raised:
        logging.config.dictConfig(config)
    cause = raised.value.__cause__
    assert isinstance(cause, Smtp2goValidationError) and cause.field == "flush_timeout"
    assert str(cause) == "flush_timeout: expected a finite number of seconds, got 'inf'"


def test_close_never_raises_overflow_even_when_a_setting_is_changed_later() -> None:
    handler = RecordingHandler(
        "ops@example.com", "alerts@example.com", api_key=fake_key(), base_url=LOOPBACK, digest_window=3600
    )
    handler.handle(logging.makeLogRecord({"name": "app", "levelno": 40, "levelname": "ERROR", "msg": "x"}))
    handler.flush()  # the worker thread is running now
    handler.flush_timeout = float("inf")  # type: ignore[misc]
    started = time.monotonic()
    handler.close()  # logging.shutdown() calls this at exit; it must not raise
    assert time.monotonic() - started < 5


def test_settings_own_the_conversion_and_init_stays_short() -> None:
    source = inspect.getsource(Smtp2goHandler.__init__)
    assert len(source.splitlines()) < 80
    settings = HandlerSettings.parse(recipients="a@example.com", sender="b@example.com", api_key=fake_key())
    signature = inspect.signature(Smtp2goHandler)
    for field in dataclasses.fields(HandlerSettings):
        parameter = signature.parameters.get(field.name)
        if parameter is not None and parameter.default not in (None, inspect.Parameter.empty):
            assert getattr(settings, field.name) == parameter.default, field.name
