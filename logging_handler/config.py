"""Turning configuration values into settings: plain strings from ``dictConfig``/``fileConfig``,
the API key from the environment, and (only when asked) an Airflow connection.

Every coercion names the argument it rejects, so a typo in a logging config file reads as
``ValueError: digest_window: expected a number of seconds, got 'five'``.

>>> as_list("recipients", "ops@example.com, oncall@example.com")
['ops@example.com', 'oncall@example.com']
>>> as_bool("html_body", "no"), as_float("digest_window", "2.5"), as_level("level", "warning")
(False, 2.5, 30)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_KEY_ENV = "SMTP2GO_API_KEY"

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f", ""})


def as_float(name: str, value: Any, *, minimum: float | None = 0.0) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number of seconds, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if math.isnan(number) or (minimum is not None and number < minimum):  # NaN, or too small
        raise ValueError(f"{name}: must be >= {minimum:g}, got {value!r}")
    return number


def as_int(name: str, value: Any, *, minimum: int | None = 0) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a whole number, got {value!r}")
    try:
        number = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value!r}")
    return number


def as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ValueError(f"{name}: expected true/false, got {value!r}")


def as_level(name: str, value: Any) -> int:
    """A level number from ``40``, ``"40"``, ``"ERROR"`` or ``"error"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        level = logging.getLevelName(text.upper())
        if isinstance(level, int):
            return level
    raise ValueError(f"{name}: unknown logging level {value!r}")


def as_list(name: str, value: Any) -> list[str]:
    """A list of strings (addresses, logger names) from a list/tuple or a comma/semicolon separated string."""
    if value is None:
        return []
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.replace(";", ",").split(",")
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        raise ValueError(f"{name}: expected a list or a comma-separated string, got {type(value).__name__}")
    result = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{name}: expected strings, got {item!r}")
        if item.strip():
            result.append(item.strip())
    return result


def as_optional_str(value: Any) -> str | None:
    """``None``, ``""`` and ``"none"``/``"null"`` (all spellings a config file might use) mean unset."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in ("", "none", "null") else text


@dataclass(frozen=True)
class Credentials:
    """Where to send and as whom; ``repr`` never shows the key."""

    api_key: str = field(repr=False)
    region: str | None = None
    base_url: str | None = None
    subaccount_id: str | None = None
    sender: str | None = None
    source: str = "argument"  # where the key came from, for error messages


def airflow_connection_settings(conn_id: str) -> dict[str, Any]:
    """Key, region, base URL, subaccount and default sender of an Airflow ``smtp2go`` connection.

    Parsed exactly as the provider's hook parses it (same extras, same validation), and
    imports Airflow only when called, so the handler works in programs without it.
    """
    try:
        from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook  # noqa: PLC0415
    except ImportError:
        raise ValueError(
            f"airflow_conn_id={conn_id!r} needs Apache Airflow, which is not installed here; "
            "pass api_key or set the API key environment variable instead"
        ) from None
    settings = Smtp2goHook(conn_id).get_settings()
    return {
        "api_key": settings.api_key,
        "region": settings.region,
        "base_url": settings.base_url,
        "subaccount_id": settings.subaccount_id,
        "sender": settings.sender,
    }


def resolve_credentials(
    *,
    api_key: str | None,
    api_key_env: str,
    airflow_conn_id: str | None,
    region: str | None,
    base_url: str | None,
    subaccount_id: str | None,
    sender: str | None,
) -> Credentials:
    """Arguments first, then the Airflow connection (if named), then the environment variable."""
    from_conn: dict[str, Any] = {}
    if airflow_conn_id:
        from_conn = airflow_connection_settings(airflow_conn_id)
    source = "argument"
    key = as_optional_str(api_key)
    if key is None and from_conn.get("api_key"):
        key, source = str(from_conn["api_key"]), f"Airflow connection {airflow_conn_id!r}"
    if key is None and os.environ.get(api_key_env, "").strip():
        key, source = os.environ[api_key_env].strip(), f"environment variable {api_key_env}"
    if key is None:
        where = f"the Airflow connection {airflow_conn_id!r} has no password, and " if airflow_conn_id else ""
        raise ValueError(
            f"Smtp2goHandler needs an SMTP2GO API key: {where}pass api_key or set the environment "
            f"variable {api_key_env}"
        )
    return Credentials(
        api_key=key,
        region=as_optional_str(region) or as_optional_str(from_conn.get("region")),
        base_url=as_optional_str(base_url) or as_optional_str(from_conn.get("base_url")),
        subaccount_id=as_optional_str(subaccount_id) or as_optional_str(from_conn.get("subaccount_id")),
        sender=as_optional_str(sender) or as_optional_str(from_conn.get("sender")),
        source=source,
    )
