"""Rows in, validated emails out: loading recipient rows and rendering one ``Email`` per row.

Rows are plain mappings (one per recipient) from a list (an XCom value), a CSV, JSON or JSON
Lines file, or anything with an ``open()`` method such as Airflow's ``ObjectStoragePath``.
Every row is rendered and validated **before the first send**, so a bad row 9,000 is reported
(by index and field) before row 1 is mailed, and the caller chooses to fail or to skip it.

Two ways to describe the message:

- Jinja templates rendered with the row as context (``{{ name }}``, or ``{{ row["first name"] }}``
  for keys that are not identifiers); ``html_body`` is autoescaped, undefined names are errors;
- an SMTP2GO ``template_id`` with ``template_data`` built from the row (the whole row by
  default, or a mapping whose string values are Jinja templates).

>>> tpl = MessageTemplate(sender="Billing <billing@example.com>", to="{{ email }}",
...                       subject="Invoice {{ invoice }}", text_body="Hi {{ name }}, see {{ url }}")
>>> batch = prepare_rows([{"email": "jo@example.com", "name": "Jo", "invoice": 7, "url": "https://x.test/7"}],
...                      tpl, namespace="dag/task/run/-1")
>>> batch.valid[0].email.subject, batch.invalid
('Invoice 7', [])
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_smtp2go.bulk.keys import IDEMPOTENCY_HEADER, canonical_json, fingerprint, idempotency_key
from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES
from airflow_provider_smtp2go.client.messages import Email

if TYPE_CHECKING:
    from datetime import datetime

    import jinja2

OnInvalid = Literal["fail", "skip"]
ROW_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Enough to see the pattern of what is wrong without flooding a log line or an exception.
ERRORS_IN_MESSAGE = 20


@dataclass(frozen=True)
class RowError:
    """Why row ``index`` (0-based, input order) cannot be sent: the field and the rule it broke."""

    index: int
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"row {self.index}: {self.field} ({self.rule}): {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "rule": self.rule, "message": self.message}


class InvalidRowsError(Smtp2goValidationError):
    """Some rows failed validation and ``on_invalid="fail"``: nothing was sent.

    ``errors`` lists every bad row (``RowError``); the message shows the first few.
    """

    def __init__(self, errors: Sequence[RowError], total: int) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:ERRORS_IN_MESSAGE])
        more = f"; ... and {len(self.errors) - ERRORS_IN_MESSAGE} more" if len(self.errors) > ERRORS_IN_MESSAGE else ""
        super().__init__(
            "rows",
            "invalid",
            f"{len(self.errors)} of {total} rows are invalid, nothing was sent "
            f"(use on_invalid='skip' to send the valid ones): {shown}{more}",
        )


@dataclass(frozen=True)
class PreparedRow:
    """One row ready to send: its input index, idempotency key and the validated ``Email``."""

    index: int
    key: str
    email: Email

    @property
    def recipient(self) -> str:
        """The first ``to`` address (what reports and activity lookups use)."""
        return self.email.recipients[0]


@dataclass
class PreparedBatch:
    """The outcome of validation: rows to send, rows rejected, and how many came in."""

    valid: list[PreparedRow] = field(default_factory=list)
    invalid: list[RowError] = field(default_factory=list)
    total: int = 0


# Loading


def load_rows(source: Any) -> list[dict[str, Any]]:
    """Rows from a list of mappings, a JSON string, or a CSV/JSON/JSONL file.

    ``source`` may be a list (e.g. an upstream task's XCom), a local path (``str`` or
    ``PathLike``) or an object with ``open()`` and ``name``/``suffix`` (``ObjectStoragePath``).
    The format follows the file suffix: ``.csv`` (header row = field names), ``.json``
    (a list of objects) or ``.jsonl``/``.ndjson`` (one object per line).
    """
    if isinstance(source, Mapping):
        raise Smtp2goValidationError("rows", "type", "expected a list of rows, got a single mapping")
    if isinstance(source, (list, tuple)):
        return [_as_row(item, i) for i, item in enumerate(source)]
    if isinstance(source, str) and source.lstrip().startswith("["):
        # A templated XCom pull renders a list to its JSON text (render_template_as_native_obj=False).
        return load_rows(_parse_json(source, "rows"))
    if isinstance(source, str) and "://" in source and not source.startswith("file://"):
        raise Smtp2goValidationError(
            "rows", "path", f"{source!r} is a remote URL: pass an ObjectStoragePath (or a local path) instead"
        )
    name = str(getattr(source, "name", "") or source)
    suffix = (getattr(source, "suffix", None) or os.path.splitext(name)[1]).lower()
    kind = ROW_FORMATS.get(suffix)
    if kind is None:
        raise Smtp2goValidationError(
            "rows", "format", f"cannot tell the format of {name!r}: use a .csv, .json, .jsonl or .ndjson file"
        )
    text = _read_text(source)
    if kind == "csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(text))]
    if kind == "json":
        data = _parse_json(text, name)
        if not isinstance(data, list):
            raise Smtp2goValidationError("rows", "format", f"{name}: a .json rows file must hold a list of objects")
        return [_as_row(item, i) for i, item in enumerate(data)]
    rows: list[Any] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            rows.append(_as_row(_parse_json(line, f"{name} line {line_no}"), len(rows)))
    return rows


def _read_text(source: Any) -> str:
    if hasattr(source, "open") and not isinstance(source, (str, Path)):
        with source.open("rb") as handle:
            raw = handle.read()
    else:
        path = Path(str(source).removeprefix("file://"))
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise Smtp2goValidationError("rows", "file", f"cannot read {path}: {exc.strerror or exc}") from None
    # utf-8-sig: spreadsheets like to start CSV exports with a byte-order mark.
    return raw.decode("utf-8-sig") if isinstance(raw, bytes) else str(raw)


def _parse_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise Smtp2goValidationError("rows", "json", f"{where}: not valid JSON ({exc})") from None


def _as_row(item: Any, index: int) -> Any:
    # Non-mappings are kept as they are and reported per row by prepare_rows (by index).
    return dict(item) if isinstance(item, Mapping) else item


# Templates

#: The ``MessageTemplate`` fields that are Jinja templates over a row (``sender`` is required).
TEMPLATE_TEXT_FIELDS = ("sender", "to", "subject", "text_body", "html_body", "cc", "bcc", "reply_to", "template_id")


def check_template_fields(fields: Mapping[str, Any]) -> None:
    """Refuse wrong types in template fields, naming the field (shared with the bulk operator).

    Text fields are strings or ``None`` (``sender`` a string); ``custom_headers`` maps strings
    to strings; ``template_data`` is a mapping with string keys. What the values may contain
    is ``Email``'s business, checked per row once rendered.

    >>> check_template_fields({"sender": "ops@example.com", "to": 5})  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    Smtp2goValidationError: to: expected a template string, got int
    """
    for name in TEMPLATE_TEXT_FIELDS:
        value = fields.get(name)
        if not (isinstance(value, str) or (value is None and name != "sender")):
            raise Smtp2goValidationError(name, "type", f"expected a template string, got {type(value).__name__}")
    headers = fields.get("custom_headers")
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise Smtp2goValidationError(
                "custom_headers", "type", f"expected a mapping of header name to template, got {type(headers).__name__}"
            )
        for header, value in headers.items():
            if not isinstance(header, str) or not isinstance(value, str):
                raise Smtp2goValidationError(
                    f"custom_headers[{header}]", "type", f"expected a template string, got {type(value).__name__}"
                )
    data = fields.get("template_data")
    if data is not None and not (isinstance(data, Mapping) and all(isinstance(k, str) for k in data)):
        raise Smtp2goValidationError("template_data", "type", "expected a mapping with string keys")


def _environment(autoescape: bool) -> jinja2.Environment:
    try:
        from jinja2 import StrictUndefined  # noqa: PLC0415
        from jinja2.sandbox import SandboxedEnvironment  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - jinja2 ships with Airflow
        raise ImportError("bulk sending with Jinja templates needs jinja2: pip install jinja2") from exc
    # Sandboxed: rows are data from elsewhere and must not reach Python internals through a template.
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=True, finalize=_refuse_none
    )


class _RenderedNone(Exception):
    """A ``{{ ... }}`` expression gave ``None`` (an empty CSV cell, a null in JSON)."""


def _refuse_none(value: Any) -> Any:
    # Jinja would print "None" into the email; a missing value is an error, as an undefined name is.
    if value is None:
        raise _RenderedNone
    return value


@dataclass(frozen=True)
class MessageTemplate:
    """How one row becomes one email. Every string field is a Jinja template over the row.

    :param sender: the From address (verified in SMTP2GO).
    :param to: recipients; renders to one address or a comma-separated list (default ``{{ email }}``).
    :param subject: subject (ignored by SMTP2GO when ``template_id`` is set).
    :param text_body: plain-text body template.
    :param html_body: HTML body template; row values are HTML-escaped.
    :param cc: optional cc recipients (comma-separated after rendering).
    :param bcc: optional bcc recipients.
    :param reply_to: optional Reply-To address.
    :param custom_headers: extra headers; values are templates.
    :param template_id: an SMTP2GO template id instead of subject/bodies.
    :param template_data: with ``template_id``: ``None`` sends the whole row; a mapping sends
        its keys with string values rendered as templates.
    :param fastaccept: ask SMTP2GO to accept immediately and send in the background.
    :param schedule: send every row later (an aware datetime or a string, within SMTP2GO's
        3-day window); each accepted row's ``schedule_id`` goes into the report.

    Wrong types are refused here, naming the field (``Smtp2goValidationError``), so a template
    written ``text_body={...}`` or ``to=5`` fails where it was written, not as a mangled email.

    >>> MessageTemplate(sender="ops@example.com", template_id="welcome").fingerprint() == \\
    ...     MessageTemplate(sender="ops@example.com", template_id="welcome").fingerprint()
    True
    """

    sender: str
    to: str = "{{ email }}"
    subject: str | None = None
    text_body: str | None = None
    html_body: str | None = None
    cc: str | None = None
    bcc: str | None = None
    reply_to: str | None = None
    custom_headers: Mapping[str, str] | None = None
    template_id: str | None = None
    template_data: Mapping[str, Any] | None = None
    fastaccept: bool = False
    schedule: datetime | str | None = None

    def __post_init__(self) -> None:
        check_template_fields(
            {name: getattr(self, name) for name in (*TEMPLATE_TEXT_FIELDS, "custom_headers", "template_data")}
        )

    def fingerprint(self) -> str:
        """A hash of everything that shapes the email (part of every row's idempotency key)."""
        return fingerprint(
            {
                "sender": self.sender,
                "to": self.to,
                "subject": self.subject,
                "text_body": self.text_body,
                "html_body": self.html_body,
                "cc": self.cc,
                "bcc": self.bcc,
                "reply_to": self.reply_to,
                "custom_headers": dict(self.custom_headers or {}),
                "template_id": self.template_id,
                "template_data": None if self.template_data is None else dict(self.template_data),
                "fastaccept": self.fastaccept,
                # Only when set, so keys of unscheduled rows stay what earlier versions made.
                **({"schedule": str(self.schedule)} if self.schedule is not None else {}),
            }
        )

    def compile(self) -> CompiledTemplate:
        """Parse every template once; syntax errors are reported by field before any row."""
        return CompiledTemplate(self)


class CompiledTemplate:
    """A ``MessageTemplate`` with its Jinja templates parsed (render many rows cheaply)."""

    def __init__(self, template: MessageTemplate) -> None:
        if template.custom_headers and any(k.lower() == IDEMPOTENCY_HEADER.lower() for k in template.custom_headers):
            raise Smtp2goValidationError(
                "custom_headers", "reserved", f"{IDEMPOTENCY_HEADER} is set by the bulk sender itself"
            )
        if template.template_id is None and not template.subject:
            raise Smtp2goValidationError("subject", "required", "give a subject template (or a template_id)")
        if template.template_id is None and not (template.text_body or template.html_body):
            raise Smtp2goValidationError("body", "required", "give text_body or html_body (or a template_id)")
        if template.template_data is not None and template.template_id is None:
            raise Smtp2goValidationError("template_data", "requires", "only makes sense with template_id")
        self.template = template
        self.fingerprint = template.fingerprint()
        text_env, html_env = _environment(autoescape=False), _environment(autoescape=True)
        self._fields: dict[str, jinja2.Template] = {}
        for name in ("sender", "to", "subject", "text_body", "cc", "bcc", "reply_to", "template_id"):
            source = getattr(template, name)
            if source is not None:
                self._fields[name] = self._parse(text_env, name, str(source))
        if template.html_body is not None:
            self._fields["html_body"] = self._parse(html_env, "html_body", template.html_body)
        self._headers = {
            name: self._parse(text_env, f"custom_headers[{name}]", str(value))
            for name, value in (template.custom_headers or {}).items()
        }
        self._data = {
            name: self._parse(text_env, f"template_data[{name}]", value) if isinstance(value, str) else value
            for name, value in (template.template_data or {}).items()
        }

    @staticmethod
    def _parse(env: jinja2.Environment, field_name: str, source: str) -> jinja2.Template:
        import jinja2  # noqa: PLC0415

        try:
            return env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise Smtp2goValidationError(field_name, "template", f"bad Jinja syntax: {exc}") from None

    def render(self, row: Mapping[str, Any], index: int, *, key: str) -> Email:
        """Render ``row`` into a validated ``Email`` carrying its idempotency header.

        Raises ``Smtp2goValidationError`` whose ``field`` names the template or email field.
        """
        import jinja2  # noqa: PLC0415

        context = {"row": row, "row_index": index, **row}
        values: dict[str, Any] = {}
        current = ""
        try:
            for name, tpl in self._fields.items():
                current = name
                values[name] = tpl.render(context)
            headers = {}
            for name, tpl in self._headers.items():
                current = f"custom_headers[{name}]"
                headers[name] = tpl.render(context)
            data: dict[str, Any] | None = None
            if self.template.template_id is not None:
                if self.template.template_data is None:
                    data = json.loads(canonical_json(dict(row)))
                else:
                    data = {}
                    for name, value in self._data.items():
                        current = f"template_data[{name}]"
                        data[name] = value.render(context) if isinstance(value, jinja2.Template) else value
        except _RenderedNone:
            raise Smtp2goValidationError(
                current, "none", "an expression gave None (a missing value?); use {{ x or '' }} to allow it"
            ) from None
        except jinja2.UndefinedError as exc:
            raise Smtp2goValidationError(current, "undefined", str(exc)) from None
        except jinja2.TemplateError as exc:
            raise Smtp2goValidationError(current, "template", str(exc)) from None
        headers[IDEMPOTENCY_HEADER] = key
        return Email(
            sender=values["sender"].strip(),
            to=values["to"],
            subject=values.get("subject"),
            text_body=values.get("text_body"),
            html_body=values.get("html_body"),
            cc=values.get("cc") or None,
            bcc=values.get("bcc") or None,
            reply_to=(values.get("reply_to") or "").strip() or None,
            custom_headers=headers,
            template_id=values.get("template_id"),
            template_data=data,
            fastaccept=self.template.fastaccept,
            schedule=self.template.schedule,
        )


def prepare_rows(
    rows: Iterable[Any],
    template: MessageTemplate | CompiledTemplate,
    *,
    namespace: str,
    on_invalid: OnInvalid = "fail",
    max_size_bytes: int | None = DEFAULT_MAX_SIZE_BYTES,
) -> PreparedBatch:
    """Render and validate every row; raise ``InvalidRowsError`` or skip bad rows.

    Rows with identical content would get the same idempotency key (and be the same email),
    so a repeat is reported as invalid (rule ``duplicate``) rather than silently merged.
    """
    if on_invalid not in ("fail", "skip"):
        raise Smtp2goValidationError("on_invalid", "choice", f"must be 'fail' or 'skip', not {on_invalid!r}")
    compiled = template if isinstance(template, CompiledTemplate) else template.compile()
    batch = PreparedBatch()
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        batch.total += 1
        if not isinstance(row, Mapping):
            batch.invalid.append(RowError(index, "row", "type", f"expected a mapping, got {type(row).__name__}"))
            continue
        bad_key = next((k for k in row if not isinstance(k, str)), None)
        if bad_key is not None:
            batch.invalid.append(
                RowError(
                    index, "row", "type", f"column names must be strings, got {bad_key!r} ({type(bad_key).__name__})"
                )
            )
            continue
        key = idempotency_key(namespace, compiled.fingerprint, row)
        if key in seen:
            batch.invalid.append(RowError(index, "row", "duplicate", f"same content as row {seen[key]}"))
            continue
        seen[key] = index
        try:
            email = compiled.render(row, index, key=key)
            if max_size_bytes is not None:
                email.to_payload(max_size_bytes)
        except Smtp2goValidationError as exc:
            message = str(exc).removeprefix(f"{exc.field}: ")
            batch.invalid.append(RowError(index, exc.field, exc.rule, message))
            continue
        batch.valid.append(PreparedRow(index=index, key=key, email=email))
    if batch.invalid and on_invalid == "fail":
        raise InvalidRowsError(batch.invalid, batch.total)
    return batch
