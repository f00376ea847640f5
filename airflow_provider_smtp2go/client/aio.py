"""``AsyncSmtp2goClient``: the asyncio client (``httpx.AsyncClient``) for triggers and notifiers.

Same protocol, validation and retry policy as ``Smtp2goClient``; only the transport differs.
Imported lazily: ``import airflow_provider_smtp2go.client`` does not import httpx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime
from email.message import Message
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_smtp2go.client import endpoints
from airflow_provider_smtp2go.client.activity import (
    ActivityEvent,
    ActivityPage,
    build_activity_query,
    parse_activity_page,
)
from airflow_provider_smtp2go.client.base import BaseSmtp2goClient, Timeout
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
from airflow_provider_smtp2go.client.retry import Deadline, RetryPolicy, acall_with_retry

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from airflow_provider_smtp2go.client.activity import ActivityFilters

# Failures that prove the request never reached SMTP2GO.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Seconds the bound of an attempt exceeds the time left, so that a connect timeout cut to the
# same time left is reported as such (never sent: safe to retry) rather than as a cut-off.
_DEADLINE_GRACE = 0.2


def transport_error(exc: httpx.HTTPError, call: ApiCall, secret: str) -> Smtp2goTransportError:
    """Map an ``httpx`` failure to ours, deciding whether the request may have been received."""
    detail = redact(f"{type(exc).__name__}: {exc}", secret)
    return transport_failure(call, detail, never_sent=isinstance(exc, _NEVER_SENT))


class AsyncSmtp2goClient(BaseSmtp2goClient):
    """Asyncio SMTP2GO client; settings as in ``BaseSmtp2goClient``.

    >>> async with AsyncSmtp2goClient(api_key, base_url=sandbox.base_url) as client:  # doctest: +SKIP
    ...     page = await client.search_activity(search_email_id=email_id, event_types=["opened"])
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
        max_connections: int = 10,
        http_client: httpx.AsyncClient | None = None,
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
        connect, read = self.timeout
        self._owns_client = http_client is None
        self._http = http_client or httpx.AsyncClient(
            timeout=httpx.Timeout(read, connect=connect),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    async def call(self, call: ApiCall) -> ApiResult:
        """Run one API call under the retry policy (the escape hatch for unwrapped endpoints).

        The policy's ``deadline`` bounds the whole call on the wall clock: each attempt runs
        under the time left (plus a small grace that lets httpx's own, equal connect timeout
        speak first), and the timeouts of each request are cut to that time too.
        """
        request = self._http_request(call)
        limiter = self._limiter_for(call)
        connect_timeout, read_timeout = self.timeout

        async def attempt(deadline: Deadline) -> ApiResult:
            if limiter is not None:
                wait = limiter.reserve(deadline.remaining(), endpoint=call.endpoint)
                if wait > 0:
                    await asyncio.sleep(wait)
            remaining = deadline.remaining()
            if remaining <= 0:
                raise deadline_passed(call)
            # Per request, so an injected http_client honours this client's timeout too.
            timeout = httpx.Timeout(min(read_timeout, remaining), connect=min(connect_timeout, remaining))
            post = self._http.post(
                request.url, content=request.content, headers=request.headers, timeout=timeout, follow_redirects=False
            )
            try:
                response = await asyncio.wait_for(post, remaining + _DEADLINE_GRACE)
            except httpx.HTTPError as exc:
                error = transport_error(exc, call, self._secret)
            except asyncio.TimeoutError:
                error = transport_failure(call, "no complete answer before the call's deadline", never_sent=False)
            else:
                return self._judge(call, response.status_code, response.headers, response.content, limiter)
            raise error  # outside the except block: no chained httpx request (with the key header)

        return await acall_with_retry(self.retry_policy, call.endpoint, attempt)

    async def send(self, email: Email) -> SendResult:
        """Send one email through ``/email/send``; raise unless SMTP2GO accepted it."""
        result = await self.call(endpoints.send(email, max_size_bytes=self.max_size_bytes))
        return parse_send_result(result, fastaccept=email.fastaccept)

    async def send_mime(
        self,
        message: Message | bytes | str,
        *,
        schedule: datetime | str | None = None,
        fastaccept: bool = False,
    ) -> SendResult:
        call = endpoints.send_mime(
            message, schedule=schedule, fastaccept=fastaccept, max_size_bytes=self.max_size_bytes
        )
        return parse_send_result(await self.call(call), fastaccept=fastaccept)

    async def search_activity(self, **filters: Unpack[ActivityFilters]) -> ActivityPage:
        if "subaccounts" not in filters and self.subaccount_id:
            filters["subaccounts"] = [self.subaccount_id]
        result = await self.call(ApiCall("activity/search", build_activity_query(**filters)))
        return parse_activity_page(result.data, result.request_id)

    async def iter_activity(
        self, *, max_pages: int | None = None, **filters: Unpack[ActivityFilters]
    ) -> AsyncIterator[ActivityEvent]:
        pages = 0
        while True:
            page = await self.search_activity(**filters)
            for event in page.events:
                yield event
            pages += 1
            if not page.continue_token or (max_pages is not None and pages >= max_pages):
                return
            filters["continue_token"] = page.continue_token

    async def api_key_permissions(self) -> list[str]:
        return [str(p) for p in (await self.call(endpoints.api_key_permissions())).data or []]

    async def email_summary(self, *, username: str | None = None) -> dict[str, Any]:
        return dict((await self.call(endpoints.stats("email_summary", username=username))).data)

    async def email_history(
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
        return dict((await self.call(call)).data)
