"""What the bulk engine needs from an SMTP2GO client, as a ``Protocol`` that ``mypy --strict`` checks.

``Smtp2goClient`` satisfies it; so does any test double with the same members. The client's
own ``retry_policy`` is read (it must make one attempt: the bulk sender does the retrying, so
that a 429 pauses every worker together), never changed.

>>> from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient
>>> client: BulkClient = Smtp2goClient("api-" + "0" * 32, retry=RetryPolicy.no_retries())
>>> client.retry_policy.max_attempts
1
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from airflow_provider_smtp2go.client.activity import ActivityFilters, ActivityPage
    from airflow_provider_smtp2go.client.messages import Email
    from airflow_provider_smtp2go.client.protocol import SendResult
    from airflow_provider_smtp2go.client.retry import RetryPolicy


class BulkClient(Protocol):
    """The members of ``Smtp2goClient`` that bulk sending and reconciling use."""

    @property
    def retry_policy(self) -> RetryPolicy: ...

    @property
    def max_size_bytes(self) -> int | None: ...

    def send(self, email: Email) -> SendResult: ...

    def search_activity(self, **filters: Unpack[ActivityFilters]) -> ActivityPage: ...
