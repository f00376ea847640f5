"""The exception hierarchy of the SMTP2GO client.

```
Smtp2goError
├── Smtp2goValidationError(ValueError)   bad input, raised before any request
├── Smtp2goApiError                      the API said no
│   ├── Smtp2goAuthError                 401/403, ENDPOINT_PERMISSION_DENIED: never retried
│   ├── Smtp2goRateLimitError            429 after retries were spent
│   ├── Smtp2goServerError               5xx after retries were spent
│   └── Smtp2goSendFailed                200 with failed > 0, failures, or data.error
└── Smtp2goTransportError                connection trouble
    └── Smtp2goAmbiguousSendError        the send may or may not have happened
```

No exception here ever carries the API key: messages are built from the response body
after the client has redacted the key from it, and transport errors are re-raised without
their chained ``requests``/``httpx`` exception (whose request object holds the headers).
"""

from __future__ import annotations

from typing import Any


class Smtp2goError(Exception):
    """Base class of every error raised by this package's SMTP2GO client."""


class Smtp2goValidationError(Smtp2goError, ValueError):
    """Input that SMTP2GO would reject, caught before any network call.

    ``field`` names the offending field (``"to[3]"``, ``"custom_headers"``) and ``rule`` the
    rule it broke (``"address"``, ``"max_recipients"``, ``"crlf"``...), so callers can
    report bad rows precisely.
    """

    def __init__(self, field: str, rule: str, message: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {message}")


class Smtp2goApiError(Smtp2goError):
    """SMTP2GO answered and said no.

    Carries what the response said: HTTP ``status``, ``error_code``
    (``E_ApiResponseCodes.*``), the human ``message``, ``field_validation_errors`` and the
    ``request_id`` to quote to SMTP2GO support.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        field_validation_errors: Any = None,
        endpoint: str | None = None,
    ) -> None:
        self.message = message
        self.status = status
        self.error_code = error_code
        self.request_id = request_id
        self.field_validation_errors = field_validation_errors
        self.endpoint = endpoint
        super().__init__(message)

    def __str__(self) -> str:
        parts = [self.message]
        if self.field_validation_errors:
            parts.append(f"field_validation_errors={self.field_validation_errors}")
        details = ", ".join(
            f"{name}={value}"
            for name, value in (
                ("endpoint", self.endpoint),
                ("status", self.status),
                ("error_code", self.error_code),
                ("request_id", self.request_id),
            )
            if value is not None
        )
        return " ".join(parts) + (f" ({details})" if details else "")


class Smtp2goAuthError(Smtp2goApiError):
    """The key is missing, unknown, or lacks permission for this endpoint (never retried)."""


class Smtp2goRateLimitError(Smtp2goApiError):
    """HTTP 429 after the retry budget was spent; ``retry_after`` is the server's hint, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class Smtp2goServerError(Smtp2goApiError):
    """HTTP 5xx (or an unreadable body) after the retry budget was spent."""


class Smtp2goSendFailed(Smtp2goApiError):
    """HTTP 200, yet SMTP2GO did not accept the email (``failed > 0``, ``failures``, ``error``)."""

    def __init__(
        self,
        message: str,
        *,
        succeeded: int = 0,
        failed: int = 0,
        failures: list[Any] | None = None,
        email_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.succeeded = succeeded
        self.failed = failed
        self.failures = failures or []
        self.email_id = email_id
        super().__init__(message, **kwargs)


class Smtp2goTransportError(Smtp2goError):
    """The conversation with SMTP2GO broke down (connect failure, timeout, reset).

    ``request_sent`` is False only when the request provably never left (connection refused,
    connect timeout): such a call is safe to repeat, even a send.
    """

    def __init__(self, message: str, *, endpoint: str | None = None, request_sent: bool = True) -> None:
        self.endpoint = endpoint
        self.request_sent = request_sent
        super().__init__(message)


class Smtp2goAmbiguousSendError(Smtp2goTransportError):
    """A send left this machine but no usable answer came back: it may have been delivered.

    Raised instead of retrying, because SMTP2GO has no idempotency key and a blind retry can
    deliver the email twice. Check the activity log (``search_email_id`` is unknown, so search
    by recipient and subject, or by a custom header you set) before sending again, or opt in
    to retries with ``RetryPolicy(retry_ambiguous_sends=True)``. ``webhook/add`` is the other
    call that is not idempotent (a repeat adds a second webhook); its message says to look at
    ``/webhook/view`` instead.

    ``advice`` (what to check before repeating the call) is kept apart as well as ending the
    message, after exactly one full stop whether or not ``message`` (often the server's own
    words) ends with one:

    >>> error = Smtp2goAmbiguousSendError("HTTP 500: try later.", advice="Check first.")
    >>> str(error), error.advice
    ('HTTP 500: try later. Check first.', 'Check first.')
    """

    def __init__(
        self, message: str, *, endpoint: str | None = None, status: int | None = None, advice: str | None = None
    ) -> None:
        self.status = status
        self.advice = advice
        super().__init__(
            f"{_end_sentence(message)} {advice}" if advice else message, endpoint=endpoint, request_sent=True
        )


def _end_sentence(text: str) -> str:
    """``text`` ending with exactly one sentence mark: a full stop is added only where none is."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


#: Errors that no retry can fix: Airflow tasks fail on these without using their retries.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (Smtp2goValidationError, Smtp2goAuthError, Smtp2goSendFailed)


def is_permanent(exc: BaseException) -> bool:
    """True when retrying the same call cannot succeed (bad input, bad key, rejected content, 4xx)."""
    if isinstance(exc, PERMANENT_ERRORS):
        return True
    return isinstance(exc, Smtp2goApiError) and exc.status is not None and 400 <= exc.status < 500 and exc.status != 429
