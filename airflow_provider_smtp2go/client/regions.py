"""Where requests go: SMTP2GO regions and the safety rules for a custom base URL."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from airflow_provider_smtp2go.client.errors import Smtp2goValidationError

#: Region name -> API base URL (all under /v3). ``global`` lets SMTP2GO pick the nearest.
REGIONS: dict[str, str] = {
    "global": "https://api.smtp2go.com/v3",
    "us": "https://us-api.smtp2go.com/v3",
    "eu": "https://eu-api.smtp2go.com/v3",
    "au": "https://au-api.smtp2go.com/v3",
}

DEFAULT_REGION = "global"


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any loopback IP (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_base_url(region: str | None = None, base_url: str | None = None) -> str:
    """Return the API base URL for ``region`` or a validated custom ``base_url``.

    A custom URL must be ``https://`` unless its host is loopback (the sandbox, a local proxy):
    the API key travels in a header, and plain HTTP to another host would expose it.

    >>> resolve_base_url("eu")
    'https://eu-api.smtp2go.com/v3'
    >>> resolve_base_url(base_url="http://127.0.0.1:8025/v3/")
    'http://127.0.0.1:8025/v3'
    """
    if base_url:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Smtp2goValidationError(
                "base_url",
                "url",
                f"expected an http(s) URL such as https://api.smtp2go.com/v3, got {base_url!r}",
            )
        if parts.username or parts.password:
            raise Smtp2goValidationError("base_url", "url", "must not carry credentials")
        if parts.query or parts.fragment:
            raise Smtp2goValidationError("base_url", "url", "must not have a query string or fragment")
        if parts.scheme == "http" and not is_loopback_host(parts.hostname):
            raise Smtp2goValidationError(
                "base_url",
                "https_required",
                f"plain http is only allowed to a loopback host; {parts.hostname!r} would receive "
                "the API key unencrypted. Use https://",
            )
        return base_url.strip().rstrip("/")
    name = (region or DEFAULT_REGION).strip().lower()
    if name not in REGIONS:
        raise Smtp2goValidationError(
            "region", "choice", f"unknown region {region!r}; expected one of {', '.join(REGIONS)}"
        )
    return REGIONS[name]
