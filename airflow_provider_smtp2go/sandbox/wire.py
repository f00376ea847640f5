"""The SMTP2GO v3 wire format as the sandbox speaks it.

Every API answer is ``{"request_id": "<uuid>", "data": {...}}``; errors put ``error``,
``error_code`` (``E_ApiResponseCodes.*``) and, for validation failures,
``field_validation_errors`` *inside* ``data`` (the form the OpenAPI spec and the official
clients use).  This module owns those shapes so every endpoint answers alike.

Example::

    >>> resp = validation_error("sender", "The field 'sender' is required")
    >>> resp.status
    400
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

API_KEY_INVALID = "E_ApiResponseCodes.API_KEY_INVALID"
ENDPOINT_PERMISSION_DENIED = "E_ApiResponseCodes.ENDPOINT_PERMISSION_DENIED"
NON_VALIDATING_IN_PAYLOAD = "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD"
REQ_LIMIT_EXCEEDED = "E_ApiResponseCodes.REQ_LIMIT_EXCEEDED"
API_EXCEPTION = "E_ApiResponseCodes.API_EXCEPTION"
ENDPOINT_NOT_FOUND = "E_ApiResponseCodes.ENDPOINT_NOT_FOUND"
METHOD_NOT_ALLOWED = "E_ApiResponseCodes.METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "E_ApiResponseCodes.PAYLOAD_TOO_LARGE"

# The real API appends this hint to every payload error; clients grep for it in bug reports.
PAYLOAD_HINT = (
    "An error occurred processing the json data you sent with the request, please make sure the data "
    "conforms to the specification for this call (see the documentation here: "
    "https://developers.smtp2go.com/) and try again. Don't forget to set Content-Type to "
    "'application/json'."
)

JSON_CONTENT_TYPE = "application/json"

MAX_JSON_DEPTH = 64
"""Deepest nesting a request body may have.  SMTP2GO payloads need five levels at most; without a
bound a body of 100k ``[`` makes the parser raise ``RecursionError``, and a body just under the
interpreter's limit is accepted but can never be serialised again (every later inspection fails)."""


@dataclass
class Response:
    """An HTTP answer before it is serialised: status, extra headers and raw body bytes."""

    status: int
    body: bytes
    content_type: str = JSON_CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def new_request_id() -> str:
    """A fresh ``request_id`` (a UUID, like the real API's)."""
    return str(uuid.uuid4())


def decode_json(body: bytes | str) -> Any:
    """Parse a request body; every way it can be bad is a ``ValueError`` saying why.

    >>> decode_json(b'{"a": [1]}')
    {'a': [1]}
    >>> decode_json(b"[" * 100_000)
    Traceback (most recent call last):
    ...
    ValueError: The JSON is nested deeper than 64 levels.
    """
    try:
        value = json.loads(body)
    except RecursionError:
        raise ValueError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"The body is not valid JSON ({exc}).") from None
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    # Iterative, so checking depth cannot itself run out of stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > MAX_JSON_DEPTH:
                    raise ValueError(f"The JSON is nested deeper than {MAX_JSON_DEPTH} levels.")
                stack.append((child, depth + 1))


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """Serialise ``payload`` compactly as the body of a JSON response."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status=status, body=body, headers=dict(headers or {}))


def success(data: Any) -> Response:
    """200 with the standard envelope."""
    return json_response(200, {"request_id": new_request_id(), "data": data})


def error(
    status: int,
    message: str,
    error_code: str,
    *,
    field_validation_errors: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error in the nested form: ``{"request_id", "data": {"error", "error_code", ...}}``."""
    data: dict[str, Any] = {"error": message, "error_code": error_code}
    if field_validation_errors is not None:
        data["field_validation_errors"] = field_validation_errors
    return json_response(status, {"request_id": new_request_id(), "data": data}, headers)


def validation_error(fieldname: str, message: str) -> Response:
    """400 ``NON_VALIDATING_IN_PAYLOAD`` naming the offending field."""
    return error(
        400,
        PAYLOAD_HINT,
        NON_VALIDATING_IN_PAYLOAD,
        field_validation_errors={"fieldname": fieldname, "message": message},
    )


def format_date(moment: datetime) -> str:
    """RFC 3339 UTC with a ``Z`` and whole seconds, as activity events carry: ``2026-11-26T10:00:00Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_timestamp(moment: datetime) -> str:
    """The ``YYYY-MM-DD HH:MM:SS`` UTC form used by suppression and stats answers."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


_ISO = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)


def parse_datetime(value: object) -> datetime | None:
    """Parse the date forms SMTP2GO documents; ``None`` when ``value`` is not one of them.

    Accepted: ``YYYY-MM-DD``, ``YYYY-MM-DD HH:MM[:SS[.fraction]]`` with ``T`` or space, an
    optional ``Z``/``UTC``/``+hhmm``/``+hh:mm`` (no zone means UTC), the RFC 822/1123 forms
    (``02 Jan 06 15:04 MST``, ``Mon, 02 Jan 2006 15:04:05 MST``) and a Unix timestamp number.
    The result is timezone-aware UTC.

    >>> parse_datetime("2026-11-26T10:00:00+01:00").isoformat()
    '2026-11-26T09:00:00+00:00'
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            return datetime.fromtimestamp(value, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _ISO.match(text)
    if match:
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        try:
            moment = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro
            )
        except ValueError:
            return None
        offset = timedelta(0)
        if zone and zone not in ("Z", "z", "UTC"):
            digits = zone[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            if zone[0] == "-":
                offset = -offset
        return (moment - offset).replace(tzinfo=timezone.utc)
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)
