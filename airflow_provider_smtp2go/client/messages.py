"""What an email is, and every rule it must pass before a byte goes on the wire.

``Email`` validates in its constructor, so a bad address or an injected header is caught where
it was written (at DAG parse time, at ``logger.error`` time), not in a failed request later.
The size limit depends on the account, so it is checked when the payload is built.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from os import PathLike, fspath
from pathlib import Path
from typing import Any

from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES, MAX_RECIPIENTS_PER_FIELD

FORBIDDEN_CUSTOM_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
# RFC 5322 field-name: printable US-ASCII except colon.
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_HEADER_REGISTRY = HeaderRegistry()
# A strict subset of RFC 5322 (dot-atom local part, LDH domain labels, plain display name)
# whose canonical form is the input itself. It skips the stdlib header parser (~80 µs per
# address), which matters for bulk sends; anything else still takes the full parser.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SIMPLE_ADDRESS = re.compile(
    rf"^(?:(?P<name>[A-Za-z0-9][A-Za-z0-9 ]*[A-Za-z0-9]|[A-Za-z0-9]) <)?"
    rf"{_ATEXT}(?:\.{_ATEXT})*@{_LABEL}(?:\.{_LABEL})+(?(name)>)$"
)

Recipients = str | Iterable[str] | None


def _reject_crlf(field_name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise Smtp2goValidationError(field_name, "crlf", "must not contain CR or LF characters (header injection)")


def normalize_address(value: str, field_name: str = "address") -> str:
    """Parse one RFC 5322 address (``"Name <a@b.c>"`` or ``"a@b.c"``) and return it canonical.

    >>> normalize_address('Jane Doe <jane@example.com>')
    'Jane Doe <jane@example.com>'
    """
    if not isinstance(value, str):
        raise Smtp2goValidationError(field_name, "type", f"expected a string, got {type(value).__name__}")
    _reject_crlf(field_name, value)
    text = value.strip()
    if not text:
        raise Smtp2goValidationError(field_name, "address", "is empty")
    if _SIMPLE_ADDRESS.match(text) and "  " not in text:
        return text
    try:
        header = _HEADER_REGISTRY("to", text)
        addresses = header.addresses  # type: ignore[attr-defined]
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise Smtp2goValidationError(field_name, "address", f"{text!r} is not an email address ({exc})") from None
    if len(addresses) != 1 or header.defects:
        raise Smtp2goValidationError(field_name, "address", f"{text!r} is not exactly one valid RFC 5322 address")
    address: Address = addresses[0]
    if not address.username or not address.domain or "." not in address.domain.strip("."):
        raise Smtp2goValidationError(field_name, "address", f"{text!r} needs a local part and a domain")
    return str(address)


def normalize_recipients(value: Recipients, field_name: str) -> tuple[str, ...]:
    """Accept a list or a comma/semicolon separated string; validate each address and the count."""
    if value is None:
        return ()
    items: list[str]
    if isinstance(value, str):
        items = [part for part in re.split(r"[,;]", value) if part.strip()]
        # A display name may itself contain a comma ("Doe, Jane <j@x.org>"): let the
        # header parser split the string when naive splitting broke a quoted name.
        if any('"' in part for part in items):
            try:
                header = _HEADER_REGISTRY("to", value)
                items = [str(a) for a in header.addresses]  # type: ignore[attr-defined]
            except (HeaderParseError, IndexError, ValueError):
                pass
    else:
        items = list(value)
    if len(items) > MAX_RECIPIENTS_PER_FIELD:
        raise Smtp2goValidationError(
            field_name,
            "max_recipients",
            f"has {len(items)} addresses; SMTP2GO accepts at most {MAX_RECIPIENTS_PER_FIELD}",
        )
    return tuple(normalize_address(item, f"{field_name}[{i}]") for i, item in enumerate(items))


@dataclass(frozen=True)
class Attachment:
    """A file attached to (or inlined in) an email: bytes, a local path, or a URL SMTP2GO fetches.

    >>> Attachment.from_bytes("report.csv", b"a,b\\n1,2\\n").mimetype
    'text/csv'
    >>> Attachment.from_url("https://example.com/logo.png").filename
    'logo.png'
    """

    filename: str
    content: bytes | None = None
    url: str | None = None
    mimetype: str | None = None

    def __post_init__(self) -> None:
        _reject_crlf("attachments.filename", self.filename)
        if not self.filename.strip():
            raise Smtp2goValidationError("attachments.filename", "required", "an attachment needs a filename")
        if (self.content is None) == (self.url is None):
            raise Smtp2goValidationError(
                f"attachments[{self.filename}]", "source", "give exactly one of content or url"
            )
        if self.url is not None and not self.url.lower().startswith(("https://", "http://")):
            raise Smtp2goValidationError(f"attachments[{self.filename}]", "url", "must be an http(s) URL")
        if self.mimetype is None:
            guessed = mimetypes.guess_type(self.filename)[0] or "application/octet-stream"
            object.__setattr__(self, "mimetype", guessed)

    @classmethod
    def from_bytes(cls, filename: str, content: bytes, mimetype: str | None = None) -> Attachment:
        """An attachment from in-memory bytes."""
        return cls(filename=filename, content=bytes(content), mimetype=mimetype)

    @classmethod
    def from_path(
        cls, path: str | PathLike[str], filename: str | None = None, mimetype: str | None = None
    ) -> Attachment:
        """An attachment read from a local file now (so a missing file fails before sending)."""
        file_path = Path(fspath(path))
        try:
            content = file_path.read_bytes()
        except OSError as exc:
            raise Smtp2goValidationError(
                "attachments", "file", f"cannot read {file_path}: {exc.strerror or exc}"
            ) from None
        return cls(filename=filename or file_path.name, content=content, mimetype=mimetype)

    @classmethod
    def from_url(cls, url: str, filename: str | None = None, mimetype: str | None = None) -> Attachment:
        """An attachment SMTP2GO downloads itself (cached by SMTP2GO for 24 hours)."""
        name = filename or url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "attachment"
        return cls(filename=name, url=url, mimetype=mimetype)

    def to_payload(self) -> dict[str, str]:
        """The JSON object SMTP2GO expects in ``attachments``/``inlines``."""
        body: dict[str, str] = {"filename": self.filename, "mimetype": self.mimetype or ""}
        if self.url is not None:
            body["url"] = self.url
        else:
            body["fileblob"] = base64.b64encode(self.content or b"").decode("ascii")
        return body


def _coerce_attachments(value: Iterable[Any] | None, field_name: str) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    result = []
    for item in value:
        if isinstance(item, Attachment):
            result.append(item)
        elif isinstance(item, (str, PathLike)):
            text = fspath(item)
            if text.lower().startswith(("https://", "http://")):
                result.append(Attachment.from_url(text))
            else:
                result.append(Attachment.from_path(text))
        else:
            raise Smtp2goValidationError(
                field_name, "type", f"expected Attachment, a path or a URL, got {type(item).__name__}"
            )
    return tuple(result)


def _coerce_headers(
    value: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    pairs = list(value.items()) if isinstance(value, Mapping) else [tuple(pair) for pair in value]
    result = []
    for pair in pairs:
        if len(pair) != 2:
            raise Smtp2goValidationError("custom_headers", "type", "expected (name, value) pairs")
        name, header_value = str(pair[0]).strip(), str(pair[1])
        if not _HEADER_NAME.match(name):
            raise Smtp2goValidationError("custom_headers", "header_name", f"{name!r} is not a valid header name")
        if name.lower() in FORBIDDEN_CUSTOM_HEADERS:
            raise Smtp2goValidationError(
                "custom_headers", "forbidden_header", f"SMTP2GO does not allow setting {name!r}"
            )
        _reject_crlf(f"custom_headers[{name}]", header_value)
        result.append((name, header_value))
    return tuple(result)


def format_schedule(when: datetime | str) -> str:
    """SMTP2GO's schedule timestamp: ``"2025-09-10 13:15:00 +1200"`` (aware datetimes only)."""
    if isinstance(when, str):
        _reject_crlf("schedule", when)
        return when
    if when.tzinfo is None or when.utcoffset() is None:
        raise Smtp2goValidationError(
            "schedule", "timezone", "needs a timezone-aware datetime (a naive one is ambiguous)"
        )
    return when.strftime("%Y-%m-%d %H:%M:%S %z")


@dataclass(frozen=True)
class Email:
    """One email for ``/email/send``, validated on construction.

    Recipients may be lists or comma-separated strings. ``template_id`` replaces subject and
    bodies with an SMTP2GO template rendered with ``template_data``.

    >>> mail = Email(sender="Reports <reports@example.com>", to="ops@example.com, dev@example.com",
    ...              subject="Daily report", text_body="All good.")
    >>> mail.to
    ('ops@example.com', 'dev@example.com')
    """

    sender: str
    to: Recipients
    subject: str | None = None
    text_body: str | None = None
    html_body: str | None = None
    cc: Recipients = None
    bcc: Recipients = None
    reply_to: str | None = None
    custom_headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None
    attachments: Iterable[Attachment | str | PathLike[str]] | None = None
    inlines: Iterable[Attachment | str | PathLike[str]] | None = None
    template_id: str | None = None
    template_data: Mapping[str, Any] | None = None
    schedule: datetime | str | None = None
    fastaccept: bool = False

    def __post_init__(self) -> None:
        setattr_ = object.__setattr__
        setattr_(self, "sender", normalize_address(self.sender, "sender"))
        to = normalize_recipients(self.to, "to")
        if not to:
            raise Smtp2goValidationError("to", "required", "at least one recipient is required")
        setattr_(self, "to", to)
        setattr_(self, "cc", normalize_recipients(self.cc, "cc"))
        setattr_(self, "bcc", normalize_recipients(self.bcc, "bcc"))
        if self.reply_to is not None:
            setattr_(self, "reply_to", normalize_address(self.reply_to, "reply_to"))
        headers = _coerce_headers(self.custom_headers)
        if self.reply_to is not None and any(name.lower() == "reply-to" for name, _ in headers):
            raise Smtp2goValidationError("reply_to", "conflict", "given both as reply_to and as a custom header")
        setattr_(self, "custom_headers", headers)
        setattr_(self, "attachments", _coerce_attachments(self.attachments, "attachments"))
        setattr_(self, "inlines", _coerce_attachments(self.inlines, "inlines"))
        if self.subject is not None:
            _reject_crlf("subject", self.subject)
        if self.template_id is not None:
            _reject_crlf("template_id", self.template_id)
            if not self.template_id.strip():
                raise Smtp2goValidationError("template_id", "required", "is empty")
        else:
            if not (self.subject or "").strip():
                raise Smtp2goValidationError("subject", "required", "a subject is required without template_id")
            if not (self.text_body or self.html_body):
                raise Smtp2goValidationError("body", "required", "give text_body or html_body (or use template_id)")
        if self.template_data is not None:
            if self.template_id is None:
                raise Smtp2goValidationError("template_data", "requires", "only makes sense with template_id")
            try:
                json.dumps(self.template_data)
            except (TypeError, ValueError) as exc:
                raise Smtp2goValidationError("template_data", "json", f"is not JSON-serialisable: {exc}") from None
        if self.schedule is not None:
            formatted = format_schedule(self.schedule)
            if isinstance(self.schedule, datetime):
                now = datetime.now(timezone.utc)
                if self.schedule <= now:
                    raise Smtp2goValidationError("schedule", "future", "must be in the future")
                if self.schedule > now + timedelta(days=3):
                    raise Smtp2goValidationError("schedule", "window", "must be within the next 3 days")
            setattr_(self, "schedule", formatted)

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient: to, cc and bcc."""
        return (*self._tuple("to"), *self._tuple("cc"), *self._tuple("bcc"))

    def _tuple(self, name: str) -> tuple[str, ...]:
        value = getattr(self, name)
        return value if isinstance(value, tuple) else ()

    def to_payload(self, max_size_bytes: int | None = DEFAULT_MAX_SIZE_BYTES) -> dict[str, Any]:
        """The ``/email/send`` JSON body (without the key), enforcing the total size limit.

        The limit counts the serialised request, so attachments count after base64 (about a
        third larger than the file).
        """
        body: dict[str, Any] = {"sender": self.sender, "to": list(self._tuple("to"))}
        for name in ("cc", "bcc"):
            if self._tuple(name):
                body[name] = list(self._tuple(name))
        if self.template_id is not None:
            body["template_id"] = self.template_id
            if self.template_data is not None:
                body["template_data"] = dict(self.template_data)
        if self.subject is not None:
            body["subject"] = self.subject
        if self.text_body is not None:
            body["text_body"] = self.text_body
        if self.html_body is not None:
            body["html_body"] = self.html_body
        headers = list(self.custom_headers or ())
        if self.reply_to is not None:
            headers.append(("Reply-To", self.reply_to))
        if headers:
            body["custom_headers"] = [{"header": name, "value": value} for name, value in headers]
        for name in ("attachments", "inlines"):
            items = getattr(self, name)
            if items:
                body[name] = [item.to_payload() for item in items]
        if self.schedule is not None:
            body["schedule"] = self.schedule
        if self.fastaccept:
            body["fastaccept"] = True
        if max_size_bytes is not None:
            check_size(body, max_size_bytes)
        return body


def check_size(body: Mapping[str, Any], max_size_bytes: int) -> int:
    """Raise when the serialised body exceeds ``max_size_bytes``; return its size."""
    size = len(json.dumps(body, separators=(",", ":")).encode("utf-8"))
    if size > max_size_bytes:
        raise Smtp2goValidationError(
            "size",
            "max_size",
            f"the email is {size / 1048576:.1f} MiB once encoded (attachments count after base64); "
            f"the limit is {max_size_bytes / 1048576:.1f} MiB",
        )
    return size
