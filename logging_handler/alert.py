"""``Alert``: a snapshot of one log record, safe to keep after the logging call returns.

A ``LogRecord`` is live: its ``args`` may be mutated by the application and its ``exc_info``
keeps whole stacks of frames alive.  The handler keeps at most one snapshot per alert group, so
it takes one the first time a group is seen and then only counts repeats.

Records that went through a stdlib ``QueueHandler`` arrive with ``exc_info=None`` and the
traceback already rendered into the message; :func:`split_flattened` recovers it so the email
still shows the traceback in its own block and the fingerprint still knows the exception type.

>>> import logging
>>> record = logging.makeLogRecord({"name": "app", "levelno": 40, "levelname": "ERROR", "msg": "boom"})
>>> Alert.from_record(record).message
'boom'
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

TRACEBACK_MARKER = "Traceback (most recent call last):"

# Attributes every LogRecord has; anything else on a record came from ``extra=`` and may be
# used in a subject template.
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
# Never copied into a snapshot: live objects (args, exc_info) or already captured.
_SKIPPED_ATTRS = frozenset({"args", "exc_info", "exc_text", "msg", "stack_info", "message"})


def split_flattened(message: str) -> tuple[str, str | None]:
    """Split ``"msg\\nTraceback (most recent call last): ..."`` into message and traceback.

    >>> split_flattened("boom\\nTraceback (most recent call last):\\n  ...\\nValueError: x")
    ('boom', 'Traceback (most recent call last):\\n  ...\\nValueError: x')
    >>> split_flattened("no traceback here")
    ('no traceback here', None)
    """
    index = message.find(TRACEBACK_MARKER)
    if index < 0:
        return message, None
    return message[:index].rstrip("\n"), message[index:].rstrip("\n")


def exception_type_from_text(text: str) -> str | None:
    """The exception class name on the last line of a rendered traceback, if any.

    >>> exception_type_from_text("Traceback (most recent call last):\\n  ...\\nmod.KeyError: 'a'")
    'mod.KeyError'
    """
    index = text.find(TRACEBACK_MARKER)
    if index < 0:
        return None
    last = text.rstrip().rsplit("\n", 1)[-1]
    name = last.split(":", 1)[0].strip()
    return name if name and " " not in name else None


@dataclass(frozen=True)
class Alert:
    """What the handler remembers of one record: plain data, no live objects."""

    name: str
    levelno: int
    levelname: str
    pathname: str
    lineno: int
    func_name: str | None
    created: float
    process: int | None
    thread_name: str | None
    message: str
    traceback: str | None = None
    stack: str | None = None
    formatted: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def location(self) -> str:
        return f"{self.pathname}:{self.lineno}"

    @property
    def first_line(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @classmethod
    def from_record(
        cls, record: logging.LogRecord, formatter: logging.Formatter | None = None, *, message: str | None = None
    ) -> Alert:
        """Snapshot ``record``; ``formatter`` (the handler's, if one was configured) renders
        the ``formatted`` text shown in the email body; ``message`` is ``record.getMessage()``
        if the caller already has it."""
        if message is None:
            message = record.getMessage()
        tb: str | None = None
        if record.exc_info and record.exc_info[0] is not None:
            tb = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        elif record.exc_text:
            tb = record.exc_text.rstrip("\n")
        else:
            # A QueueHandler already rendered the traceback into the message.
            message, tb = split_flattened(message)
        formatted = None
        if formatter is not None:
            formatted = formatter.format(record)
        attrs = {k: v for k, v in record.__dict__.items() if k not in _SKIPPED_ATTRS and not k.startswith("_")}
        # Values from ``extra=`` can be anything; keep only their text so nothing live is held.
        for key in attrs.keys() - _STANDARD_ATTRS:
            attrs[key] = _safe_str(attrs[key])
        return cls(
            name=record.name,
            levelno=record.levelno,
            levelname=record.levelname,
            pathname=record.pathname,
            lineno=record.lineno,
            func_name=record.funcName,
            created=record.created,
            process=record.process,
            thread_name=record.threadName,
            message=message,
            traceback=tb,
            stack=record.stack_info,
            formatted=formatted,
            attrs=attrs,
        )


def _safe_str(value: Any) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not cost us the alert
        return f"<unprintable {type(value).__name__}>"


def fallback_alert(record: logging.LogRecord, exc: BaseException) -> Alert:
    """A snapshot for a record whose message cannot be formatted (bad ``args``, broken ``__str__``)."""
    template = record.msg if isinstance(record.msg, str) else f"<{type(record.msg).__name__} object>"
    return Alert(
        name=str(record.name),
        levelno=int(record.levelno),
        levelname=str(record.levelname),
        pathname=str(record.pathname),
        lineno=int(record.lineno),
        func_name=record.funcName,
        created=float(record.created),
        process=record.process,
        thread_name=record.threadName,
        message=f"{template} (the log message could not be formatted: {type(exc).__name__})",
    )
