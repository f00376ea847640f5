"""What a recipient reads: the subject line, and text + HTML bodies of alerts and digests.

Subjects come from %-style templates over the sample record's attributes (``%(levelname)s``,
``%(name)s``, ``%(message)s`` — the first line only —, ``%(hostname)s``, ``%(asctime)s``,
``%(count)d``, any ``extra=`` field...).  Control characters (CR/LF included: they would
inject headers) become spaces, and the result is capped at ``max_subject_length``.  Bodies
carry the message, where it came from, counts and the traceback; in the HTML body every piece
of record text is escaped.

>>> fmt = MailFormatter(hostname="web-1")
>>> fmt.clean_subject("ERROR\\r\\nBcc: victim@example.com")
'ERROR Bcc: victim@example.com'
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from logging_handler.storm import GroupReport, Outgoing

DEFAULT_SUBJECT = "[%(hostname)s] %(levelname)s %(name)s: %(message)s"
DEFAULT_DIGEST_SUBJECT = "[%(hostname)s] %(summary)s, first: %(message)s"
NOTICE_SUBJECT = "[%(hostname)s] Too many alerts: %(count)d records; more held until %(resume)s"
DEFAULT_MAX_SUBJECT_LENGTH = 200

#: Digests show this many groups in full; the rest get one line each (the email stays small).
MAX_DETAILED_GROUPS = 50
#: Longer messages and tracebacks keep their head and tail (where the exception is).
MAX_BLOCK_CHARS = 16_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r" {2,}")


class _Fields(dict[str, Any]):
    # A template naming a field the record lacks renders a dash instead of failing the email.
    def __missing__(self, key: str) -> str:
        return "-"


@dataclass(frozen=True)
class RenderedMail:
    """A rendered email: what goes to ``Email(subject=..., text_body=..., html_body=...)``."""

    subject: str
    text: str
    html: str | None


def when(ts: float) -> str:
    """Local time with its UTC offset, to the second."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(sep=" ", timespec="seconds")


def _short_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%H:%M:%S")


def clip(text: str, limit: int = MAX_BLOCK_CHARS) -> str:
    """Cut the middle out of ``text`` longer than ``limit`` characters, saying so."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n[... {len(text) - limit:,} characters cut ...]\n{text[-tail:]}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


class MailFormatter:
    """Renders :class:`~logging_handler.storm.Outgoing` emails.

    :param hostname: shown in subjects (``%(hostname)s``) and bodies.
    :param subject: template for a single alert.
    :param digest_subject: template for a digest: ``%(summary)s`` ("12 log records in 2
        groups"), ``%(count)d``, ``%(groups)d``, and the first group's ``%(levelname)s``,
        ``%(name)s``, ``%(message)s``...
    :param max_subject_length: longer subjects are cut and end in an ellipsis.
    :param html_body: also render an HTML body.

    Templates are checked here, so a typo fails at configuration time, not during an outage.
    """

    def __init__(
        self,
        *,
        hostname: str,
        subject: str = DEFAULT_SUBJECT,
        digest_subject: str = DEFAULT_DIGEST_SUBJECT,
        max_subject_length: int = DEFAULT_MAX_SUBJECT_LENGTH,
        html_body: bool = True,
    ) -> None:
        if max_subject_length < 20:
            raise ValueError("max_subject_length must be at least 20 characters")
        self.hostname = hostname
        self.subject_template = subject
        self.digest_subject_template = digest_subject
        self.max_subject_length = max_subject_length
        self.html_body = html_body
        for name, template in (("subject", subject), ("digest_subject", digest_subject)):
            try:
                template % _Fields(self._probe_fields())
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name}: invalid template {template!r}: {exc}") from None

    def _probe_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = dict.fromkeys(
            ("name", "levelname", "message", "line", "pathname", "filename", "module", "funcName", "asctime"), "x"
        )
        fields.update(
            hostname=self.hostname, levelno=40, lineno=1, count=1, groups=1, process=1, resume="x", summary="x"
        )
        fields.update(created=0.0, msecs=0.0, relativeCreated=0.0, thread=1, held=0, dropped=0)
        return fields

    # -- subject ----------------------------------------------------------------------------

    def clean_subject(self, text: str) -> str:
        """Strip control characters (CR/LF: header injection) and cap the length."""
        text = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
        if len(text) > self.max_subject_length:
            text = text[: self.max_subject_length - 1].rstrip() + "…"
        return text or "(no subject)"

    def fields(self, mail: Outgoing) -> dict[str, Any]:
        """The values a subject template can use."""
        first = mail.groups[0].sample
        fields: dict[str, Any] = dict(first.attrs)
        fields.update(
            name=first.name,
            levelname=first.levelname,
            levelno=first.levelno,
            message=first.first_line,
            line=first.first_line,
            asctime=when(first.created),
            hostname=self.hostname,
            count=mail.count,
            groups=len(mail.groups),
            summary=f"{_plural(mail.count, 'log record')} in {_plural(len(mail.groups), 'group')}",
            held=mail.held,
            dropped=mail.dropped,
            resume=_short_time(mail.resume_at) if mail.resume_at is not None else "-",
        )
        return fields

    def subject(self, mail: Outgoing) -> str:
        if mail.kind == "notice":
            template = NOTICE_SUBJECT
        elif mail.kind == "alert":
            template = self.subject_template
        else:
            template = self.digest_subject_template
        values = _Fields(self.fields(mail))
        try:
            text = template % values
        except (TypeError, ValueError):
            # An ``extra=`` value of an unexpected type; the default template always renders.
            text = (DEFAULT_SUBJECT if mail.kind == "alert" else DEFAULT_DIGEST_SUBJECT) % values
        if mail.held:
            text += f" ({mail.held:,} suppressed by the hourly cap)"
        return self.clean_subject(text)

    # -- bodies ------------------------------------------------------------------------------

    def render(self, mail: Outgoing) -> RenderedMail:
        return RenderedMail(self.subject(mail), self.text(mail), self.html(mail) if self.html_body else None)

    def _headline(self, mail: Outgoing) -> str:
        if mail.kind == "alert":
            sample = mail.groups[0].sample
            return f"{sample.levelname} in {sample.name} on {self.hostname}"
        span = f"{when(min(g.first for g in mail.groups))} to {when(max(g.last for g in mail.groups))}"
        what = f"{_plural(mail.count, 'log record')} in {_plural(len(mail.groups), 'group')} on {self.hostname}"
        return f"{what}, {span}"

    def notes(self, mail: Outgoing) -> list[str]:
        """Plain-text notices about what this email stands in for."""
        notes = []
        if mail.kind == "notice":
            resume = when(mail.resume_at) if mail.resume_at is not None else "the end of the hour"
            notes.append(
                f"Too many alerts: this is email {mail.cap} of at most {mail.cap} per "
                f"{mail.cap_period:g} s. Further records are held and counted; one digest of them "
                f"follows at {resume}."
            )
        if mail.outage_since is not None:
            notes.append(
                f"SMTP2GO could not be reached from {when(mail.outage_since)} "
                f"({_plural(mail.failed_attempts, 'failed attempt')}); this email catches up."
            )
        if mail.held:
            since = f" since {when(mail.held_since)}" if mail.held_since is not None else ""
            notes.append(
                f"{_plural(mail.held, 'record')} arrived while the limit of {mail.cap} emails per "
                f"{mail.cap_period:g} s was reached{since}; they are counted below."
            )
        if mail.refused:
            since = f" since {when(mail.refused_since)}" if mail.refused_since is not None else ""
            notes.append(
                f"{_plural(mail.refused, 'record')} of earlier alert emails could not be delivered{since}: "
                f"SMTP2GO refused them ({mail.refused_reason or 'no reason given'}). They are missing from "
                "this email."
            )
        if mail.dropped:
            notes.append(
                f"{_plural(mail.dropped, 'record')} could not be kept (too many different alerts "
                "were waiting) and are missing from this email."
            )
        return notes

    def _group_facts(self, report: GroupReport, mail: Outgoing) -> list[tuple[str, str]]:
        s = report.sample
        where = s.location + (f" in {s.func_name}()" if s.func_name else "")
        facts = [
            ("Logger", s.name),
            ("Level", s.levelname),
            ("When", when(s.created)),
            ("Where", where),
            ("Process", f"{s.process} ({s.thread_name})"),
        ]
        if report.exc_type:
            facts.append(("Exception", report.exc_type))
        if report.count > 1:
            facts.append(("Count", f"{report.count:,} records from {when(report.first)} to {when(report.last)}"))
        if mail.kind == "alert" and mail.digest_window > 0:
            facts.append(("Repeats", f"folded into one digest per {mail.digest_window:g} s"))
        return facts

    @staticmethod
    def _body_of(report: GroupReport) -> tuple[str, str | None]:
        s = report.sample
        if s.formatted is not None:
            tb = None if (s.traceback and s.traceback in s.formatted) else s.traceback
            return clip(s.formatted), clip(tb) if tb else None
        return clip(s.message), clip(s.traceback) if s.traceback else None

    @staticmethod
    def distinct_messages(report: GroupReport) -> list[str]:
        """One line per distinct message text of a group, with its count; empty when the
        group said one thing only."""
        if len(report.messages) < 2 and not report.other_records:
            return []
        lines = []
        for text, count in report.messages:
            first, _, more = text.strip().partition("\n")
            lines.append(f"{count:>7,} x {first[:300]}{' ...' if more or len(first) > 300 else ''}")
        if report.other_records:
            k = f"{report.other_messages:,}{'+' if report.other_messages_overflow else ''}"
            lines.append(f"... and {k} more distinct messages ({_plural(report.other_records, 'record')})")
        return lines

    @staticmethod
    def _one_line(report: GroupReport) -> str:
        s = report.sample
        return f"{_plural(report.count, 'record')}: {s.levelname} {s.name} at {s.location}: {s.first_line[:200]}"

    def text(self, mail: Outgoing) -> str:
        lines = [self._headline(mail), ""]
        for note in self.notes(mail):
            lines += [f"Note: {note}", ""]
        for number, report in enumerate(mail.groups[:MAX_DETAILED_GROUPS], 1):
            message, tb = self._body_of(report)
            if mail.kind != "alert":
                title = f"#{number}  {report.sample.levelname} {report.sample.name}: {_plural(report.count, 'record')}"
                lines += [title, "-" * min(len(title), 78)]
            lines += [message, ""]
            width = max(len(k) for k, _ in self._group_facts(report, mail))
            lines += [f"{k + ':':<{width + 1}} {v}" for k, v in self._group_facts(report, mail)]
            distinct = self.distinct_messages(report)
            if distinct:
                lines += ["", "Messages:", *distinct]
            if tb:
                lines += ["", tb]
            if report.sample.stack:
                lines += ["", report.sample.stack]
            lines.append("")
        rest = mail.groups[MAX_DETAILED_GROUPS:]
        if rest:
            lines += [f"... and {_plural(len(rest), 'more group')}:", *(self._one_line(r) for r in rest), ""]
        lines.append(f"-- sent by logging_handler.Smtp2goHandler on {self.hostname}")
        return "\n".join(lines)

    def html(self, mail: Outgoing) -> str:
        e = html.escape
        pre = "background:#f6f8fa;padding:8px;overflow-x:auto;font-size:12px;white-space:pre-wrap"
        parts = [
            '<html><body style="font-family:sans-serif;font-size:14px;color:#24292f">',
            f'<h2 style="margin:0 0 12px 0">{e(self._headline(mail))}</h2>',
        ]
        for note in self.notes(mail):
            parts.append(f'<p style="background:#fff8c5;padding:6px 8px">{e(note)}</p>')
        for number, report in enumerate(mail.groups[:MAX_DETAILED_GROUPS], 1):
            message, tb = self._body_of(report)
            if mail.kind != "alert":
                parts.append(
                    f'<h3 style="margin:18px 0 6px 0">#{number} {e(report.sample.levelname)} '
                    f"{e(report.sample.name)}: {e(_plural(report.count, 'record'))}</h3>"
                )
            parts.append(f'<pre style="{pre};font-weight:bold">{e(message)}</pre>')
            rows = "".join(
                f'<tr><th style="text-align:left;padding-right:12px;vertical-align:top">{e(k)}</th><td>{e(v)}</td></tr>'
                for k, v in self._group_facts(report, mail)
            )
            parts.append(f'<table style="border-collapse:collapse;font-size:13px">{rows}</table>')
            distinct = self.distinct_messages(report)
            if distinct:
                listing = e("\n".join(distinct))
                parts.append(f'<p style="margin:8px 0 2px 0">Messages:</p><pre style="{pre}">{listing}</pre>')
            if tb:
                parts.append(f'<pre style="{pre}">{e(tb)}</pre>')
            if report.sample.stack:
                parts.append(f'<pre style="{pre}">{e(report.sample.stack)}</pre>')
        rest = mail.groups[MAX_DETAILED_GROUPS:]
        if rest:
            items = "".join(f"<li>{e(self._one_line(r))}</li>" for r in rest)
            parts.append(f"<p>... and {e(_plural(len(rest), 'more group'))}:</p><ul>{items}</ul>")
        parts.append(
            f'<p style="color:#57606a;font-size:12px">Sent by logging_handler.Smtp2goHandler on {e(self.hostname)}</p>'
        )
        parts.append("</body></html>")
        return "\n".join(parts)
