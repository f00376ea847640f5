"""What the sync and async clients share: their settings, the endpoint methods, per-call bookkeeping."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from airflow_provider_smtp2go.client.endpoints import EndpointMethods
from airflow_provider_smtp2go.client.errors import Smtp2goRateLimitError
from airflow_provider_smtp2go.client.protocol import (
    ApiCall,
    ApiResult,
    HttpRequest,
    build_http_request,
    interpret_response,
)
from airflow_provider_smtp2go.client.ratelimit import SlidingWindowLimiter, key_fingerprint, shared_limiter
from airflow_provider_smtp2go.client.retry import RetryPolicy
from airflow_provider_smtp2go.client.settings import ClientSettings, Timeout
from airflow_provider_smtp2go.client.subaccounts import SubaccountLookup, SubaccountRef

__all__ = ["BaseSmtp2goClient", "Timeout"]

T = TypeVar("T")


class BaseSmtp2goClient(EndpointMethods):
    """Settings and endpoint methods common to ``Smtp2goClient`` and ``AsyncSmtp2goClient``.

    Built from a ``ClientSettings`` (see ``ClientOptions`` for the keyword options); every
    setting is read-only afterwards. The API key lives only in the settings' ``Secret``.
    """

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        rate = settings.activity_requests_per_minute
        self._activity_limiter: SlidingWindowLimiter | None = (
            shared_limiter(settings.api_key.reveal(), urlsplit(settings.base_url).netloc, rate) if rate else None
        )

    @property
    def settings(self) -> ClientSettings:
        return self._settings

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy this client was built with (read-only: build another client to change it)."""
        return self._settings.retry

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def region(self) -> str | None:
        return self._settings.region

    @property
    def subaccount_id(self) -> str | None:
        """The default subaccount: its id once looked up, else the id or name as given."""
        ref = self._settings.subaccount
        return None if ref is None else (ref.resolved or ref.given)

    @property
    def timeout(self) -> tuple[float, float]:
        return self._settings.timeout

    @property
    def max_size_bytes(self) -> int | None:
        return self._settings.max_size_bytes

    @property
    def account_fingerprint(self) -> str:
        """A hash naming this client's API key, for grouping work per account (never the key)."""
        return key_fingerprint(self._secret)

    def __repr__(self) -> str:
        extra = f", subaccount_id={self.subaccount_id!r}" if self.subaccount_id else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<redacted>{extra})"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the key wherever the pickle goes (XCom, a cache, a log).
        raise TypeError(f"{type(self).__name__} holds an API key and cannot be pickled")

    @property
    def _secret(self) -> str:
        return self._settings.api_key.reveal()

    def _execute(self, call: ApiCall, parse: Callable[[ApiCall, ApiResult], T]) -> Any:
        """Run ``call`` and ``parse`` its answer: the transport's half of every endpoint method."""
        raise NotImplementedError

    def _execute_after_lookup(
        self, make: Callable[[ClientSettings], ApiCall], parse: Callable[[ApiCall, ApiResult], T]
    ) -> Any:
        """Look the default subaccount up (``resolve_subaccount``), then build and run the call."""
        raise NotImplementedError

    def _subaccount_lookup(self) -> tuple[SubaccountRef, SubaccountLookup] | None:
        """The pending reference and a fresh look-up, or ``None`` when there is nothing to look up."""
        ref = self._settings.subaccount
        return None if ref is None or ref.resolved is not None else (ref, SubaccountLookup())

    def _http_request(self, call: ApiCall) -> HttpRequest:
        settings = self._settings
        return build_http_request(
            call, base_url=settings.base_url, api_key=settings.api_key.reveal(), user_agent=settings.user_agent
        )

    def _limiter_for(self, call: ApiCall) -> SlidingWindowLimiter | None:
        return self._activity_limiter if call.is_rate_limited else None

    def _judge(
        self,
        call: ApiCall,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        limiter: SlidingWindowLimiter | None,
    ) -> ApiResult:
        """Interpret an answer; after a 429 every user of the limiter backs off, not just this call."""
        try:
            return interpret_response(call, status, headers, content, secret=self._secret)
        except Smtp2goRateLimitError as exc:
            if limiter is not None:
                limiter.block_for(exc.retry_after)
            raise
