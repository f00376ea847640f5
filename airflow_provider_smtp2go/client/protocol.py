"""Sans-IO SMTP2GO protocol: build requests, interpret responses. No sockets here.

The sync (``requests``) and async (``httpx``) clients only move the bytes this module
prepares and hand back status, headers and body for it to judge, so both behave identically
and one set of unit tests covers the rules: which answers are successes, which are errors
hidden in a 200, and which failures of a *send* are ambiguous (it may have been delivered).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smtp2go.client.errors import (
    Smtp2goAmbiguousSendError,
    Smtp2goApiError,
    Smtp2goAuthError,
    Smtp2goRateLimitError,
    Smtp2goSendFailed,
    Smtp2goServerError,
    Smtp2goTransportError,
)
from airflow_provider_smtp2go.client.redaction import contains_secret, cut, redact, redact_obj
from airflow_provider_smtp2go.client.retry import parse_retry_after

API_KEY_HEADER = "X-Smtp2go-Api-Key"
AMBIGUOUS_SEND_ADVICE = (
    "The email may or may not have been accepted: check the activity log (the dashboard's Activity "
    "page, or search_activity() by recipient, subject or a custom header you set) before sending it "
    "again, or allow automatic retries with RetryPolicy(retry_ambiguous_sends=True)."
)
AMBIGUOUS_WEBHOOK_ADD_ADVICE = (
    "The webhook may or may not have been added: list the account's webhooks (/webhook/view, "
    "view_webhooks()) before adding it again, or let Smtp2goHook.ensure_webhook do it (it views first)."
)
#: Calls that are not idempotent: a repeat after an unanswered attempt may be a second email (or,
#: for ``webhook/add``, a second webhook), so they are never retried once the request has left.
#: Each comes with what to check before repeating it, which its ambiguous error ends with.
AMBIGUOUS_ADVICE: Mapping[str, str] = {
    "email/send": AMBIGUOUS_SEND_ADVICE,
    "email/mime": AMBIGUOUS_SEND_ADVICE,
    "webhook/add": AMBIGUOUS_WEBHOOK_ADD_ADVICE,
}
SEND_ENDPOINTS = frozenset(AMBIGUOUS_ADVICE)
RATE_LIMITED_ENDPOINTS = frozenset({"activity/search"})
#: Error texts copied into exceptions are cut to these lengths (after redaction).
MAX_ERROR_CHARS = 1000
MAX_BODY_CHARS = 200


def ambiguous_advice(endpoint: str | None) -> str:
    """What to check before repeating a call to ``endpoint`` whose answer was lost.

    An endpoint outside ``AMBIGUOUS_ADVICE`` (or none known) gets the email advice: only a send
    is ambiguous unless a new non-idempotent endpoint forgot its entry.

    >>> ambiguous_advice("webhook/add") == AMBIGUOUS_WEBHOOK_ADD_ADVICE, ambiguous_advice(None) == AMBIGUOUS_SEND_ADVICE
    (True, True)
    """
    return AMBIGUOUS_ADVICE.get(endpoint or "", AMBIGUOUS_SEND_ADVICE)


@dataclass(frozen=True)
class ApiCall:
    """One API call: endpoint path below ``/v3`` and its JSON body (never the key)."""

    endpoint: str
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_send(self) -> bool:
        """Sends are not idempotent: SMTP2GO has no idempotency key, a repeat is a second email."""
        return self.endpoint in SEND_ENDPOINTS

    @property
    def ambiguous_advice(self) -> str:
        """What to check before repeating this send when its answer was lost.

        >>> ApiCall("webhook/add").ambiguous_advice.startswith("The webhook may or may not")
        True
        """
        return ambiguous_advice(self.endpoint)

    @property
    def is_rate_limited(self) -> bool:
        return self.endpoint in RATE_LIMITED_ENDPOINTS


@dataclass(frozen=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    content: bytes

    def __repr__(self) -> str:  # the headers hold the key
        return f"HttpRequest(url={self.url!r}, content=<{len(self.content)} bytes>)"


@dataclass(frozen=True)
class ApiResult:
    """A successful answer: ``data`` and the ``request_id`` SMTP2GO support asks for."""

    data: Any
    request_id: str | None
    status: int = 200


@dataclass(frozen=True)
class SendResult:
    """What SMTP2GO said about an accepted email.

    ``email_id`` correlates with activity events and webhooks; ``to_dict()`` is XCom-sized.
    """

    email_id: str | None
    request_id: str | None
    succeeded: int
    failed: int
    failures: list[Any] = field(default_factory=list)
    schedule_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "email_id": self.email_id,
            "request_id": self.request_id,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }
        if self.schedule_id:
            result["schedule_id"] = self.schedule_id
        return result


def build_http_request(
    call: ApiCall, *, base_url: str, api_key: str, user_agent: str = "airflow-provider-smtp2go"
) -> HttpRequest:
    """URL, headers and JSON bytes for ``call``. The key goes only into the header.

    ``user_agent`` comes from the client's settings (which know the package version).
    """
    return HttpRequest(
        url=f"{base_url}/{call.endpoint}",
        headers={
            API_KEY_HEADER: api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": user_agent,
        },
        content=json.dumps(call.body, separators=(",", ":")).encode("utf-8"),
    )


def _decode(body: bytes, secret: str | None) -> tuple[str, Any]:
    """The body as text and as decoded JSON (``None`` if it is not JSON), the secret redacted.

    JSON is decoded *before* redacting: a ``\\u``-escaped echo of the key is invisible in the
    raw bytes. Without a backslash in the text every decoded string is a literal slice of it,
    so one cheap search of the text tells whether the walk over the payload is needed.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return redact(body.decode("utf-8", "replace"), secret), None
    try:
        payload = json.loads(text) if text else None
    except ValueError:
        payload = None
    if secret and ("\\" in text or contains_secret(text, secret)):
        return redact(text, secret), redact_obj(payload, secret)
    return text, payload


def _error_fields(payload: Any) -> tuple[str | None, str | None, Any]:
    """``(error, error_code, field_validation_errors)`` from ``data.*`` or, failing that, the root."""
    if not isinstance(payload, Mapping):
        return None, None, None
    for scope in (payload.get("data"), payload):
        if isinstance(scope, Mapping) and (scope.get("error") or scope.get("error_code")):
            return (
                str(scope.get("error") or "") or None,
                str(scope.get("error_code") or "") or None,
                scope.get("field_validation_errors"),
            )
    for scope in (payload.get("data"), payload):
        if isinstance(scope, Mapping) and scope.get("field_validation_errors"):
            return None, None, scope.get("field_validation_errors")
    return None, None, None


def interpret_response(
    call: ApiCall,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secret: str | None = None,
) -> ApiResult:
    """Judge one HTTP answer: return the result, or raise the error it amounts to.

    ``secret`` (the API key) is scrubbed from anything copied into an exception.
    """
    text, payload = _decode(body, secret)
    request_id = payload.get("request_id") if isinstance(payload, Mapping) else None
    error, error_code, field_errors = _error_fields(payload)
    if error:
        error = cut(error, MAX_ERROR_CHARS)
    common: dict[str, Any] = {
        "status": status,
        "error_code": error_code,
        "request_id": request_id,
        "field_validation_errors": field_errors,
        "endpoint": call.endpoint,
    }
    readable = isinstance(payload, Mapping)

    if status == 200 and readable:
        data = payload.get("data")
        if error or error_code:
            if call.is_send:
                raise Smtp2goSendFailed(error or f"SMTP2GO refused the email ({error_code})", **common)
            raise Smtp2goApiError(error or f"SMTP2GO reported {error_code}", **common)
        return ApiResult(data=data if data is not None else {}, request_id=request_id, status=status)

    if status >= 500 or (status == 200 and not readable) or (200 < status < 300):
        what = f"HTTP {status}" + ("" if readable else " with an unreadable (non-JSON) body")
        message = f"SMTP2GO {call.endpoint} failed: {what}" + (f": {error}" if error else "")
        if call.is_send and status != 503:
            raise Smtp2goAmbiguousSendError(
                message, endpoint=call.endpoint, status=status, advice=call.ambiguous_advice
            )
        raise Smtp2goServerError(message, **common)

    detail = error or (f"HTTP {status}" + ("" if readable else f": {cut(text, MAX_BODY_CHARS)}"))
    if status == 429:
        raise Smtp2goRateLimitError(
            f"SMTP2GO rate limit hit on {call.endpoint}: {detail}",
            retry_after=parse_retry_after(headers),
            **common,
        )
    if status in (401, 403) or (error_code or "").endswith("ENDPOINT_PERMISSION_DENIED"):
        hint = (
            "the API key lacks permission for this endpoint; enable it for the key in SMTP2GO's dashboard"
            if status == 403 or (error_code or "").endswith("PERMISSION_DENIED")
            else "the API key is missing or invalid"
        )
        # SMTP2GO's own text often says it already ("The API key is missing or invalid."): say it once.
        said = hint.split(";", maxsplit=1)[0].lower() in detail.lower()
        raise Smtp2goAuthError(f"SMTP2GO {call.endpoint}: {detail}" + ("" if said else f" ({hint})"), **common)
    raise Smtp2goApiError(f"SMTP2GO {call.endpoint} rejected the request: {detail}", **common)


def parse_send_result(result: ApiResult, *, fastaccept: bool = False) -> SendResult:
    """A send is a success only if nothing failed and something was accepted (or queued)."""
    data = result.data if isinstance(result.data, Mapping) else {}
    succeeded = int(data.get("succeeded") or 0)
    failed = int(data.get("failed") or 0)
    failures = list(data.get("failures") or [])
    email_id = data.get("email_id")
    common: dict[str, Any] = {
        "status": result.status,
        "request_id": result.request_id,
        "endpoint": "email/send",
        "succeeded": succeeded,
        "failed": failed,
        "failures": failures,
        "email_id": email_id,
    }
    if failed or failures:
        reasons = "; ".join(str(f) for f in failures) or "no reason given"
        raise Smtp2goSendFailed(f"SMTP2GO did not accept the email ({failed} failed): {reasons}", **common)
    if succeeded < 1 and not (email_id and (fastaccept or "succeeded" not in data)):
        raise Smtp2goSendFailed("SMTP2GO answered 200 but accepted no email", **common)
    return SendResult(
        email_id=str(email_id) if email_id else None,
        request_id=result.request_id,
        succeeded=succeeded,
        failed=failed,
        failures=failures,
        schedule_id=data.get("schedule_id"),
    )


def transport_failure(call: ApiCall, detail: str, *, never_sent: bool) -> Smtp2goTransportError:
    """The error for a request that got no HTTP answer.

    Only a request that provably never left is plain (and safe to repeat); a send that left
    and got no answer is ambiguous, because SMTP2GO may have accepted it.
    """
    if never_sent:
        return Smtp2goTransportError(
            f"could not connect to SMTP2GO for {call.endpoint}: {detail}", endpoint=call.endpoint, request_sent=False
        )
    if call.is_send:
        return Smtp2goAmbiguousSendError(
            f"SMTP2GO {call.endpoint}: no answer after the request was sent ({detail})",
            endpoint=call.endpoint,
            advice=call.ambiguous_advice,
        )
    return Smtp2goTransportError(f"SMTP2GO {call.endpoint}: {detail}", endpoint=call.endpoint)


def deadline_passed(call: ApiCall) -> Smtp2goTransportError:
    """The error for an attempt that the call's deadline left no time to make (nothing was sent)."""
    return transport_failure(call, "the call's deadline passed before the request was sent", never_sent=True)
