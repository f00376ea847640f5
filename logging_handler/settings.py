"""``HandlerSettings``: every setting of ``Smtp2goHandler``, converted and checked once.

Values may be plain strings, as ``dictConfig``/``fileConfig`` give them.  Each one given
wrongly, in type or format, is refused at construction with ``Smtp2goValidationError`` naming
the setting, so a typo in a logging config file reads as
``digest_window: expected a number of seconds, got 'five'`` instead of breaking alerting during
an outage.  Durations must be finite: ``inf`` or ``nan`` would turn ``close()`` at interpreter
exit into an ``OverflowError`` or an endless wait.

>>> as_list("recipients", "ops@example.com, oncall@example.com")
['ops@example.com', 'oncall@example.com']
>>> as_bool("html_body", "no"), as_seconds("digest_window", "2.5"), as_level("level", "warning")
(False, 2.5, 30)
>>> as_seconds("flush_timeout", "inf")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
airflow_provider_smtp2go.client.errors.Smtp2goValidationError: flush_timeout: expected a finite number ...
"""

from __future__ import annotations

import logging
import math
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from logging_handler.credentials import DEFAULT_API_KEY_ENV, Credentials, _invalid, resolve_credentials
from logging_handler.formatting import DEFAULT_DIGEST_SUBJECT, DEFAULT_MAX_SUBJECT_LENGTH, DEFAULT_SUBJECT

#: The longest duration any setting accepts (a week): far beyond any sensible value, and far
#: below what ``threading`` waits accept (``threading.TIMEOUT_MAX``).
MAX_SECONDS = 7 * 24 * 3600.0

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def as_seconds(name: str, value: Any, *, positive: bool = False) -> float:
    """A finite duration, ``0 <= value <= MAX_SECONDS`` (``> 0`` when ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid(name, "type", f"expected a number of seconds, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise _invalid(name, "type", f"expected a number of seconds, got {value!r}") from None
    if not math.isfinite(number):
        raise _invalid(name, "finite", f"expected a finite number of seconds, got {value!r}")
    if number < 0 or (positive and number == 0):
        raise _invalid(name, "range", f"must be {'>' if positive else '>='} 0 seconds, got {value!r}")
    if number > MAX_SECONDS:
        raise _invalid(name, "range", f"must be at most {MAX_SECONDS:g} seconds, got {value!r}")
    return number


def as_int(name: str, value: Any, *, minimum: int = 0) -> int:
    """A whole number ``>= minimum``; ``"7"`` and ``7.0`` are 7, ``7.5`` and ``True`` are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _invalid(name, "type", f"expected a whole number, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise _invalid(name, "type", f"expected a whole number, got {value!r}")
    try:
        number = int(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise _invalid(name, "type", f"expected a whole number, got {value!r}") from None
    if number < minimum:
        raise _invalid(name, "range", f"must be >= {minimum}, got {value!r}")
    return number


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise _invalid(name, "type", f"expected true/false, got {value!r}")


def as_level(name: str, value: Any) -> int:
    """A level number from ``40``, ``"40"``, ``"ERROR"`` or ``"error"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        level = logging.getLevelName(text.upper())
        if isinstance(level, int):
            return level
    raise _invalid(name, "level", f"unknown logging level {value!r}")


def as_list(name: str, value: Any) -> list[str]:
    """A list of strings (addresses, logger names) from a list/tuple or a comma/semicolon separated string."""
    if value is None:
        return []
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.replace(";", ",").split(",")
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        raise _invalid(name, "type", f"expected a list or a comma-separated string, got {type(value).__name__}")
    result = []
    for item in items:
        if not isinstance(item, str):
            raise _invalid(name, "type", f"expected strings, got {item!r}")
        if item.strip():
            result.append(item.strip())
    return result


def as_optional_str(name: str, value: Any) -> str | None:
    """``None``, ``""`` and ``"none"``/``"null"`` (all spellings a config file might use) mean unset."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(name, "type", f"expected a string, got {type(value).__name__}")
    text = value.strip()
    return None if text.lower() in ("", "none", "null") else text


def as_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _invalid(name, "type", f"expected a string, got {type(value).__name__}")
    return value


def as_patterns(name: str, value: Any) -> tuple[re.Pattern[str], ...]:
    """User redaction patterns: one regular expression (a string), or a list of strings and
    compiled patterns.  A plain string is a regex: ``re.escape`` literal text."""
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, re.Pattern)) else value
    if not isinstance(items, (list, tuple)):
        raise _invalid(name, "type", f"expected a regex or a list of them, got {type(value).__name__}")
    patterns = []
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        pattern = item
        if isinstance(item, str):
            try:
                pattern = re.compile(item)
            except re.error as exc:
                raise _invalid(where, "regex", f"invalid regular expression: {exc}") from None
        if not isinstance(pattern, re.Pattern) or not isinstance(pattern.pattern, str):
            raise _invalid(where, "type", f"expected a string regex or re.compile(...) of one, got {item!r}")
        if pattern.fullmatch(""):
            raise _invalid(where, "regex", f"{pattern.pattern!r} matches the empty string")
        patterns.append(pattern)
    return tuple(patterns)


def as_clock(name: str, value: Any) -> Callable[[], float] | None:
    if value is not None and not callable(value):
        raise _invalid(name, "type", f"expected a callable returning monotonic seconds, got {value!r}")
    return value  # type: ignore[no-any-return]


def _seconds(name: str, value: Any) -> float:
    return as_seconds(name, value)


def _positive_seconds(name: str, value: Any) -> float:
    return as_seconds(name, value, positive=True)


def _at_least(minimum: int) -> Callable[[str, Any], int]:
    def convert(name: str, value: Any) -> int:
        return as_int(name, value, minimum=minimum)

    return convert


def _hostname(name: str, value: Any) -> str:
    return as_optional_str(name, value) or socket.gethostname()


@dataclass(frozen=True)
class HandlerSettings:
    """What ``Smtp2goHandler`` was configured with, after conversion (see the handler's docstring).

    The defaults here are the handler's defaults.

    >>> s = HandlerSettings.parse(recipients="ops@example.com", sender="alerts@example.com",
    ...                           api_key="api-EXAMPLE", digest_window="60", html_body="no")
    >>> s.recipients, s.digest_window, s.html_body, "api-EXAMPLE" in repr(s)
    (('ops@example.com',), 60.0, False, False)
    >>> HandlerSettings.parse(recipients="ops@example.com", sender="a@example.com", api_key="k",
    ...                       max_groups="many")
    Traceback (most recent call last):
    ...
    airflow_provider_smtp2go.client.errors.Smtp2goValidationError: max_groups: expected a whole number, got 'many'
    """

    recipients: tuple[str, ...]
    credentials: Credentials
    level: int = logging.ERROR
    subject: str = DEFAULT_SUBJECT
    digest_subject: str = DEFAULT_DIGEST_SUBJECT
    max_subject_length: int = DEFAULT_MAX_SUBJECT_LENGTH
    html_body: bool = True
    hostname: str = ""
    digest_window: float = 300.0
    max_emails_per_hour: int = 20
    cap_period: float = 3600.0
    max_groups: int = 1000
    max_distinct_messages: int = 5
    flush_timeout: float = 5.0
    timeout: float = 10.0
    max_attempts: int = 3
    retry_deadline: float = 30.0
    retry_ambiguous_sends: bool = False
    retry_interval: float = 30.0
    retry_interval_max: float = 300.0
    ignore_loggers: tuple[str, ...] = ()
    redact: tuple[re.Pattern[str], ...] = ()
    clock: Callable[[], float] | None = field(default=None, compare=False)
    #: what ``resolve_credentials`` was given, to read the key again after SMTP2GO refused it
    key_lookup: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, *, recipients: Any, sender: Any = None, **raw: Any) -> HandlerSettings:
        """Convert and check ``Smtp2goHandler``'s arguments; unknown names are refused too."""
        lookup: dict[str, Any] = {
            "api_key": as_optional_str("api_key", raw.pop("api_key", None)),
            "api_key_env": as_optional_str("api_key_env", raw.pop("api_key_env", None)) or DEFAULT_API_KEY_ENV,
            "airflow_conn_id": as_optional_str("airflow_conn_id", raw.pop("airflow_conn_id", None)),
            "sender": as_optional_str("sender", sender),
        }
        for name in ("region", "base_url", "subaccount_id"):
            lookup[name] = as_optional_str(name, raw.pop(name, None))
        unknown = sorted(raw.keys() - _CONVERTERS.keys())
        if unknown:
            raise _invalid(unknown[0], "unknown", "not a setting of Smtp2goHandler")
        values = {name: _CONVERTERS[name](name, value) for name, value in raw.items()}
        values.setdefault("hostname", socket.gethostname())
        if values.get("retry_interval_max", cls.retry_interval_max) < values.get("retry_interval", cls.retry_interval):
            raise _invalid("retry_interval_max", "range", "must be >= retry_interval")
        to = tuple(as_list("recipients", recipients))
        if not to:
            raise _invalid("recipients", "required", "at least one address is required")
        credentials = resolve_credentials(**lookup)
        if not credentials.sender:
            raise _invalid(
                "sender", "required", "the From address is required (or a 'sender' extra on the Airflow connection)"
            )
        from airflow_provider_smtp2go.client import Email  # noqa: PLC0415  (keeps the import cheap)

        # Addresses are checked now, so a typo fails at configuration time, not during an outage.
        Email(sender=credentials.sender, to=list(to), subject="configuration check", text_body=".")
        return cls(recipients=to, credentials=credentials, key_lookup=lookup, **values)

    def storm_kwargs(self) -> dict[str, Any]:
        """The arguments of :class:`~logging_handler.storm.StormControl`."""
        kwargs: dict[str, Any] = {
            name: getattr(self, name)
            for name in ("digest_window", "max_emails_per_hour", "cap_period", "max_groups", "max_distinct_messages")
        }
        if self.clock is not None:
            kwargs["clock"] = self.clock
        return kwargs


_CONVERTERS: dict[str, Callable[[str, Any], Any]] = {
    "level": as_level,
    "subject": as_str,
    "digest_subject": as_str,
    "max_subject_length": _at_least(20),
    "html_body": as_bool,
    "hostname": _hostname,
    "digest_window": _seconds,
    "max_emails_per_hour": _at_least(1),
    "cap_period": _positive_seconds,
    "max_groups": _at_least(1),
    "max_distinct_messages": _at_least(0),
    "flush_timeout": _seconds,
    "timeout": _positive_seconds,
    "max_attempts": _at_least(1),
    "retry_deadline": _positive_seconds,
    "retry_ambiguous_sends": as_bool,
    "retry_interval": _positive_seconds,
    "retry_interval_max": _positive_seconds,
    "ignore_loggers": lambda name, value: tuple(as_list(name, value)),
    "redact": as_patterns,
    "clock": as_clock,
}
# Every field but the two ``parse`` builds itself has exactly one converter.
assert _CONVERTERS.keys() == {f.name for f in fields(HandlerSettings)} - {"recipients", "credentials", "key_lookup"}
