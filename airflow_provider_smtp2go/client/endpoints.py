"""What each SMTP2GO endpoint takes: pure builders of ``ApiCall``s, shared by both clients.

Fields left at ``None`` are not sent (SMTP2GO dislikes explicit nulls). Where an endpoint
can be scoped to a subaccount, the caller's value wins over the client-wide default.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import date, datetime
from email.message import EmailMessage, Message
from typing import Any

from airflow_provider_smtp2go.client.activity import format_api_datetime
from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES
from airflow_provider_smtp2go.client.messages import (
    Email,
    check_size,
    format_schedule,
    normalize_address,
)
from airflow_provider_smtp2go.client.protocol import ApiCall

SUPPRESSION_REASONS = frozenset({"manual", "spam", "unsubscribe", "bounce", "compliance"})
HISTORY_GROUPS = frozenset({"email_address", "username", "domain", "subaccount"})
STATS_ENDPOINTS = ("email_summary", "email_bounces", "email_spam", "email_unsubs")


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _date(value: datetime | date | str | None, name: str) -> str | None:
    return None if value is None else format_api_datetime(value, name)


def send(message: Email, *, max_size_bytes: int | None = DEFAULT_MAX_SIZE_BYTES) -> ApiCall:
    return ApiCall("email/send", message.to_payload(max_size_bytes))


def send_mime(
    message: Message | bytes | str,
    *,
    schedule: datetime | str | None = None,
    fastaccept: bool = False,
    max_size_bytes: int | None = DEFAULT_MAX_SIZE_BYTES,
) -> ApiCall:
    """``/email/mime`` for a message built with the stdlib ``email`` package (or its bytes)."""
    if isinstance(message, Message):
        if not (message.get("From") and (message.get("To") or message.get("Cc") or message.get("Bcc"))):
            raise Smtp2goValidationError("mime_email", "required", "the MIME message needs From and To headers")
        raw = message.as_bytes(policy=message.policy) if isinstance(message, EmailMessage) else message.as_bytes()
    else:
        raw = message.encode("utf-8") if isinstance(message, str) else bytes(message)
    if not raw.strip():
        raise Smtp2goValidationError("mime_email", "required", "the MIME message is empty")
    body: dict[str, Any] = {"mime_email": base64.b64encode(raw).decode("ascii")}
    if schedule is not None:
        body["schedule"] = format_schedule(schedule)
    if fastaccept:
        body["fastaccept"] = True
    if max_size_bytes is not None:
        check_size(body, max_size_bytes)
    return ApiCall("email/mime", body)


def stats(name: str, *, username: str | None = None) -> ApiCall:
    """``stats/email_summary|email_bounces|email_spam|email_unsubs`` (optionally for one user)."""
    if name not in STATS_ENDPOINTS:
        raise Smtp2goValidationError("stats", "choice", f"unknown statistics endpoint {name!r}")
    return ApiCall(f"stats/{name}", _body(username=username))


def email_cycle() -> ApiCall:
    return ApiCall("stats/email_cycle", {})


def email_history(
    *,
    start_date: datetime | date | str | None = None,
    end_date: datetime | date | str | None = None,
    group_by: str | None = None,
    subaccounts: Iterable[str] | None = None,
) -> ApiCall:
    if group_by is not None and group_by not in HISTORY_GROUPS:
        raise Smtp2goValidationError(
            "group_by", "choice", f"expected one of {', '.join(sorted(HISTORY_GROUPS))}, got {group_by!r}"
        )
    return ApiCall(
        "stats/email_history",
        _body(
            start_date=_date(start_date, "start_date"),
            end_date=_date(end_date, "end_date"),
            group_by=group_by,
            subaccounts=list(subaccounts) if subaccounts else None,
        ),
    )


def api_key_permissions() -> ApiCall:
    return ApiCall("api_keys/permissions", {})


def view_suppressions(
    *,
    email_address: str | None = None,
    start_date: datetime | date | str | None = None,
    end_date: datetime | date | str | None = None,
    reasons: Iterable[str] | None = None,
    fuzzy: bool | None = None,
    sort: str | None = None,
    continue_token: str | None = None,
    subaccount_id: str | None = None,
) -> ApiCall:
    reason_list = _reasons(reasons) if reasons is not None else None
    if sort is not None and sort not in ("asc", "desc"):
        raise Smtp2goValidationError("sort", "choice", "expected 'asc' or 'desc'")
    return ApiCall(
        "suppression/view",
        _body(
            email_address=email_address,
            start_date=_date(start_date, "start_date"),
            end_date=_date(end_date, "end_date"),
            reasons=reason_list,
            fuzzy=fuzzy,
            sort=sort,
            continue_token=continue_token,
            subaccount_id=subaccount_id,
        ),
    )


def _suppression_target(email_address: str) -> str:
    # A suppression may name a whole domain ("example.com") as well as one address.
    text = email_address.strip()
    if "@" in text:
        return normalize_address(text, "email_address")
    if not text or "\n" in text or "\r" in text or " " in text or "." not in text:
        raise Smtp2goValidationError(
            "email_address", "address", f"{email_address!r} is neither an address nor a domain"
        )
    return text


def _reasons(reasons: Iterable[str]) -> list[str]:
    listed = [reasons] if isinstance(reasons, str) else list(reasons)
    unknown = [r for r in listed if r not in SUPPRESSION_REASONS]
    if unknown or not listed:
        raise Smtp2goValidationError(
            "reasons", "choice", f"expected some of {', '.join(sorted(SUPPRESSION_REASONS))}, got {listed!r}"
        )
    return listed


def add_suppression(
    email_address: str, *, block_description: str | None = None, subaccount_id: str | None = None
) -> ApiCall:
    return ApiCall(
        "suppression/add",
        _body(
            email_address=_suppression_target(email_address),
            block_description=block_description,
            subaccount_id=subaccount_id,
        ),
    )


def remove_suppression(
    email_address: str, *, reasons: Iterable[str] = ("manual",), subaccount_id: str | None = None
) -> ApiCall:
    return ApiCall(
        "suppression/remove",
        _body(
            email_address=_suppression_target(email_address),
            reasons=_reasons(reasons),
            subaccount_id=subaccount_id,
        ),
    )


def search_templates(
    *,
    fuzzy_search: bool | None = None,
    search_terms: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    sort_direction: str | None = None,
    page_size: int | None = None,
    continue_token: str | None = None,
) -> ApiCall:
    return ApiCall(
        "template/search",
        _body(
            fuzzy_search=fuzzy_search,
            search_terms=list(search_terms) if search_terms is not None else None,
            tags=list(tags) if tags is not None else None,
            sort_direction=sort_direction,
            page_size=page_size,
            continue_token=continue_token,
        ),
    )


def view_template(template_id: str) -> ApiCall:
    if not template_id or not template_id.strip():
        raise Smtp2goValidationError("template_id", "required", "is empty")
    return ApiCall("template/view", {"id": template_id})
