"""``Smtp2goClient``: the blocking client, a thin ``requests.Session`` transport.

Connections are pooled and kept alive; everything about *what* to send and *how to judge the
answer* lives in ``protocol`` and ``endpoints``, and *when to try again* in ``retry``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from airflow_provider_smtp2go.client.activity import ActivityEvent, ActivityPager, ActivityScan
from airflow_provider_smtp2go.client.base import BaseSmtp2goClient
from airflow_provider_smtp2go.client.deadline_adapter import DeadlineAdapter, bounded_reads
from airflow_provider_smtp2go.client.errors import Smtp2goAuthError, Smtp2goTransportError
from airflow_provider_smtp2go.client.protocol import ApiCall, ApiResult, deadline_passed, transport_failure
from airflow_provider_smtp2go.client.redaction import redact
from airflow_provider_smtp2go.client.retry import Deadline, call_with_retry
from airflow_provider_smtp2go.client.settings import ClientSettings

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack

    from airflow_provider_smtp2go.client.activity import ActivityFilters
    from airflow_provider_smtp2go.client.secret import Secret
    from airflow_provider_smtp2go.client.settings import ClientOptions

T = TypeVar("T")


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

    The options are those of ``ClientOptions`` (region, base_url, timeout, retry...), or
    pass a ready ``ClientSettings`` instead of the key and options;
    ``pool_maxsize`` bounds the kept-alive connections (set it to your thread count for
    concurrent sends). The deadline bounds every read only on the session this client makes:
    an injected ``session`` keeps its own adapters (mount ``DeadlineAdapter`` on it for that).
    """

    def __init__(
        self,
        api_key: str | Secret | ClientSettings,
        *,
        pool_maxsize: int = 10,
        session: requests.Session | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(ClientSettings.of(api_key, **options))
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
        self._sleep: Callable[[float], None] = time.sleep

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

    def _execute(self, call: ApiCall, parse: Callable[[ApiCall, ApiResult], T]) -> T:
        return parse(call, self.call(call))

    def _execute_after_lookup(
        self, make: Callable[[ClientSettings], ApiCall], parse: Callable[[ApiCall, ApiResult], T]
    ) -> T:
        self.resolve_subaccount()
        return self._execute(make(self.settings), parse)

    def resolve_subaccount(self) -> str | None:
        """The default subaccount's id, looking a name up once (see ``client.subaccounts``).

        Scoped calls do this themselves; call it to fail early on a wrong name.

        >>> Smtp2goClient(api_key, subaccount_id="Marketing").resolve_subaccount()  # doctest: +SKIP
        'SUB00001'
        """
        pending = self._subaccount_lookup()
        if pending is None:
            return self.subaccount_id
        ref, lookup = pending
        try:
            while (request := lookup.next_request()) is not None:
                lookup.add(self.search_subaccounts(**request))
        except Smtp2goAuthError as exc:
            return ref.settle_unlisted(str(exc))
        return ref.settle(lookup.items)

    def scan_activity(self, *, max_pages: int | None = None, **filters: Unpack[ActivityFilters]) -> ActivityScan:
        """Every matching event across pages, and whether ``max_pages`` cut the scan short.

        >>> scan = client.scan_activity(search_email_id=email_id, max_pages=5)  # doctest: +SKIP
        >>> scan.truncated, len(scan.events)  # doctest: +SKIP
        (False, 3)
        """
        pager = ActivityPager(filters, max_pages)
        while pager.add(self.search_activity(**pager.filters)):
            pass
        return pager.scan()

    def iter_activity(
        self, *, max_pages: int | None = None, **filters: Unpack[ActivityFilters]
    ) -> Iterator[ActivityEvent]:
        """Every matching event, page by page; a WARNING is logged if ``max_pages`` stops it early."""
        pager = ActivityPager(filters, max_pages, collect=False)
        more = True
        while more:
            page = self.search_activity(**pager.filters)
            more = pager.add(page)
            yield from page.events
        pager.warn_if_truncated()
