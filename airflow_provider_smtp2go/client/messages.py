"""What an email is, and every rule it must pass before a byte goes on the wire.

``Email`` validates in its constructor, so a bad address, a wrong type or an injected header
is caught where it was written (at DAG parse time, at ``logger.error`` time), not in a failed
request later. Every error is a ``Smtp2goValidationError`` naming the field. The size limit
depends on the account, so it is checked when the payload is built; a file is checked (its
type and size) before it is read.
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import re
import stat
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.errors import HeaderParseError, NonASCIILocalPartDefect
from email.headerregistry import Address, HeaderRegistry
from os import PathLike, fspath
from pathlib import PurePath
from typing import Any

from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES, MAX_RECIPIENTS_PER_FIELD, MAX_SCHEDULE_AHEAD

FORBIDDEN_CUSTOM_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
#: Headers that have their own field (the value): set as custom headers they would get round
#: address validation and the 100-recipient cap (a ``Bcc`` header is an unchecked recipient list).
FIELD_HEADERS = {"to": "to", "cc": "cc", "bcc": "bcc", "from": "sender", "sender": "sender"}
# RFC 5322 field-name: printable US-ASCII except colon.
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# C0 controls except TAB, DEL, the C1 controls (NEL, U+0085, among them) and the Unicode line
# and paragraph separators: some mail software somewhere ends a header line at each of them.
_HEADER_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
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
_SCHEDULE_FORMAT = "%Y-%m-%d %H:%M:%S %z"
# Files are read in pieces of this size once they turn out larger than ``stat`` said.
_READ_CHUNK = 1024 * 1024
_MIB = 1024 * 1024

Recipients = str | Iterable[str] | None


def header_text(field_name: str, value: object) -> str:
    """``value`` if it is text that is safe in a header line, else raise naming ``field_name``.

    The one rule for every header-bound field (subject, addresses and display names, custom
    header values, attachment filenames, template id, schedule): a string without control
    characters (TAB is allowed) and without U+2028/U+2029, any of which can end a header line.

    >>> header_text("subject", "Daily report")
    'Daily report'
    >>> header_text("subject", "Hi\\u2028Bcc: victim@example.com")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    Smtp2goValidationError: subject: must not contain U+2028
    """
    if not isinstance(value, str):
        raise Smtp2goValidationError(field_name, "type", f"expected a string, got {type(value).__name__}")
    found = _HEADER_UNSAFE.search(value)
    if found is not None:
        char = found.group()
        if char in "\r\n":
            raise Smtp2goValidationError(field_name, "crlf", "must not contain CR or LF characters (header injection)")
        raise Smtp2goValidationError(
            field_name,
            "control",
            f"must not contain U+{ord(char):04X} (at position {found.start()}): control characters and "
            "line separators can end a header line (header injection)",
        )
    return value


def optional_text(field_name: str, value: object) -> str | None:
    """``value`` if it is ``None`` or a string (a body), else raise naming ``field_name``."""
    if value is None or isinstance(value, str):
        return value
    raise Smtp2goValidationError(field_name, "type", f"expected a string, got {type(value).__name__}")


def parse_flag(field_name: str, value: object) -> bool:
    """A yes/no setting: ``True``/``False``, or exactly ``"true"``/``"false"`` in any case.

    Anything else is refused: ``bool("false")`` is true, so a loose reading would flip it.

    >>> parse_flag("fastaccept", "False"), parse_flag("fastaccept", True)
    (False, True)
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Smtp2goValidationError(field_name, "type", f"expected True or False, got {value!r}")


def normalize_address(value: str, field_name: str = "address") -> str:
    """Parse one RFC 5322 address (``"Name <a@b.c>"`` or ``"a@b.c"``) and return it canonical.

    An internationalised domain is IDNA-encoded, since SMTP2GO's API takes ASCII domains. A
    non-ASCII local part is refused: it needs SMTPUTF8, which SMTP2GO does not document.

    >>> normalize_address('Jane Doe <jane@example.com>')
    'Jane Doe <jane@example.com>'
    >>> normalize_address('user@bücher.example')
    'user@xn--bcher-kva.example'
    """
    text = header_text(field_name, value).strip()
    if not text:
        raise Smtp2goValidationError(field_name, "address", "is empty")
    if _SIMPLE_ADDRESS.match(text) and "  " not in text:
        return text
    try:
        header = _HEADER_REGISTRY("to", text)
        addresses = header.addresses  # type: ignore[attr-defined]
    except (HeaderParseError, IndexError, ValueError) as exc:
        raise Smtp2goValidationError(field_name, "address", f"{text!r} is not an email address ({exc})") from None
    if any(isinstance(defect, NonASCIILocalPartDefect) for defect in header.defects):
        raise Smtp2goValidationError(
            field_name,
            "non_ascii",
            f"{text!r} has non-ASCII characters before the @; that needs SMTPUTF8, which SMTP2GO's API "
            "does not document (non-ASCII domains are fine: they are IDNA-encoded)",
        )
    if len(addresses) != 1 or header.defects:
        raise Smtp2goValidationError(field_name, "address", f"{text!r} is not exactly one valid RFC 5322 address")
    address: Address = addresses[0]
    if not address.username or not address.domain or "." not in address.domain.strip("."):
        raise Smtp2goValidationError(field_name, "address", f"{text!r} needs a local part and a domain")
    if address.domain.isascii():
        return str(address)
    domain = _idna_domain(address.domain, field_name, text)
    return str(Address(display_name=address.display_name, username=address.username, domain=domain))


def _idna_domain(domain: str, field_name: str, text: str) -> str:
    # Python's codec is IDNA 2003, whose mapping can quietly change a name (ß -> ss, dropped
    # joiners) where IDNA 2008 would not: refuse those rather than mail another domain.
    try:
        encoded = domain.encode("idna").decode("ascii")
        round_trip = encoded.encode("ascii").decode("idna")
    except UnicodeError as exc:
        raise Smtp2goValidationError(
            field_name, "idna", f"{text!r}: the domain cannot be IDNA-encoded ({exc})"
        ) from None
    if round_trip.lower() != unicodedata.normalize("NFKC", domain).lower():
        raise Smtp2goValidationError(
            field_name,
            "idna",
            f"{text!r}: IDNA encoding would change the domain to {round_trip!r}; give its ASCII form (xn--...)",
        )
    return encoded


def _split_addresses(text: str) -> list[str]:
    items = [part for part in re.split(r"[,;]", text) if part.strip()]
    # A display name may itself contain a comma ("Doe, Jane <j@x.org>"): let the header
    # parser split the string when naive splitting broke a quoted name.
    if any('"' in part for part in items):
        try:
            header = _HEADER_REGISTRY("to", text)
            items = [str(a) for a in header.addresses]  # type: ignore[attr-defined]
        except (HeaderParseError, IndexError, ValueError):
            pass
    return items


def normalize_recipients(value: Recipients, field_name: str) -> tuple[str, ...]:
    """Validated addresses from a string, a list of strings, or a mix of both.

    A string (and every string in a list) may hold several addresses separated by ``,`` or
    ``;``, so nobody needs to split them first. At most 100 addresses in all; errors name
    the address by its position (``to[3]``).

    >>> normalize_recipients(["ops@example.com", "a@example.com; b@example.com"], "to")
    ('ops@example.com', 'a@example.com', 'b@example.com')
    """
    if value is None:
        return ()
    items: list[str]
    if isinstance(value, str):
        items = _split_addresses(value)
    elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise Smtp2goValidationError(
            field_name, "type", f"expected addresses as a string or a list of strings, got {type(value).__name__}"
        )
    else:
        items = []
        for item in value:
            if not isinstance(item, str):
                raise Smtp2goValidationError(
                    f"{field_name}[{len(items)}]", "type", f"expected an address string, got {type(item).__name__}"
                )
            items.extend(_split_addresses(item) if ("," in item or ";" in item) else [item])
    if len(items) > MAX_RECIPIENTS_PER_FIELD:
        raise Smtp2goValidationError(
            field_name,
            "max_recipients",
            f"has {len(items)} addresses; SMTP2GO accepts at most {MAX_RECIPIENTS_PER_FIELD}",
        )
    return tuple(normalize_address(item, f"{field_name}[{i}]") for i, item in enumerate(items))


def read_regular_file(path: str | PathLike[str], *, max_bytes: int, field_name: str = "attachments") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, checked before and while reading.

    Anything but a regular file (a FIFO, a device such as ``/dev/zero``, a directory) is refused
    from ``stat``, before it is opened, so nothing can hang or exhaust memory; so is a file
    that ``stat`` says is too large. The read itself stops at ``max_bytes + 1``, so a file
    that grows meanwhile is refused too.

    >>> read_regular_file("/dev/zero", max_bytes=10)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    Smtp2goValidationError: attachments: /dev/zero is a character device, not a regular file
    """
    name = fspath(path)
    try:
        info = os.stat(name)
    except OSError as exc:
        raise Smtp2goValidationError(field_name, "file", f"cannot read {name}: {exc.strerror or exc}") from None
    _check_regular(info.st_mode, name, field_name)
    check_file_size(info.st_size, max_bytes, name, field_name)
    # O_NONBLOCK: should the path have become a FIFO since stat, opening it must not wait for a writer.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise Smtp2goValidationError(field_name, "file", f"cannot read {name}: {exc.strerror or exc}") from None
    with open(fd, "rb", buffering=0) as handle:
        _check_regular(os.fstat(fd).st_mode, name, field_name)
        # One read of the expected size (no copy in the usual case); more only if it grew.
        parts: list[bytes] = []
        total, want = 0, min(info.st_size, max_bytes) + 1
        while total <= max_bytes:
            chunk = handle.read(min(want, max_bytes + 1 - total))
            if not chunk:
                break
            parts.append(chunk)
            total += len(chunk)
            want = _READ_CHUNK
    check_file_size(total, max_bytes, name, field_name, measured=False)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _check_regular(mode: int, name: str, field_name: str) -> None:
    if stat.S_ISREG(mode):
        return
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    kind = next((label for test, label in kinds if test(mode)), "not a file")
    raise Smtp2goValidationError(field_name, "file_type", f"{name} is {kind}, not a regular file")


def check_file_size(size: int, max_bytes: int, name: str, field_name: str, *, measured: bool = True) -> None:
    """Refuse a file of ``size`` bytes over ``max_bytes`` (``measured=False``: it grew while read)."""
    if size > max_bytes:
        what = f"is {_format_size(size)}, over" if measured else "grew while it was read, past"
        raise Smtp2goValidationError(
            field_name,
            "max_size",
            f"{name} {what} the {_format_size(max_bytes)} limit (pass a larger max_bytes for an account "
            "that allows more)",
        )


def _format_size(size: int) -> str:
    return f"{size / _MIB:.1f} MiB" if size >= _MIB else f"{size:,} bytes"


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
        mimetype = _check_attachment("attachments", self.filename, self.content, self.url, self.mimetype)
        object.__setattr__(self, "mimetype", mimetype)

    @classmethod
    def from_bytes(
        cls, filename: str, content: bytes, mimetype: str | None = None, *, field_name: str = "attachments"
    ) -> Attachment:
        """An attachment from in-memory bytes."""
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise Smtp2goValidationError(field_name, "type", f"content must be bytes, got {type(content).__name__}")
        _check_attachment(field_name, filename, content, None, mimetype)
        return cls(filename=filename, content=bytes(content), mimetype=mimetype)

    @classmethod
    def from_path(
        cls,
        path: str | PathLike[str],
        filename: str | None = None,
        mimetype: str | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_SIZE_BYTES,
        field_name: str = "attachments",
    ) -> Attachment:
        """An attachment read from a local regular file now (so a bad file fails before sending).

        The file is refused, before it is read, when it is not a regular file or is larger than
        ``max_bytes`` (by default the client's default size limit, which a larger file can never
        fit: attachments count after base64).
        """
        name = filename if filename is not None else PurePath(fspath(path)).name
        _check_attachment(field_name, name, b"", None, mimetype)
        content = read_regular_file(path, max_bytes=max_bytes, field_name=field_name)
        return cls(filename=name, content=content, mimetype=mimetype)

    @classmethod
    def from_url(
        cls, url: str, filename: str | None = None, mimetype: str | None = None, *, field_name: str = "attachments"
    ) -> Attachment:
        """An attachment SMTP2GO downloads itself (cached by SMTP2GO for 24 hours)."""
        header_text(f"{field_name}.url", url)
        name = filename or url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "attachment"
        _check_attachment(field_name, name, None, url, mimetype)
        return cls(filename=name, url=url, mimetype=mimetype)

    def to_payload(self) -> dict[str, str]:
        """The JSON object SMTP2GO expects in ``attachments``/``inlines``."""
        body: dict[str, str] = {"filename": self.filename, "mimetype": self.mimetype or ""}
        if self.url is not None:
            body["url"] = self.url
        else:
            body["fileblob"] = base64.b64encode(self.content or b"").decode("ascii")
        return body

    @property
    def encoded_size(self) -> int:
        """Bytes of ``fileblob`` once base64-encoded (0 for a URL), computed without encoding."""
        return 0 if self.content is None else 4 * ((len(self.content) + 2) // 3)


def _check_attachment(field_name: str, filename: object, content: object, url: object, mimetype: object) -> str:
    """Every rule of an attachment; returns its mimetype (guessed from the filename if unset)."""
    name = header_text(f"{field_name}.filename", filename)
    if not name.strip():
        raise Smtp2goValidationError(f"{field_name}.filename", "required", "an attachment needs a filename")
    if (content is None) == (url is None):
        raise Smtp2goValidationError(field_name, "source", f"{name!r}: give exactly one of content or url")
    if content is not None and not isinstance(content, (bytes, bytearray, memoryview)):
        raise Smtp2goValidationError(field_name, "type", f"content must be bytes, got {type(content).__name__}")
    if url is not None and not header_text(f"{field_name}.url", url).lower().startswith(("https://", "http://")):
        raise Smtp2goValidationError(field_name, "url", f"{name!r}: must be an http(s) URL")
    if mimetype is None:
        return mimetypes.guess_type(name)[0] or "application/octet-stream"
    return header_text(f"{field_name}.mimetype", mimetype)


def _coerce_attachments(value: object, field_name: str) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    if isinstance(value, (Attachment, str, PathLike)):
        value = (value,)  # one path or URL, not a sequence of characters
    elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise Smtp2goValidationError(
            field_name, "type", f"expected a list of Attachment objects, paths or URLs, got {type(value).__name__}"
        )
    result = []
    for index, item in enumerate(value):
        item_field = f"{field_name}[{index}]"
        text = fspath(item) if isinstance(item, PathLike) else item
        if isinstance(item, Attachment):
            result.append(item)
        elif isinstance(text, str) and text.lower().startswith(("https://", "http://")):
            result.append(Attachment.from_url(text, field_name=item_field))
        elif isinstance(text, str):
            result.append(Attachment.from_path(text, field_name=item_field))
        else:
            raise Smtp2goValidationError(
                item_field, "type", f"expected an Attachment, a path or a URL, got {type(item).__name__}"
            )
    return tuple(result)


def _header_pairs(value: object) -> list[tuple[object, object]]:
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise Smtp2goValidationError(
            "custom_headers", "type", f"expected a mapping or (name, value) pairs, got {type(value).__name__}"
        )
    pairs = []
    for pair in value:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(items := tuple(pair)) != 2:
            raise Smtp2goValidationError("custom_headers", "type", "expected (name, value) pairs")
        pairs.append((items[0], items[1]))
    return pairs


def _coerce_headers(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    result = []
    for raw_name, raw_value in _header_pairs(value):
        if not isinstance(raw_name, str):
            raise Smtp2goValidationError(
                "custom_headers", "type", f"header names must be strings, got {type(raw_name).__name__}"
            )
        name = raw_name.strip()
        if not _HEADER_NAME.match(name):
            raise Smtp2goValidationError("custom_headers", "header_name", f"{name!r} is not a valid header name")
        if name.lower() in FORBIDDEN_CUSTOM_HEADERS:
            raise Smtp2goValidationError(
                "custom_headers", "forbidden_header", f"SMTP2GO does not allow setting {name!r}"
            )
        if name.lower() in FIELD_HEADERS:
            raise Smtp2goValidationError(
                "custom_headers",
                "forbidden_header",
                f"set {name!r} with {FIELD_HEADERS[name.lower()]}=, where its addresses are validated and counted",
            )
        # An int is unambiguous (X-Priority: 1); None and other objects would be sent as their repr.
        header_value = str(raw_value) if type(raw_value) is int else raw_value
        result.append((name, header_text(f"custom_headers[{name}]", header_value)))
    return tuple(result)


def parse_schedule(when: object) -> datetime:
    """An aware ``datetime`` from a ``datetime`` or a string with a timezone.

    Strings may be ISO 8601 (``2025-09-10T13:15:00+12:00``, ``...Z``) or SMTP2GO's own
    ``2025-09-10 13:15:00 +1200``; a naive time is ambiguous and refused.

    >>> parse_schedule("2025-09-10T01:15:00Z").isoformat()
    '2025-09-10T01:15:00+00:00'
    """
    if isinstance(when, str):
        text = header_text("schedule", when).strip()
        parsed = _parse_timestamp(text)
        if parsed is None:
            raise Smtp2goValidationError(
                "schedule",
                "format",
                f"{text!r} is not a timestamp: give an aware datetime, or ISO 8601 with a timezone "
                "such as '2025-09-10T13:15:00+12:00'",
            )
        when = parsed
    elif not isinstance(when, datetime):
        raise Smtp2goValidationError(
            "schedule", "type", f"expected a datetime or an ISO 8601 string, got {type(when).__name__}"
        )
    if when.tzinfo is None or when.utcoffset() is None:
        raise Smtp2goValidationError(
            "schedule", "timezone", "needs a timezone-aware datetime (a naive one is ambiguous)"
        )
    return when


def _parse_timestamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(text, _SCHEDULE_FORMAT)
    except ValueError:
        pass
    try:  # Python 3.10's fromisoformat does not read a trailing Z.
        return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)
    except ValueError:
        return None


def format_schedule(when: datetime | str) -> str:
    """SMTP2GO's schedule timestamp, for a moment in the next 3 days (see ``parse_schedule``).

    >>> from datetime import timedelta
    >>> soon = datetime.now(timezone.utc) + timedelta(hours=1)
    >>> format_schedule(soon) == soon.strftime("%Y-%m-%d %H:%M:%S +0000")
    True
    """
    moment = parse_schedule(when)
    now = datetime.now(timezone.utc)
    if moment <= now:
        raise Smtp2goValidationError("schedule", "future", "must be in the future")
    if moment > now + MAX_SCHEDULE_AHEAD:
        raise Smtp2goValidationError("schedule", "window", "must be within the next 3 days")
    return moment.strftime(_SCHEDULE_FORMAT)


@dataclass(frozen=True)
class Email:
    """One email for ``/email/send``, validated on construction.

    Recipients may be lists or comma-separated strings. ``template_id`` replaces subject and
    bodies with an SMTP2GO template rendered with ``template_data``. A wrong type anywhere is
    a ``Smtp2goValidationError`` naming the field, like any other bad input.

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
    attachments: Iterable[Attachment | str | PathLike[str]] | Attachment | str | PathLike[str] | None = None
    inlines: Iterable[Attachment | str | PathLike[str]] | Attachment | str | PathLike[str] | None = None
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
        self._check_content()
        if self.schedule is not None:
            setattr_(self, "schedule", format_schedule(self.schedule))
        setattr_(self, "fastaccept", parse_flag("fastaccept", self.fastaccept))

    def _check_content(self) -> None:
        if self.subject is not None:
            header_text("subject", self.subject)
        optional_text("text_body", self.text_body)
        optional_text("html_body", self.html_body)
        if self.template_id is not None:
            if not header_text("template_id", self.template_id).strip():
                raise Smtp2goValidationError("template_id", "required", "is empty")
        else:
            if not (self.subject or "").strip():
                raise Smtp2goValidationError("subject", "required", "a subject is required without template_id")
            if not (self.text_body or self.html_body):
                raise Smtp2goValidationError("body", "required", "give text_body or html_body (or use template_id)")
        if self.template_data is not None:
            if not isinstance(self.template_data, Mapping):
                raise Smtp2goValidationError(
                    "template_data", "type", f"expected a mapping, got {type(self.template_data).__name__}"
                )
            if self.template_id is None:
                raise Smtp2goValidationError("template_data", "requires", "only makes sense with template_id")
            try:
                json.dumps(self.template_data, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise Smtp2goValidationError(
                    "template_data", "json", f"is not JSON-serialisable (NaN and infinity have no JSON form): {exc}"
                ) from None

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every recipient: to, cc and bcc."""
        return (*self._tuple("to"), *self._tuple("cc"), *self._tuple("bcc"))

    def _tuple(self, name: str) -> tuple[Any, ...]:
        value = getattr(self, name)
        return value if isinstance(value, tuple) else ()

    def to_payload(self, max_size_bytes: int | None = DEFAULT_MAX_SIZE_BYTES) -> dict[str, Any]:
        """The ``/email/send`` JSON body (without the key), enforcing the total size limit.

        The limit counts the serialised request, so attachments count after base64 (about a
        third larger than the file). Attachments alone over the limit are refused before they
        are encoded.
        """
        files: tuple[Attachment, ...] = (*self._tuple("attachments"), *self._tuple("inlines"))
        if max_size_bytes is not None:
            _check_encoded_size(sum(item.encoded_size for item in files), max_size_bytes)
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
    _check_encoded_size(size, max_size_bytes)
    return size


def _check_encoded_size(size: int, max_size_bytes: int) -> None:
    if size > max_size_bytes:
        raise Smtp2goValidationError(
            "size",
            "max_size",
            f"the email is {size / _MIB:.1f} MiB once encoded (attachments count after base64); "
            f"the limit is {max_size_bytes / _MIB:.1f} MiB",
        )
