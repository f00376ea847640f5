"""``/email/send`` and ``/email/mime``: validate like the real API, record, plan events.

Validation failures answer 400 ``NON_VALIDATING_IN_PAYLOAD`` with
``field_validation_errors: {fieldname, message}``.  An accepted message is recorded (see
:class:`~airflow_provider_smtp2go.sandbox.state.ReceivedMessage`) and each recipient gets the
events its address asks for (:mod:`~airflow_provider_smtp2go.sandbox.behaviours`).

Suppressed recipients:

* **all** recipients suppressed → 200 with ``{"succeeded": 0, "failed": 1, "failures": [...],
  "email_id": ...}`` (the real API's "200 with failures"); each gets a ``rejected`` event;
* **some** suppressed → the email is sent to the others: 200 with ``succeeded: 1, failed: 0,
  failures: []``; the suppressed ones get a ``rejected`` event only.  (SMTP2GO counts
  *emails*, not recipients, so a partly delivered email is a success; reporting it as a
  failure would make clients resend it to everybody.)

With ``fastaccept: true`` the answer is just ``{"email_id": ...}``; failures show up only as
events.

Example (the happy path)::

    {"sender": "Ops <ops@example.com>", "to": ["alice@example.com"],
     "subject": "Hi", "text_body": "Hello"}
    -> 200 {"request_id": "...", "data": {"succeeded": 1, "failed": 0, "failures": [],
                                          "email_id": "1u0SwL-B9zBpi9ffUq-JAB2"}}
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from airflow_provider_smtp2go.sandbox.behaviours import PlannedEvent, plan_for, suppressed_plan
from airflow_provider_smtp2go.sandbox.state import (
    AttachmentInfo,
    ReceivedMessage,
    SandboxState,
)
from airflow_provider_smtp2go.sandbox.wire import Response, parse_datetime, success, validation_error
from airflow_provider_smtp2go.templates.rendering import render_template

MAX_RECIPIENTS_PER_FIELD = 100
#: Recipient headers have their own fields (``to``, ``cc``, ``bcc``), where addresses are checked
#: and counted. Whether SMTP2GO refuses them in ``custom_headers`` is UNVERIFIED (its docs list
#: only the three MIME headers below): the sandbox refuses them, so that a client letting one
#: through (a ``Bcc`` header is an unchecked recipient list) fails in tests, not in production.
ADDRESS_CUSTOM_HEADERS = frozenset({"to", "cc", "bcc"})
MIME_CUSTOM_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version"})
FORBIDDEN_CUSTOM_HEADERS = MIME_CUSTOM_HEADERS | ADDRESS_CUSTOM_HEADERS
MAX_SCHEDULE_AHEAD = timedelta(days=3)

_URLSAFE_TO_ALNUM = str.maketrans("-_", "Xq")
_ADDR_PART = (
    r"[^@\s<>()\[\],;:\"\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
# An addr-spec good enough to tell typos from addresses; display names are handled by getaddresses.
_ADDR_SPEC = re.compile(rf"^{_ADDR_PART}$")
# The two shapes nearly every caller sends, checked without the (slow) RFC 822 tokenizer.
_SIMPLE_MAILBOX = re.compile(rf"^\s*(?:[A-Za-z0-9 ._'-]*<({_ADDR_PART})>|({_ADDR_PART}))\s*$")


@dataclass(frozen=True)
class SendContext:
    """What a send handler needs besides the payload."""

    state: SandboxState
    username: str
    max_size_bytes: int


def new_email_id() -> str:
    """An id shaped like SMTP2GO's (``1u0SwL-B9zBpi9ffUq-JAB2``)."""
    # token_urlsafe is ~20x cheaper than 22 secrets.choice calls; fold its two symbols into letters.
    chars = secrets.token_urlsafe(17)[:22].translate(_URLSAFE_TO_ALNUM)
    return f"{chars[:6]}-{chars[6:18]}-{chars[18:]}"


def parse_address(value: object) -> str | None:
    """The bare address of one RFC 822 mailbox (``"Jane <jane@example.com>"``), else ``None``."""
    if not isinstance(value, str) or not value.strip() or "\r" in value or "\n" in value:
        return None
    simple = _SIMPLE_MAILBOX.match(value)
    if simple:
        return simple.group(1) or simple.group(2)
    pairs = getaddresses([value])
    if len(pairs) != 1:
        return None
    addr = pairs[0][1]
    return addr if addr and _ADDR_SPEC.match(addr) else None


def _invalid_address(fieldname: str, value: object) -> Response:
    return validation_error(
        fieldname,
        f"The field '{fieldname}' was expecting a valid RFC-822 formatted email field but found "
        f"{json.dumps(value)[:200]}, Please correct your JSON payload and try again.",
    )


def _address_list(payload: dict[str, Any], fieldname: str, *, required: bool) -> tuple[list[str], list[str]] | Response:
    """(as given, bare addresses) of one recipient field."""
    value = payload.get(fieldname)
    if value is None or value == []:
        if required:
            return validation_error(
                fieldname, f"The field '{fieldname}' is required and must hold at least one recipient."
            )
        return [], []
    if not isinstance(value, list):
        return validation_error(fieldname, f"The field '{fieldname}' was expecting an array of strings.")
    if len(value) > MAX_RECIPIENTS_PER_FIELD:
        return validation_error(
            fieldname,
            f"The field '{fieldname}' holds {len(value)} recipients; the maximum is {MAX_RECIPIENTS_PER_FIELD}.",
        )
    bare: list[str] = []
    for item in value:
        addr = parse_address(item)
        if addr is None:
            return _invalid_address(fieldname, item)
        bare.append(addr)
    return list(value), bare


def _custom_headers(payload: dict[str, Any]) -> dict[str, str] | Response:
    raw = payload.get("custom_headers")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        return validation_error(
            "custom_headers", "The field 'custom_headers' was expecting an array of {header, value} objects."
        )
    headers: dict[str, str] = {}
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("header"), str):
            return validation_error("custom_headers", "Each custom header needs a 'header' and a 'value'.")
        name = item["header"].strip()
        value = item.get("value", "")
        if not isinstance(value, str):
            value = str(value)
        if not name or any(c in name for c in "\r\n: ") or "\r" in value or "\n" in value:
            return validation_error("custom_headers", f"The custom header {name!r} is not a valid header.")
        if name.lower() in FORBIDDEN_CUSTOM_HEADERS:
            return validation_error("custom_headers", f"The custom header '{name}' is not allowed.")
        headers[name] = value
    return headers


def _files(payload: dict[str, Any], fieldname: str) -> tuple[list[AttachmentInfo], int] | Response:
    raw = payload.get(fieldname)
    if raw is None:
        return [], 0
    if not isinstance(raw, list):
        return validation_error(fieldname, f"The field '{fieldname}' was expecting an array.")
    infos: list[AttachmentInfo] = []
    encoded_total = 0
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str) or not item["filename"]:
            return validation_error(fieldname, f"Each item of '{fieldname}' needs a 'filename'.")
        mimetype = item.get("mimetype") or "application/octet-stream"
        blob, url = item.get("fileblob"), item.get("url")
        if isinstance(blob, str) and blob:
            try:
                size = len(base64.b64decode(blob, validate=True))
            except (binascii.Error, ValueError):
                return validation_error(fieldname, f"The fileblob of '{item['filename']}' is not valid base64.")
            encoded_total += len(blob)
            infos.append(AttachmentInfo(item["filename"], str(mimetype), size, None, fieldname == "inlines"))
        elif isinstance(url, str) and url:
            # The real service fetches URLs itself; the sandbox only notes them.
            infos.append(AttachmentInfo(item["filename"], str(mimetype), None, url, fieldname == "inlines"))
        else:
            return validation_error(fieldname, f"'{item['filename']}' needs a 'fileblob' or a 'url'.")
    return infos, encoded_total


def fingerprint(
    *,
    sender: str,
    recipients: list[str],
    subject: str,
    text_body: str,
    html_body: str,
    custom_headers: dict[str, str],
    idempotency_headers: tuple[str, ...],
) -> str:
    """Identity of a *logical* message, to count how often it arrived.

    An idempotency header (any name in ``idempotency_headers``) wins; otherwise a hash of
    sender, recipients, subject and bodies.
    """
    lowered = {k.lower(): v for k, v in custom_headers.items()}
    for name in idempotency_headers:
        if name.lower() in lowered:
            return f"key:{lowered[name.lower()]}"
    blob = json.dumps([sender.lower(), sorted(r.lower() for r in recipients), subject, text_body, html_body])
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def _schedule(payload: dict[str, Any], ctx: SendContext) -> tuple[Any, str | None] | Response:
    raw = payload.get("schedule")
    if raw is None or raw == "":
        return None, None
    moment = parse_datetime(raw)
    now = ctx.state.clock.now()
    if moment is None:
        return validation_error(
            "schedule", "The field 'schedule' was expecting a timestamp like '2025-09-10 13:15:00 +1200'."
        )
    if moment <= now or moment - now > MAX_SCHEDULE_AHEAD:
        return validation_error("schedule", "The field 'schedule' must be in the future and within the next 3 days.")
    return moment, str(uuid.uuid4())


def _accept(message: ReceivedMessage, ctx: SendContext, *, fastaccept: bool) -> Response:
    """Fingerprint the message, plan events per recipient, store it and build the send answer."""
    message.fingerprint = fingerprint(
        sender=message.sender_address,
        recipients=message.recipients,
        subject=message.subject,
        text_body=message.text_body,
        html_body=message.html_body,
        custom_headers=message.custom_headers,
        idempotency_headers=ctx.state.idempotency_headers,
    )
    plans: dict[str, list[PlannedEvent]] = {}
    for rcpt in message.recipients:
        if ctx.state.is_suppressed(rcpt):
            plans[rcpt] = suppressed_plan()
            message.failed_recipients.append(rcpt)
        else:
            plans[rcpt] = plan_for(rcpt)
    ctx.state.add_message(message, plans)
    data: dict[str, Any] = {"email_id": message.email_id}
    if message.schedule_id:
        data["schedule_id"] = message.schedule_id
    if fastaccept:
        return success(data)
    if message.failed_recipients and len(message.failed_recipients) == len(message.recipients):
        failures = [f"Recipient address is suppressed: {r}" for r in message.failed_recipients]
        return success({"succeeded": 0, "failed": 1, "failures": failures, **data})
    return success({"succeeded": 1, "failed": 0, "failures": [], **data})


def handle_send(payload: dict[str, Any], ctx: SendContext) -> Response:
    """``POST /email/send``: validate in the real API's order (the first bad field is the one
    reported), then record the message and answer."""
    sender = payload.get("sender")
    if sender is None or sender == "":
        return validation_error("sender", "The field 'sender' is required.")
    sender_address = parse_address(sender)
    if sender_address is None:
        return _invalid_address("sender", sender)
    lists: dict[str, list[str]] = {}
    recipients: list[str] = []
    for fieldname in ("to", "cc", "bcc"):
        parsed = _address_list(payload, fieldname, required=fieldname == "to")
        if isinstance(parsed, Response):
            return parsed
        lists[fieldname] = parsed[0]
        recipients += parsed[1]
    content = _content(payload, ctx.state)
    if isinstance(content, Response):
        return content
    headers = _custom_headers(payload)
    if isinstance(headers, Response):
        return headers
    attachments = _files(payload, "attachments")
    if isinstance(attachments, Response):
        return attachments
    inlines = _files(payload, "inlines")
    if isinstance(inlines, Response):
        return inlines
    size = content.size + sum(len(k) + len(v) + 4 for k, v in headers.items()) + attachments[1] + inlines[1]
    if size > ctx.max_size_bytes:
        return validation_error(
            "attachments" if attachments[0] or inlines[0] else "html_body",
            f"The total email size ({size} bytes, base64 counted) exceeds the maximum of {ctx.max_size_bytes} bytes.",
        )
    schedule = _schedule(payload, ctx)
    if isinstance(schedule, Response):
        return schedule
    scheduled_for, schedule_id = schedule
    message = ReceivedMessage(
        email_id=new_email_id(),
        endpoint="email/send",
        received_at=ctx.state.clock.now(),
        sender=sender,
        sender_address=sender_address,
        to=lists["to"],
        cc=lists["cc"],
        bcc=lists["bcc"],
        recipients=recipients,
        subject=content.subject,
        text_body=content.text_body,
        html_body=content.html_body,
        attachments=attachments[0],
        inlines=inlines[0],
        custom_headers=headers,
        template_id=content.template_id,
        template_data=content.template_data,
        schedule_id=schedule_id,
        scheduled_for=scheduled_for,
        username=ctx.username,
        size_bytes=size,
    )
    return _accept(message, ctx, fastaccept=payload.get("fastaccept") is True)


@dataclass(frozen=True)
class _Content:
    """What a send says: its subject and bodies, rendered from its template if it names one."""

    subject: str
    html_body: str
    text_body: str
    template_id: str | None
    template_data: dict[str, Any] | None

    @property
    def size(self) -> int:
        return len(self.subject.encode()) + len(self.html_body.encode()) + len(self.text_body.encode())


def _content(payload: dict[str, Any], state: SandboxState) -> _Content | Response:
    for fieldname in ("subject", "html_body", "text_body"):
        if payload.get(fieldname) is not None and not isinstance(payload[fieldname], str):
            return validation_error(fieldname, f"The field '{fieldname}' was expecting a string.")
    subject = payload.get("subject") or ""
    html_body = payload.get("html_body") or ""
    text_body = payload.get("text_body") or ""
    template_id = payload.get("template_id") or None
    template_data = payload.get("template_data")
    if template_data is not None and not isinstance(template_data, dict):
        return validation_error("template_data", "The field 'template_data' was expecting an object.")
    if template_id is not None:
        template = state.template(str(template_id))
        if template is None:
            return validation_error("template_id", f"The template '{template_id}' does not exist.")
        # The docs: subject and bodies are ignored when a template is used.
        variables = {**template.template_variables, **(template_data or {})}
        subject = render_template(template.subject, variables)
        html_body = render_template(template.html_body, variables)
        text_body = render_template(template.text_body, variables)
    elif not html_body and not text_body:
        return validation_error("html_body", "Either 'html_body', 'text_body' or 'template_id' is required.")
    return _Content(subject, html_body, text_body, None if template_id is None else str(template_id), template_data)


_STANDARD_MIME_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    }
)


def handle_mime(payload: dict[str, Any], ctx: SendContext) -> Response:
    """``POST /email/mime``: ``mime_email`` is a base64 MIME message; recipients come from its headers."""
    raw = payload.get("mime_email")
    if not isinstance(raw, str) or not raw:
        return validation_error("mime_email", "The field 'mime_email' is required (a base64 MIME message).")
    try:
        mime_bytes = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        return validation_error("mime_email", "The field 'mime_email' is not valid base64.")
    if len(raw) > ctx.max_size_bytes:
        return validation_error(
            "mime_email", f"The email size ({len(raw)} bytes) exceeds the maximum of {ctx.max_size_bytes} bytes."
        )
    msg = email.message_from_bytes(mime_bytes, policy=email.policy.default)
    sender = str(msg.get("From", "") or "")
    sender_address = parse_address(sender)
    if sender_address is None:
        return _invalid_address("mime_email", sender or "(no From header)")
    lists = {
        name: [formataddr_pair(p) for p in getaddresses([str(v) for v in msg.get_all(name, [])]) if p[1]]
        for name in ("To", "Cc", "Bcc")
    }
    recipients = [parse_address(r) or "" for r in (*lists["To"], *lists["Cc"], *lists["Bcc"])]
    if not recipients:
        return validation_error("mime_email", "The MIME message has no recipients (To, Cc or Bcc).")
    if any(not r for r in recipients):
        return validation_error("mime_email", "The MIME message has an invalid recipient address.")
    text_body, html_body, attachments, inlines = _mime_parts(msg)
    headers = {k: str(v) for k, v in msg.items() if k.lower() not in _STANDARD_MIME_HEADERS}
    subject = str(msg.get("Subject", "") or "")
    schedule = _schedule(payload, ctx)
    if isinstance(schedule, Response):
        return schedule
    scheduled_for, schedule_id = schedule
    message = ReceivedMessage(
        email_id=new_email_id(),
        endpoint="email/mime",
        received_at=ctx.state.clock.now(),
        sender=sender,
        sender_address=sender_address,
        to=lists["To"],
        cc=lists["Cc"],
        bcc=lists["Bcc"],
        recipients=recipients,
        subject=subject,
        text_body=text_body,
        html_body=html_body,
        attachments=attachments,
        inlines=inlines,
        custom_headers=headers,
        schedule_id=schedule_id,
        scheduled_for=scheduled_for,
        username=ctx.username,
        size_bytes=len(mime_bytes),
    )
    return _accept(message, ctx, fastaccept=payload.get("fastaccept") is True)


def formataddr_pair(pair: tuple[str, str]) -> str:
    """``("Jane", "jane@example.com")`` -> ``"Jane <jane@example.com>"`` (bare when nameless)."""
    name, addr = pair
    return f"{name} <{addr}>" if name else addr


def _mime_parts(msg: EmailMessage) -> tuple[str, str, list[AttachmentInfo], list[AttachmentInfo]]:
    text_body = html_body = ""
    attachments: list[AttachmentInfo] = []
    inlines: list[AttachmentInfo] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        ctype = part.get_content_type()
        if filename or disposition == "attachment":
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            info = AttachmentInfo(filename or "attachment", ctype, size, None, disposition == "inline")
            (inlines if disposition == "inline" else attachments).append(info)
        elif ctype == "text/plain" and not text_body:
            text_body = _part_text(part)
        elif ctype == "text/html" and not html_body:
            html_body = _part_text(part)
    return text_body, html_body, attachments, inlines


def _part_text(part: Any) -> str:
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or broken encoding: keep what we can
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
