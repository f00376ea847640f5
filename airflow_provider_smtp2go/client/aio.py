"""``AsyncSmtp2goClient``: the asyncio client (``httpx.AsyncClient``) for triggers and notifiers.

Same settings, endpoint methods, protocol, validation and retry policy as ``Smtp2goClient``;
only the transport differs. Imported lazily: ``import airflow_provider_smtp2go.client`` does
not import httpx.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import httpx

from airflow_provider_smtp2go.client.activity import ActivityEvent, ActivityPager, ActivityScan
from airflow_provider_smtp2go.client.base import BaseSmtp2goClient
from airflow_provider_smtp2go.client.errors import Smtp2goAuthError, Smtp2goTransportError
from airflow_provider_smtp2go.client.protocol import ApiCall, ApiResult, deadline_passed, transport_failure
from airflow_provider_smtp2go.client.redaction import redact
from airflow_provider_smtp2go.client.retry import Deadline, acall_with_retry
from airflow_provider_smtp2go.client.settings import ClientSettings

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from airflow_provider_smtp2go.client.activity import ActivityFilters
    from airflow_provider_smtp2go.client.secret import Secret
    from airflow_provider_smtp2go.client.settings import ClientOptions

T = TypeVar("T")

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
    """Asyncio SMTP2GO client; options as in ``ClientOptions``, methods as ``Smtp2goClient``'s.

    >>> async with AsyncSmtp2goClient(api_key, base_url=sandbox.base_url) as client:  # doctest: +SKIP
    ...     page = await client.search_activity(search_email_id=email_id, event_types=["opened"])

    ``max_connections`` bounds the pool; an injected ``http_client`` is used as is, except
    that every request carries this client's timeouts.
    """

    def __init__(
        self,
        api_key: str | Secret | ClientSettings,
        *,
        max_connections: int = 10,
        http_client: httpx.AsyncClient | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(ClientSettings.of(api_key, **options))
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

    async def _execute(self, call: ApiCall, parse: Callable[[ApiCall, ApiResult], T]) -> T:
        return parse(call, await self.call(call))

    async def _execute_after_lookup(
        self, make: Callable[[ClientSettings], ApiCall], parse: Callable[[ApiCall, ApiResult], T]
    ) -> T:
        await self.resolve_subaccount()
        return await self._execute(make(self.settings), parse)

    async def resolve_subaccount(self) -> str | None:
        """The default subaccount's id, looking a name up once (see ``client.subaccounts``)."""
        pending = self._subaccount_lookup()
        if pending is None:
            return self.subaccount_id
        ref, lookup = pending
        try:
            while (request := lookup.next_request()) is not None:
                lookup.add(await self.search_subaccounts(**request))
        except Smtp2goAuthError as exc:
            return ref.settle_unlisted(str(exc))
        return ref.settle(lookup.items)

    async def scan_activity(self, *, max_pages: int | None = None, **filters: Unpack[ActivityFilters]) -> ActivityScan:
        """Every matching event across pages, and whether ``max_pages`` cut the scan short."""
        pager = ActivityPager(filters, max_pages)
        while pager.add(await self.search_activity(**pager.filters)):
            pass
        return pager.scan()

    async def iter_activity(
        self, *, max_pages: int | None = None, **filters: Unpack[ActivityFilters]
    ) -> AsyncIterator[ActivityEvent]:
        """Every matching event, page by page; a WARNING is logged if ``max_pages`` stops it early."""
        pager = ActivityPager(filters, max_pages, collect=False)
        more = True
        while more:
            page = await self.search_activity(**pager.filters)
            more = pager.add(page)
            for event in page.events:
                yield event
        pager.warn_if_truncated()
