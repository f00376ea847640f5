"""The SMTP2GO API client: usable from any Python program, no Airflow needed.

>>> from airflow_provider_smtp2go.client import Email, Smtp2goClient
>>> with Smtp2goClient(api_key, region="eu") as client:  # doctest: +SKIP
...     client.send(Email(sender="bot@example.com", to="ops@example.com", subject="Hi", text_body="Hello"))

The transports are imported on first use (``Smtp2goClient`` pulls in requests,
``AsyncSmtp2goClient`` httpx), so importing this package, or one of its modules from a
trigger or a DAG file, stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.client.activity import ActivityEvent, ActivityPage, ActivityScan, EventType
from airflow_provider_smtp2go.client.errors import (
    Smtp2goAmbiguousSendError,
    Smtp2goApiError,
    Smtp2goAuthError,
    Smtp2goError,
    Smtp2goRateLimitError,
    Smtp2goSendFailed,
    Smtp2goServerError,
    Smtp2goTransportError,
    Smtp2goValidationError,
    is_permanent,
)
from airflow_provider_smtp2go.client.messages import Attachment, Email
from airflow_provider_smtp2go.client.protocol import ApiCall, ApiResult, SendResult
from airflow_provider_smtp2go.client.regions import REGIONS
from airflow_provider_smtp2go.client.retry import Deadline, Decision, RetryPolicy
from airflow_provider_smtp2go.client.secret import Secret
from airflow_provider_smtp2go.client.settings import ClientOptions, ClientSettings

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
    from airflow_provider_smtp2go.client.sync import Smtp2goClient

__all__ = [
    "REGIONS",
    "ActivityEvent",
    "ActivityPage",
    "ActivityScan",
    "ApiCall",
    "ApiResult",
    "AsyncSmtp2goClient",
    "Attachment",
    "ClientOptions",
    "ClientSettings",
    "Deadline",
    "Decision",
    "Email",
    "EventType",
    "RetryPolicy",
    "Secret",
    "SendResult",
    "Smtp2goAmbiguousSendError",
    "Smtp2goApiError",
    "Smtp2goAuthError",
    "Smtp2goClient",
    "Smtp2goError",
    "Smtp2goRateLimitError",
    "Smtp2goSendFailed",
    "Smtp2goServerError",
    "Smtp2goTransportError",
    "Smtp2goValidationError",
    "is_permanent",
]


def __getattr__(name: str) -> Any:
    if name == "Smtp2goClient":
        from airflow_provider_smtp2go.client.sync import Smtp2goClient  # noqa: PLC0415

        return Smtp2goClient
    if name == "AsyncSmtp2goClient":
        from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient  # noqa: PLC0415

        return AsyncSmtp2goClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
