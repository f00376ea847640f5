"""``ClientSettings``: everything a client is built from, checked once, for both transports.

``Smtp2goClient(api_key, **options)`` and ``AsyncSmtp2goClient(api_key, **options)`` take the
options of ``ClientOptions`` (this module is their one declaration) and keep the resulting
``ClientSettings``; nothing about a client changes after it is built (a client that must not
retry is built with ``retry=RetryPolicy.no_retries()``).

>>> settings = ClientSettings.create("api-0123456789ABCDEF", region="eu", timeout=20)
>>> settings.base_url, settings.timeout
('https://eu-api.smtp2go.com/v3', (20.0, 20.0))
>>> settings
ClientSettings(base_url='https://eu-api.smtp2go.com/v3', api_key=<redacted>)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from airflow_provider_smtp2go import __version__
from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import ACTIVITY_REQUESTS_PER_MINUTE, DEFAULT_MAX_SIZE_BYTES, DEFAULT_TIMEOUT
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.client.retry import RetryPolicy
from airflow_provider_smtp2go.client.secret import Secret
from airflow_provider_smtp2go.client.subaccounts import SubaccountRef, SubaccountUnresolved

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: Seconds, or ``(connect, read)``.
Timeout = float | tuple[float, float]

USER_AGENT = f"airflow-provider-smtp2go/{__version__}"


class ClientOptions(TypedDict, total=False):
    """The keyword options of both clients (defaults in ``ClientSettings.create``).

    :param region: ``global`` (default), ``us``, ``eu`` or ``au``.
    :param base_url: a custom base URL (sandbox, proxy); https unless the host is loopback.
    :param subaccount_id: default subaccount for calls that can be scoped to one: its id or
        its name (looked up on the first such call; see ``client.subaccounts``), or a shared
        ``SubaccountRef``.
    :param timeout: seconds, or ``(connect, read)``; each is also cut to the call's deadline.
    :param retry: the ``RetryPolicy`` (``RetryPolicy()`` by default).
    :param max_size_bytes: refuse emails larger than this once encoded (default 10 MiB).
    :param activity_requests_per_minute: this process's share of the account's 60/min budget
        for ``/activity/search`` (``None`` disables the limiter).
    :param user_agent: the ``User-Agent`` header.
    """

    region: str | None
    base_url: str | None
    subaccount_id: str | SubaccountRef | None
    timeout: Timeout
    retry: RetryPolicy | None
    max_size_bytes: int | None
    activity_requests_per_minute: int | None
    user_agent: str


def _timeout(value: Timeout) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in pair
    ):
        raise Smtp2goValidationError("timeout", "positive", f"expected seconds > 0 or (connect, read), got {value!r}")
    return float(pair[0]), float(pair[1])


def _subaccount(value: str | SubaccountRef | None) -> SubaccountRef | None:
    if value is None or isinstance(value, SubaccountRef):
        return value
    return SubaccountRef(value) if str(value).strip() else None


def _api_key(value: str | Secret) -> Secret:
    text = value.reveal() if isinstance(value, Secret) else value
    if not isinstance(text, str) or not text.strip():
        raise Smtp2goValidationError("api_key", "required", "an SMTP2GO API key is required")
    if any(ch.isspace() for ch in text.strip()):
        raise Smtp2goValidationError("api_key", "format", "the API key must not contain whitespace")
    return Secret(text.strip())


@dataclass(frozen=True, repr=False)
class ClientSettings:
    """A client's settings, validated; ``api_key`` is a ``Secret`` (never in repr, pickles or ``asdict``)."""

    api_key: Secret
    base_url: str
    region: str | None
    subaccount: SubaccountRef | None
    timeout: tuple[float, float]
    retry: RetryPolicy
    max_size_bytes: int | None
    activity_requests_per_minute: int | None
    user_agent: str = USER_AGENT

    @classmethod
    def create(cls, api_key: str | Secret, **options: Unpack[ClientOptions]) -> ClientSettings:
        """Check ``options`` (see ``ClientOptions``) and build the settings; raise naming the bad field."""
        unknown = set(options) - set(ClientOptions.__annotations__)
        if unknown:
            raise TypeError(f"unknown client option(s): {', '.join(sorted(unknown))}")
        base_url = options.get("base_url")
        region = options.get("region")
        rate = options.get("activity_requests_per_minute", ACTIVITY_REQUESTS_PER_MINUTE)
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate < 0):
            raise Smtp2goValidationError(
                "activity_requests_per_minute", "positive", f"expected a whole number, got {rate!r}"
            )
        return cls(
            api_key=_api_key(api_key),
            base_url=resolve_base_url(region, base_url),
            region=None if base_url else (region or "global"),
            subaccount=_subaccount(options.get("subaccount_id")),
            timeout=_timeout(options.get("timeout", DEFAULT_TIMEOUT)),
            retry=options.get("retry") or RetryPolicy(),
            max_size_bytes=options.get("max_size_bytes", DEFAULT_MAX_SIZE_BYTES),
            activity_requests_per_minute=rate or None,
            user_agent=options.get("user_agent", USER_AGENT),
        )

    @classmethod
    def of(cls, api_key: str | Secret | ClientSettings, **options: Unpack[ClientOptions]) -> ClientSettings:
        """``api_key`` itself if it is ``ClientSettings`` (then without options), else ``create``."""
        if isinstance(api_key, ClientSettings):
            if options:
                raise TypeError("pass either ClientSettings or options, not both")
            return api_key
        return cls.create(api_key, **options)

    @property
    def subaccount_id(self) -> str | None:
        """The default subaccount's id; raises ``SubaccountUnresolved`` while a name is not looked up
        (the endpoint methods look it up then: builders read this only for calls scoped to one)."""
        ref = self.subaccount
        if ref is None:
            return None
        if ref.resolved is None:
            raise SubaccountUnresolved(ref.given)
        return ref.resolved

    def __repr__(self) -> str:
        extra = f", subaccount_id={self.subaccount.given!r}" if self.subaccount else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<redacted>{extra})"

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} holds an API key and cannot be pickled")

    def __copy__(self) -> ClientSettings:
        return self  # immutable: a copy is the same settings

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientSettings:
        return self
