"""``Smtp2goClient``: the blocking client, a thin ``requests.Session`` transport.

Connections are pooled and kept alive; everything about *what* to send and *how to judge the
answer* lives in ``protocol`` and ``endpoints``, and *when to try again* in ``retry``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from email.message import Message
from types import TracebackType
from typing import TYPE_CHECKING, Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_provider_smtp2go.client import endpoints
from airflow_provider_smtp2go.client.activity import (
    ActivityEvent,
    ActivityPage,
    build_activity_query,
    parse_activity_page,
)
from airflow_provider_smtp2go.client.base import BaseSmtp2goClient, Timeout
from airflow_provider_smtp2go.client.deadline_adapter import DeadlineAdapter, bounded_reads
from airflow_provider_smtp2go.client.errors import Smtp2goTransportError
from airflow_provider_smtp2go.client.limits import ACTIVITY_REQUESTS_PER_MINUTE, DEFAULT_MAX_SIZE_BYTES, DEFAULT_TIMEOUT
from airflow_provider_smtp2go.client.messages import Email
from airflow_provider_smtp2go.client.protocol import (
    ApiCall,
    ApiResult,
    SendResult,
    deadline_passed,
    parse_send_result,
    transport_failure,
)
from airflow_provider_smtp2go.client.redaction import redact
from airflow_provider_smtp2go.client.retry import Deadline, RetryPolicy, call_with_retry

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from airflow_provider_smtp2go.client.activity import ActivityFilters


def transport_error(exc: Exception, call: ApiCall, secret: str) -> Smtp2goTransportError:
    """Map a ``requests`` failure to ours, deciding whether the request may have been received."""
    reason = exc.args[0].reason if exc.args and isinstance(exc.args[0], MaxRetryError) else None
    never_sent = isinstance(exc, requests.ConnectTimeout) or isinstance(
        reason, (NewConnectionError, ConnectTimeoutError)
    )
    return transport_failure(call, redact(f"{type(exc).__name__}: {exc}", secret), never_sent=never_sent)


class Smtp2goClient(BaseSmtp2goClient):
    """Blocking SMTP2GO API client with pooled connections, validation and safe retries.

    >>> from airflow_provider_smtp2go.client import Email, Smtp2goClient
    >>> with Smtp2goClient(api_key, region="eu") as client:  # doctest: +SKIP
    ...     result = client.send(Email(sender="bot@example.com", to=["ops@example.com"],
    ...                                subject="Hello", text_body="Hi"))
    ...     print(result.email_id)

    See ``BaseSmtp2goClient`` for the settings; ``pool_maxsize`` bounds the kept-alive
    connections (set it to your thread count for concurrent sends).
    """

    def __init__(
        self,
        api_key: str,
        *,
        region: str | None = None,
        base_url: str | None = None,
        subaccount_id: str | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        max_size_bytes: int | None = DEFAULT_MAX_SIZE_BYTES,
        activity_requests_per_minute: int | None = ACTIVITY_REQUESTS_PER_MINUTE,
        pool_maxsize: int = 10,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(
            api_key,
            region=region,
            base_url=base_url,
            subaccount_id=subaccount_id,
            timeout=timeout,
            retry=retry,
            max_size_bytes=max_size_bytes,
            activity_requests_per_minute=activity_requests_per_minute,
        )
        self._owns_session = session is None
        self._session = session or requests.Session()
        if self._owns_session:
            adapter = DeadlineAdapter(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)
            # With trust_env, requests re-reads proxy, CA-bundle and netrc settings from the
            # environment on every request: about a third of a send's CPU time. Read them once.
            self._session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
            ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            if ca_bundle and self.base_url.startswith("https://"):
                self._session.verify = ca_bundle
            self._session.trust_env = False
        self._sleep = time.sleep

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close pooled connections (only those of a session this client created)."""
        if self._owns_session:
            self._session.close()

    # Transport

    def call(self, call: ApiCall) -> ApiResult:
        """Run one API call under the retry policy (the escape hatch for unwrapped endpoints).

        The policy's ``deadline`` bounds the whole call on the wall clock: limiter waits,
        attempts, backoff, and every read of the answer (see ``deadline_adapter``).
        """
        request = self._http_request(call)
        limiter = self._limiter_for(call)
        connect_timeout, read_timeout = self.timeout

        def attempt(deadline: Deadline) -> ApiResult:
            if limiter is not None:
                wait = limiter.reserve(deadline.remaining(), endpoint=call.endpoint)
                if wait > 0:
                    self._sleep(wait)
            remaining = deadline.remaining()
            if remaining <= 0:
                raise deadline_passed(call)
            try:
                with bounded_reads(deadline, read_timeout):
                    # Never follow redirects: requests would re-send the key header (and a 307
                    # the email) to a host that the base-URL rules never checked.
                    response = self._session.post(
                        request.url,
                        data=request.content,
                        headers=request.headers,
                        timeout=(min(connect_timeout, remaining), min(read_timeout, remaining)),
                        allow_redirects=False,
                    )
            except requests.RequestException as exc:
                error = transport_error(exc, call, self._secret)
            else:
                return self._judge(call, response.status_code, response.headers, response.content, limiter)
            # Raised outside the except block so the chained requests exception, whose request
            # object carries the key header, does not travel with ours.
            raise error

        return call_with_retry(self.retry_policy, call.endpoint, attempt, sleep=self._sleep)

    # Sending

    def send(self, email: Email) -> SendResult:
        """Send one email through ``/email/send``; raise unless SMTP2GO accepted it."""
        return parse_send_result(
            self.call(endpoints.send(email, max_size_bytes=self.max_size_bytes)), fastaccept=email.fastaccept
        )

    def send_mime(
        self,
        message: Message | bytes | str,
        *,
        schedule: datetime | str | None = None,
        fastaccept: bool = False,
    ) -> SendResult:
        """Send a ready MIME message (``email.message.EmailMessage`` or bytes) via ``/email/mime``."""
        call = endpoints.send_mime(
            message, schedule=schedule, fastaccept=fastaccept, max_size_bytes=self.max_size_bytes
        )
        return parse_send_result(self.call(call), fastaccept=fastaccept)

    # Activity

    def search_activity(self, **filters: Unpack[ActivityFilters]) -> ActivityPage:
        """One page of ``/activity/search`` (rate limited in-process to the account's budget).

        >>> page = client.search_activity(search_email_id=result.email_id,  # doctest: +SKIP
        ...                               event_types=["delivered", "opened"])
        """
        if "subaccounts" not in filters and self.subaccount_id:
            filters["subaccounts"] = [self.subaccount_id]
        result = self.call(ApiCall("activity/search", build_activity_query(**filters)))
        return parse_activity_page(result.data, result.request_id)

    def iter_activity(
        self, *, max_pages: int | None = None, **filters: Unpack[ActivityFilters]
    ) -> Iterator[ActivityEvent]:
        """Every matching event, following ``continue_token`` across pages."""
        pages = 0
        while True:
            page = self.search_activity(**filters)
            yield from page.events
            pages += 1
            if not page.continue_token or (max_pages is not None and pages >= max_pages):
                return
            filters["continue_token"] = page.continue_token

    # Statistics

    def email_summary(self, *, username: str | None = None) -> dict[str, Any]:
        return dict(self.call(endpoints.stats("email_summary", username=username)).data)

    def email_bounces(self, *, username: str | None = None) -> dict[str, Any]:
        return dict(self.call(endpoints.stats("email_bounces", username=username)).data)

    def email_spam(self, *, username: str | None = None) -> dict[str, Any]:
        return dict(self.call(endpoints.stats("email_spam", username=username)).data)

    def email_unsubs(self, *, username: str | None = None) -> dict[str, Any]:
        return dict(self.call(endpoints.stats("email_unsubs", username=username)).data)

    def email_cycle(self) -> dict[str, Any]:
        return dict(self.call(endpoints.email_cycle()).data)

    def email_history(
        self,
        *,
        start_date: datetime | date | str | None = None,
        end_date: datetime | date | str | None = None,
        group_by: str | None = None,
        subaccounts: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        call = endpoints.email_history(
            start_date=start_date,
            end_date=end_date,
            group_by=group_by,
            subaccounts=self._subaccounts(subaccounts),
        )
        return dict(self.call(call).data)

    # Keys, suppressions, templates

    def api_key_permissions(self) -> list[str]:
        """Endpoints this key may call; cheap, sends no mail (a connection test)."""
        return [str(p) for p in self.call(endpoints.api_key_permissions()).data or []]

    def view_suppressions(self, **filters: Any) -> dict[str, Any]:
        """``/suppression/view``; filters as in ``endpoints.view_suppressions``."""
        filters["subaccount_id"] = self._subaccount_id(filters.get("subaccount_id"))
        return dict(self.call(endpoints.view_suppressions(**filters)).data)

    def add_suppression(
        self, email_address: str, *, block_description: str | None = None, subaccount_id: str | None = None
    ) -> dict[str, Any]:
        call = endpoints.add_suppression(
            email_address,
            block_description=block_description,
            subaccount_id=self._subaccount_id(subaccount_id),
        )
        return dict(self.call(call).data)

    def remove_suppression(
        self, email_address: str, *, reasons: Iterable[str] = ("manual",), subaccount_id: str | None = None
    ) -> dict[str, Any]:
        call = endpoints.remove_suppression(
            email_address, reasons=reasons, subaccount_id=self._subaccount_id(subaccount_id)
        )
        return dict(self.call(call).data)

    def search_templates(self, **filters: Any) -> dict[str, Any]:
        """``/template/search``; filters as in ``endpoints.search_templates``."""
        return dict(self.call(endpoints.search_templates(**filters)).data)

    def view_template(self, template_id: str) -> dict[str, Any]:
        return dict(self.call(endpoints.view_template(template_id)).data)
