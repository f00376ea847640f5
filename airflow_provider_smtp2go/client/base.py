"""What the sync and async clients share: settings, the secret, and per-call bookkeeping."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from airflow_provider_smtp2go.client.errors import Smtp2goRateLimitError, Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import ACTIVITY_REQUESTS_PER_MINUTE, DEFAULT_MAX_SIZE_BYTES, DEFAULT_TIMEOUT
from airflow_provider_smtp2go.client.protocol import (
    ApiCall,
    ApiResult,
    HttpRequest,
    build_http_request,
    interpret_response,
)
from airflow_provider_smtp2go.client.ratelimit import SlidingWindowLimiter, key_fingerprint, shared_limiter
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.client.retry import RetryPolicy

Timeout = float | tuple[float, float]


class BaseSmtp2goClient:
    """Settings common to ``Smtp2goClient`` and ``AsyncSmtp2goClient``.

    :param api_key: the SMTP2GO API key; sent only in the ``X-Smtp2go-Api-Key`` header.
    :param region: ``global`` (default), ``us``, ``eu`` or ``au``.
    :param base_url: a custom base URL (sandbox, proxy); https unless the host is loopback.
    :param subaccount_id: default subaccount for calls that can be scoped to one.
    :param timeout: seconds, or ``(connect, read)``.
    :param retry: the ``RetryPolicy``; ``RetryPolicy()`` by default.
    :param max_size_bytes: refuse emails larger than this once encoded (default 10 MiB).
    :param activity_requests_per_minute: this process's share of the account's 60/min budget
        for ``/activity/search`` (``None`` disables the limiter).
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
    ) -> None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise Smtp2goValidationError("api_key", "required", "an SMTP2GO API key is required")
        if any(ch.isspace() for ch in api_key.strip()):
            raise Smtp2goValidationError("api_key", "format", "the API key must not contain whitespace")
        self.__api_key = api_key.strip()
        self.base_url = resolve_base_url(region, base_url)
        self.region = None if base_url else (region or "global")
        self.subaccount_id = subaccount_id or None
        self.timeout: tuple[float, float] = (
            (float(timeout), float(timeout)) if isinstance(timeout, (int, float)) else (timeout[0], timeout[1])
        )
        self.retry_policy = retry or RetryPolicy()
        self.max_size_bytes = max_size_bytes
        self._activity_limiter: SlidingWindowLimiter | None = (
            shared_limiter(self.__api_key, urlsplit(self.base_url).netloc, activity_requests_per_minute)
            if activity_requests_per_minute
            else None
        )

    def __repr__(self) -> str:
        extra = f", subaccount_id={self.subaccount_id!r}" if self.subaccount_id else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<redacted>{extra})"

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the key wherever the pickle goes (XCom, a cache, a log).
        raise TypeError(f"{type(self).__name__} holds an API key and cannot be pickled")

    @property
    def account_fingerprint(self) -> str:
        """A hash naming this client's API key, for grouping work per account (never the key)."""
        return key_fingerprint(self.__api_key)

    @property
    def _secret(self) -> str:
        return self.__api_key

    def _http_request(self, call: ApiCall) -> HttpRequest:
        return build_http_request(call, base_url=self.base_url, api_key=self.__api_key)

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
            return interpret_response(call, status, headers, content, secret=self.__api_key)
        except Smtp2goRateLimitError as exc:
            if limiter is not None:
                limiter.block_for(exc.retry_after)
            raise

    def _subaccounts(self, subaccounts: Iterable[str] | None) -> list[str] | None:
        if subaccounts is not None:
            return [subaccounts] if isinstance(subaccounts, str) else list(subaccounts)
        return [self.subaccount_id] if self.subaccount_id else None

    def _subaccount_id(self, subaccount_id: str | None) -> str | None:
        return subaccount_id or self.subaccount_id
