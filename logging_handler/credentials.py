"""Where the handler's key, region, base URL, subaccount and sender come from: its arguments,
then an Airflow connection (only when one is named), then an environment variable.

>>> import os
>>> os.environ["DOCTEST_SMTP2GO_KEY"] = "api-DOCTEST0000"
>>> creds = resolve_credentials(api_key=None, api_key_env="DOCTEST_SMTP2GO_KEY", airflow_conn_id=None,
...                             region="eu", base_url=None, subaccount_id=None, sender="a@example.com")
>>> creds.source, "api-DOCTEST" in repr(creds)
('environment variable DOCTEST_SMTP2GO_KEY', False)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_API_KEY_ENV = "SMTP2GO_API_KEY"

#: ``Credentials.source`` when the key was passed as ``api_key=``: it cannot change later.
FROM_ARGUMENT = "argument"


def _invalid(name: str, rule: str, message: str) -> ValueError:
    # Imported on the error path only: ``import logging_handler`` stays cheap.
    from airflow_provider_smtp2go.client.errors import Smtp2goValidationError  # noqa: PLC0415

    return Smtp2goValidationError(name, rule, message)


@dataclass(frozen=True)
class Credentials:
    """Where to send and as whom; ``repr`` never shows the key."""

    api_key: str = field(repr=False)
    region: str | None = None
    base_url: str | None = None
    subaccount_id: str | None = None
    sender: str | None = None
    source: str = FROM_ARGUMENT  # where the key came from, for error messages


def airflow_connection_settings(conn_id: str) -> dict[str, Any]:
    """Key, region, base URL, subaccount and default sender of an Airflow ``smtp2go`` connection.

    Parsed exactly as the provider's hook parses it (same extras, same validation), and
    imports Airflow only when called, so the handler works in programs without it.
    """
    try:
        from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook  # noqa: PLC0415
    except ImportError:
        raise _invalid(
            "airflow_conn_id",
            "airflow",
            f"{conn_id!r} needs Apache Airflow, which is not installed here; "
            "pass api_key or set the API key environment variable instead",
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
    """Arguments first (already normalised: ``None`` means unset), then the Airflow connection
    (if named), then the environment variable.  Called again after SMTP2GO refuses a key that
    came from the connection or the environment, so a fixed key is picked up."""
    from_conn: dict[str, Any] = {}
    if airflow_conn_id:
        from_conn = airflow_connection_settings(airflow_conn_id)
    source = FROM_ARGUMENT
    key = api_key
    if key is None and from_conn.get("api_key"):
        key, source = str(from_conn["api_key"]), f"Airflow connection {airflow_conn_id!r}"
    if key is None and os.environ.get(api_key_env, "").strip():
        key, source = os.environ[api_key_env].strip(), f"environment variable {api_key_env}"
    if key is None:
        where = f"the Airflow connection {airflow_conn_id!r} has no password, and " if airflow_conn_id else ""
        raise _invalid(
            "api_key",
            "required",
            f"Smtp2goHandler needs an SMTP2GO API key: {where}pass api_key or set the environment "
            f"variable {api_key_env}",
        )
    return Credentials(
        api_key=key,
        region=region or from_conn.get("region") or None,
        base_url=base_url or from_conn.get("base_url") or None,
        subaccount_id=subaccount_id or from_conn.get("subaccount_id") or None,
        sender=sender or from_conn.get("sender") or None,
        source=source,
    )
