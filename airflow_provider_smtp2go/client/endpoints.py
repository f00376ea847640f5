"""Every SMTP2GO endpoint, once: pure builders of ``ApiCall``s, and the client methods made from them.

Each endpoint is a builder ``f(settings, ...) -> ApiCall`` and a parser of the answer.
``EndpointMethods`` turns each pair into a method of *both* clients (``Endpoint`` is the
descriptor): ``Smtp2goClient.email_bounces(...)`` returns the parsed result,
``AsyncSmtp2goClient.email_bounces(...)`` a coroutine of it, with the builder's signature and
docstring. The two clients cannot drift apart: there is one list.

Fields left at ``None`` are not sent (SMTP2GO dislikes explicit nulls). Where an endpoint
can be scoped to a subaccount, the caller's value wins over the client-wide default.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Coroutine, Iterable, Mapping
from datetime import date, datetime
from email.message import EmailMessage, Message
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload
from urllib.parse import urlsplit

from airflow_provider_smtp2go.client.activity import (
    ActivityPage,
    build_activity_query,
    format_api_datetime,
    parse_activity_page,
)
from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.messages import (
    Email,
    check_size,
    format_schedule,
    normalize_address,
)
from airflow_provider_smtp2go.client.protocol import ApiCall, ApiResult, SendResult, parse_send_result
from airflow_provider_smtp2go.client.subaccounts import SubaccountUnresolved, match_subaccount, subaccount_items

if TYPE_CHECKING:
    from typing import Concatenate

    from typing_extensions import Unpack

    from airflow_provider_smtp2go.client.activity import ActivityFilters
    from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
    from airflow_provider_smtp2go.client.settings import ClientSettings
    from airflow_provider_smtp2go.client.sync import Smtp2goClient

P = ParamSpec("P")
T = TypeVar("T")

SUPPRESSION_REASONS = frozenset({"manual", "spam", "unsubscribe", "bounce", "compliance"})
HISTORY_GROUPS = frozenset({"email_address", "username", "domain", "subaccount"})
STATS_ENDPOINTS = ("email_summary", "email_bounces", "email_spam", "email_unsubs")


def _body(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _date(value: datetime | date | str | None, name: str) -> str | None:
    return None if value is None else format_api_datetime(value, name)


def send(settings: ClientSettings, email: Email) -> ApiCall:
    """Send one email through ``/email/send``; raise unless SMTP2GO accepted it."""
    return ApiCall("email/send", email.to_payload(settings.max_size_bytes))


def send_mime(
    settings: ClientSettings,
    message: Message | bytes | str,
    *,
    schedule: datetime | str | None = None,
    fastaccept: bool = False,
) -> ApiCall:
    """Send a ready MIME message (``email.message.EmailMessage`` or bytes) via ``/email/mime``."""
    max_size_bytes = settings.max_size_bytes
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


def email_summary(settings: ClientSettings, *, username: str | None = None) -> ApiCall:
    """``/stats/email_summary``: the account's (or ``username``'s) sending summary."""
    return stats("email_summary", username=username)


def email_bounces(settings: ClientSettings, *, username: str | None = None) -> ApiCall:
    """``/stats/email_bounces``: bounce counts and rates."""
    return stats("email_bounces", username=username)


def email_spam(settings: ClientSettings, *, username: str | None = None) -> ApiCall:
    """``/stats/email_spam``: spam complaint counts and rates."""
    return stats("email_spam", username=username)


def email_unsubs(settings: ClientSettings, *, username: str | None = None) -> ApiCall:
    """``/stats/email_unsubs``: unsubscribe counts and rates."""
    return stats("email_unsubs", username=username)


def email_cycle(settings: ClientSettings) -> ApiCall:
    """``/stats/email_cycle``: the billing cycle's quota and usage."""
    return ApiCall("stats/email_cycle", {})


def email_history(
    settings: ClientSettings,
    *,
    start_date: datetime | date | str | None = None,
    end_date: datetime | date | str | None = None,
    group_by: str | None = None,
    subaccounts: Iterable[str] | None = None,
) -> ApiCall:
    """``/stats/email_history``: counts per period, optionally grouped (subaccounts default to the client's)."""
    if subaccounts is None and settings.subaccount_id:
        subaccounts = [settings.subaccount_id]
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
            subaccounts=([subaccounts] if isinstance(subaccounts, str) else list(subaccounts)) if subaccounts else None,
        ),
    )


def api_key_permissions(settings: ClientSettings) -> ApiCall:
    """Endpoints this key may call; cheap, sends no mail (a connection test)."""
    return ApiCall("api_keys/permissions", {})


def search_activity(settings: ClientSettings, **filters: Unpack[ActivityFilters]) -> ApiCall:
    """One page of ``/activity/search`` (rate limited in-process to the account's budget).

    >>> page = client.search_activity(search_email_id=result.email_id,  # doctest: +SKIP
    ...                               event_types=["delivered", "opened"])
    """
    if "subaccounts" not in filters and settings.subaccount_id:
        filters["subaccounts"] = [settings.subaccount_id]
    return ApiCall("activity/search", build_activity_query(**filters))


def view_suppressions(
    settings: ClientSettings,
    *,
    email_address: str | None = None,
    start_date: datetime | date | str | None = None,
    end_date: datetime | date | str | None = None,
    suppression_types: Iterable[str] | None = None,
    reasons: Iterable[str] | None = None,
    fuzzy: bool | None = None,
    sort: str | None = None,
    continue_token: str | None = None,
    subaccount_id: str | None = None,
) -> ApiCall:
    """``/suppression/view``: suppressed addresses and domains.

    ``suppression_types`` filters by type (``manual``, ``spam``, ``unsubscribe``, ``bounce``,
    ``compliance``); ``reasons`` is SMTP2GO's free-text search of the recorded reason (how it
    matches -- substring, case -- is UNVERIFIED).

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> view_suppressions(ClientSettings.of("api-key"), suppression_types=["bounce"]).body
    {'suppression_types': ['bounce']}
    """
    if sort is not None and sort not in ("asc", "desc"):
        raise Smtp2goValidationError("sort", "choice", "expected 'asc' or 'desc'")
    return ApiCall(
        "suppression/view",
        _body(
            email_address=email_address,
            start_date=_date(start_date, "start_date"),
            end_date=_date(end_date, "end_date"),
            suppression_types=_reasons(suppression_types, "suppression_types")
            if suppression_types is not None
            else None,
            reasons=_free_texts(reasons, "reasons"),
            fuzzy=fuzzy,
            sort=sort,
            continue_token=continue_token,
            subaccount_id=subaccount_id or settings.subaccount_id,
        ),
    )


def _free_texts(values: Iterable[str] | None, name: str) -> list[str] | None:
    if values is None:
        return None
    listed = [values] if isinstance(values, str) else [str(v) for v in values]
    if not listed or any(not v.strip() for v in listed):
        raise Smtp2goValidationError(name, "required", "expected non-empty search texts")
    return listed


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


def _reasons(reasons: Iterable[str], name: str = "reasons") -> list[str]:
    listed = [reasons] if isinstance(reasons, str) else list(reasons)
    unknown = [r for r in listed if r not in SUPPRESSION_REASONS]
    if unknown or not listed:
        raise Smtp2goValidationError(
            name, "choice", f"expected some of {', '.join(sorted(SUPPRESSION_REASONS))}, got {listed!r}"
        )
    return listed


def add_suppression(
    settings: ClientSettings,
    email_address: str,
    *,
    block_description: str | None = None,
    subaccount_id: str | None = None,
) -> ApiCall:
    """``/suppression/add``: stop all mail to an address or a whole domain."""
    return ApiCall(
        "suppression/add",
        _body(
            email_address=_suppression_target(email_address),
            block_description=block_description,
            subaccount_id=subaccount_id or settings.subaccount_id,
        ),
    )


def remove_suppression(
    settings: ClientSettings,
    email_address: str,
    *,
    reasons: Iterable[str] = ("manual",),
    subaccount_id: str | None = None,
) -> ApiCall:
    """``/suppression/remove``: lift a suppression of the given types.

    Here SMTP2GO's ``reasons`` field names suppression *types* (``manual``, ``bounce``...), unlike
    ``/suppression/view``'s free-text ``reasons``.  The answer's ``suppressions`` lists
    ``{email_address, reason, removed}`` per type asked.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> remove_suppression(ClientSettings.of("api-key"), "gone@example.com", reasons=["bounce"]).body
    {'email_address': 'gone@example.com', 'reasons': ['bounce']}
    """
    return ApiCall(
        "suppression/remove",
        _body(
            email_address=_suppression_target(email_address),
            reasons=_reasons(reasons),
            subaccount_id=subaccount_id or settings.subaccount_id,
        ),
    )


def search_templates(
    settings: ClientSettings,
    *,
    fuzzy_search: bool | None = None,
    search_terms: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    sort_direction: str | None = None,
    page_size: int | None = None,
    continue_token: str | None = None,
) -> ApiCall:
    """``/template/search``: ``{templates: [{name, id, subject, tags, last_updated}], total_count,
    continue_token}`` -- no bodies (read those with ``view_template``).

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> search_templates(ClientSettings.of("api-key"), search_terms=["receipt"], page_size=100).body
    {'search_terms': ['receipt'], 'page_size': 100}
    """
    if sort_direction is not None and sort_direction not in ("asc", "desc"):
        raise Smtp2goValidationError("sort_direction", "choice", "expected 'asc' or 'desc'")
    return ApiCall(
        "template/search",
        _body(
            fuzzy_search=fuzzy_search,
            search_terms=[search_terms] if isinstance(search_terms, str) else _listed(search_terms),
            tags=_tags(tags),
            sort_direction=sort_direction,
            page_size=_positive(page_size, "page_size"),
            continue_token=continue_token,
        ),
    )


def _listed(values: Iterable[str] | None) -> list[str] | None:
    return None if values is None else list(values)


def _template_id(template_id: str, name: str = "template_id") -> str:
    text = template_id if isinstance(template_id, str) else ""
    if not 5 <= len(text) <= 24 or any(c.isspace() or not c.isprintable() for c in text):
        raise Smtp2goValidationError(
            name, "template_id", f"a template id is 5 to 24 characters without spaces, got {template_id!r}"
        )
    return text


def _line(value: str, name: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Smtp2goValidationError(name, "required", "is empty")
    if "\r" in value or "\n" in value:
        raise Smtp2goValidationError(name, "crlf", "must be one line")
    if max_length is not None and len(value) > max_length:
        raise Smtp2goValidationError(name, "max_length", f"is {len(value)} characters; at most {max_length}")
    return value


def _template_variables(variables: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if variables is None:
        return None
    if not isinstance(variables, Mapping):
        raise Smtp2goValidationError("template_variables", "object", "expected a mapping of name -> sample value")
    for key, value in variables.items():
        if not isinstance(key, str) or not key.strip():
            raise Smtp2goValidationError("template_variables", "name", f"{key!r} is not a variable name")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Smtp2goValidationError(
                f"template_variables.{key}", "scalar", f"expected a string or number, got {type(value).__name__}"
            )
    return dict(variables)


def _tags(tags: Iterable[str] | None) -> list[str] | None:
    if tags is None:
        return None
    listed = [tags] if isinstance(tags, str) else list(tags)
    for index, tag in enumerate(listed):
        if not isinstance(tag, str) or not tag.strip() or "\r" in tag or "\n" in tag:
            raise Smtp2goValidationError(f"tags[{index}]", "format", f"{tag!r} is not a tag")
    return listed


def view_template(settings: ClientSettings, template_id: str) -> ApiCall:
    """``/template/view``: one template, ``{name, id, subject, tags, html_body, text_body,
    template_variables, last_updated}``.

    >>> from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
    >>> from airflow_provider_smtp2go.client import Smtp2goClient
    >>> with Smtp2goSandbox() as sb, Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
    ...     _ = sb.add_template("welcome-01", "Hi {{ name }}", text_body="Hello {{ name }}", name="Welcome")
    ...     client.view_template("welcome-01")["name"]
    'Welcome'
    """
    if not template_id or not template_id.strip():
        raise Smtp2goValidationError("template_id", "required", "is empty")
    return ApiCall("template/view", {"id": template_id})


def add_template(
    settings: ClientSettings,
    template_id: str,
    *,
    name: str,
    subject: str,
    html_body: str = "",
    text_body: str = "",
    template_variables: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
) -> ApiCall:
    """``/template/add``: a new template with the id you choose (5-24 characters, case-sensitive).

    ``name`` is SMTP2GO's ``template_name`` (1-64 characters); ``template_variables`` are the
    declared variables with sample values.  The API requires both bodies as strings; at least
    one must say something.  What SMTP2GO answers for an id already taken is UNVERIFIED (the
    sandbox refuses it, naming ``id``).  Returns the echoed template (``template_name``...).

    >>> from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
    >>> from airflow_provider_smtp2go.client import Smtp2goClient
    >>> with Smtp2goSandbox() as sb, Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
    ...     client.add_template("receipt-01", name="Receipt", subject="Order {{ order_id }}",
    ...                         text_body="Thanks!", template_variables={"order_id": "A-1"})["id"]
    'receipt-01'
    """
    if not (isinstance(html_body, str) and isinstance(text_body, str)) or not (html_body.strip() or text_body.strip()):
        raise Smtp2goValidationError("html_body", "required", "a template needs an html_body or a text_body")
    return ApiCall(
        "template/add",
        _body(
            template_name=_line(name, "template_name", max_length=64),
            id=_template_id(template_id),
            subject=_line(subject, "subject"),
            html_body=html_body,
            text_body=text_body,
            template_variables=_template_variables(template_variables),
            tags=_tags(tags),
        ),
    )


def edit_template(
    settings: ClientSettings,
    template_id: str,
    *,
    new_id: str | None = None,
    name: str | None = None,
    subject: str | None = None,
    html_body: str | None = None,
    text_body: str | None = None,
    template_variables: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
) -> ApiCall:
    """``/template/edit``: change some of a template's fields (``new_id`` renames its id).

    Send only what changes; whether SMTP2GO keeps the fields left out is UNVERIFIED (the
    sandbox keeps them), so a caller wanting certainty sends every field.

    >>> from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
    >>> from airflow_provider_smtp2go.client import Smtp2goClient
    >>> with Smtp2goSandbox() as sb, Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
    ...     _ = sb.add_template("receipt-01", "Order", text_body="Thanks!", name="Receipt")
    ...     client.edit_template("receipt-01", subject="Your order {{ order_id }}")["subject"]
    'Your order {{ order_id }}'
    """
    fields = _body(
        new_id=_template_id(new_id, "new_id") if new_id is not None else None,
        template_name=_line(name, "template_name", max_length=64) if name is not None else None,
        subject=_line(subject, "subject") if subject is not None else None,
        html_body=_string(html_body, "html_body"),
        text_body=_string(text_body, "text_body"),
        template_variables=_template_variables(template_variables),
        tags=_tags(tags),
    )
    if not fields:
        raise Smtp2goValidationError("id", "nothing_to_change", "give at least one field to change")
    return ApiCall("template/edit", {"id": _template_id(template_id), **fields})


def _string(value: str | None, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise Smtp2goValidationError(name, "string", f"expected text, got {type(value).__name__}")
    return value


def delete_template(settings: ClientSettings, template_id: str) -> ApiCall:
    """``/template/delete``: remove a template.  The spec's answer ``data`` is a bare string
    (its wording is UNVERIFIED); the method returns it, ``""`` when there is none.

    >>> from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
    >>> from airflow_provider_smtp2go.client import Smtp2goClient
    >>> with Smtp2goSandbox() as sb, Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
    ...     _ = sb.add_template("receipt-01", "Order", text_body="Thanks!")
    ...     _ = client.delete_template("receipt-01")
    ...     client.search_templates()["templates"]
    []
    """
    return ApiCall("template/delete", {"id": _template_id(template_id)})


# Scheduled sends: /email/scheduled/search|remove (shapes in shared/reference/api-shapes.md).


def _positive(value: int | None, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise Smtp2goValidationError(name, "integer", f"expected a positive integer, got {value!r}")
    return value


def _schedule_id(schedule_id: str) -> str:
    text = schedule_id.strip() if isinstance(schedule_id, str) else ""
    if not text or any(c in text for c in "\r\n"):
        raise Smtp2goValidationError("schedule_id", "required", f"expected a schedule id, got {schedule_id!r}")
    return text


def search_scheduled(
    settings: ClientSettings,
    *,
    schedule_id: str | None = None,
    search_subject: str | None = None,
    search_recipient: str | None = None,
    search_sender: str | None = None,
    limit: int | None = None,
    page: int | None = None,
) -> ApiCall:
    """``/email/scheduled/search``: emails scheduled and not yet sent, as a list of
    ``{schedule_id, schedule, sender, subject, recipients, client_ip}``.

    ``schedule_id`` is a 3.0.4 field; whether the text searches are substring matches, and
    whether sent or removed emails still appear, is UNVERIFIED.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> search_scheduled(ClientSettings.of("api-key"), search_sender="ops@example.com", limit=50).body
    {'search_sender': 'ops@example.com', 'limit': 50}
    """
    return ApiCall(
        "email/scheduled/search",
        _body(
            schedule_id=_schedule_id(schedule_id) if schedule_id is not None else None,
            search_subject=search_subject,
            search_recipient=search_recipient,
            search_sender=search_sender,
            limit=_positive(limit, "limit"),
            page=_positive(page, "page"),
        ),
    )


def remove_scheduled(settings: ClientSettings, schedule_id: str) -> ApiCall:
    """``/email/scheduled/remove``: cancel one scheduled email before it goes out.

    The spec documents no answer body beyond ``request_id`` (UNVERIFIED); the method returns
    ``data`` as a dict, empty when there is none.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> remove_scheduled(ClientSettings.of("api-key"), "2f6c0a52-9d1e-4c4b-a8f1-0d9b1e6f3a77").body
    {'schedule_id': '2f6c0a52-9d1e-4c4b-a8f1-0d9b1e6f3a77'}
    """
    return ApiCall("email/scheduled/remove", {"schedule_id": _schedule_id(schedule_id)})


def parse_scheduled(data: Any) -> list[dict[str, Any]]:
    """The scheduled emails in a ``/email/scheduled/search`` answer's ``data`` (the spec: an
    array; an object holding one under ``results`` or ``emails`` is read too, UNVERIFIED).

    >>> parse_scheduled([{"schedule_id": "s-1", "subject": "Hi"}])
    [{'schedule_id': 's-1', 'subject': 'Hi'}]
    >>> parse_scheduled({"results": []})
    []
    """
    if isinstance(data, dict):
        data = data.get("results", data.get("emails", []))
    if isinstance(data, list):
        return [dict(item) for item in data if isinstance(item, dict)]
    return []


# Verified senders: /domain/view and /single_sender_emails/view.


def view_sender_domains(
    settings: ClientSettings, *, domain: str | None = None, subaccount_id: str | None = None
) -> ApiCall:
    """``/domain/view``: the account's sender domains, as ``parse_sender_domains`` reads them.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> view_sender_domains(ClientSettings.of("api-key"), domain="example.com").body
    {'domain': 'example.com'}
    """
    return ApiCall("domain/view", _body(domain=domain, subaccount_id=subaccount_id or settings.subaccount_id))


def view_single_senders(
    settings: ClientSettings, *, email_address: str | None = None, subaccount_id: str | None = None
) -> ApiCall:
    """``/single_sender_emails/view``: verified single sender addresses (``parse_single_senders``).

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> view_single_senders(ClientSettings.of("api-key")).body
    {}
    """
    return ApiCall(
        "single_sender_emails/view",
        _body(email_address=email_address, subaccount_id=subaccount_id or settings.subaccount_id),
    )


def parse_sender_domains(data: Any) -> list[dict[str, Any]]:
    """``{"domain", "verified", "dkim_verified", "rpath_verified"}`` per sender domain.

    A domain counts as verified when both its DKIM and return-path records are (SMTP2GO's
    published flags; that this is exactly when SMTP2GO lets it send is UNVERIFIED).

    >>> parse_sender_domains({"domains": [{"domain": {"fulldomain": "example.com",
    ...     "dkim_verified": True, "rpath_verified": False}}]})
    [{'domain': 'example.com', 'verified': False, 'dkim_verified': True, 'rpath_verified': False}]
    """
    items = data.get("domains") if isinstance(data, dict) else None
    found = []
    for item in items if isinstance(items, list) else []:
        info = item.get("domain") if isinstance(item, dict) else None
        if not isinstance(info, dict) or not info.get("fulldomain"):
            continue
        dkim, rpath = info.get("dkim_verified") is True, info.get("rpath_verified") is True
        found.append(
            {
                "domain": str(info["fulldomain"]).lower(),
                "verified": dkim and rpath,
                "dkim_verified": dkim,
                "rpath_verified": rpath,
            }
        )
    return found


def parse_single_senders(data: Any) -> list[dict[str, Any]]:
    """``{"email_address", "verified"}`` per single sender.

    >>> parse_single_senders({"senders": [{"email_address": "Ops@Example.com", "verified": True}]})
    [{'email_address': 'ops@example.com', 'verified': True}]
    """
    items = data.get("senders") if isinstance(data, dict) else None
    return [
        {"email_address": str(item["email_address"]).lower(), "verified": item.get("verified") is True}
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and item.get("email_address")
    ]


def search_subaccounts(
    settings: ClientSettings,
    *,
    search_terms: Iterable[str] | None = None,
    fuzzy_search: bool | None = None,
    states: str | None = None,
    sort_direction: str | None = None,
    page_size: int | None = None,
    continue_token: str | None = None,
) -> ApiCall:
    """``/subaccounts/search``: ``{subaccounts: [{name, email, id, state, plan_*...}], total_count,
    continue_token}``. Whether a non-fuzzy search matches names exactly is UNVERIFIED; use
    ``find_subaccount`` on the results to pick one by exact name or id.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> search_subaccounts(ClientSettings.of("api-key"), search_terms=["Marketing"]).body
    {'search_terms': ['Marketing']}
    """
    if sort_direction is not None and sort_direction not in ("asc", "desc"):
        raise Smtp2goValidationError("sort_direction", "choice", "expected 'asc' or 'desc'")
    return ApiCall(
        "subaccounts/search",
        _body(
            search_terms=[search_terms] if isinstance(search_terms, str) else list(search_terms or []) or None,
            fuzzy_search=fuzzy_search,
            states=states,
            sort_direction=sort_direction,
            page_size=_positive(page_size, "page_size"),
            continue_token=continue_token,
        ),
    )


def find_subaccount(data: Any, name_or_id: str) -> dict[str, Any] | None:
    """The one subaccount in a ``/subaccounts/search`` answer whose id or name (case-blind)
    is ``name_or_id`` (the rule of ``client.subaccounts``); ``None`` if none, an error if two
    share that name.

    >>> page = {"subaccounts": [{"id": "SUB1", "name": "Marketing"}, {"id": "SUB2", "name": "Sales"}]}
    >>> find_subaccount(page, "marketing")["id"], find_subaccount(page, "SUB2")["name"]
    ('SUB1', 'Sales')
    """
    try:
        return match_subaccount(subaccount_items(data), name_or_id)
    except Smtp2goValidationError as exc:
        if exc.rule == "unknown":
            return None
        raise


# Webhooks: /webhook/view|add|edit|remove (shapes in shared/reference/webhooks.md §6).

WEBHOOK_EMAIL_EVENTS = frozenset({"delivered", "unsubscribe", "spam", "bounce", "processed", "reject", "click", "open"})
"""The ``events`` a webhook can subscribe to (the webhook spelling, not ``/activity/search``'s)."""
WEBHOOK_SMS_EVENTS = frozenset({"delivered", "failed", "rejected", "sending", "submitted"})
WEBHOOK_OUTPUT_FORMATS = frozenset({"form", "json"})
WEBHOOK_AUTH_TYPES = frozenset({"bearer", "basic"})
WEBHOOK_FIELDS = (
    "events",
    "sms_events",
    "headers",
    "usernames",
    "output_format",
    "auth_header_type",
    "auth_header_value",
    "subaccount_id",
)
"""What ``/webhook/add`` and ``/webhook/edit`` take besides ``url`` (and edit's ``id``): the
keyword arguments of ``webhook_add``/``webhook_edit``, in their order."""


def _webhook_url(url: str) -> str:
    text = url.strip() if isinstance(url, str) else ""
    try:
        parts = urlsplit(text)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad IPv6 literal or port
        valid = False
    if not valid or any(c in text for c in "\r\n \t\x00"):
        raise Smtp2goValidationError("url", "url", f"expected an http(s) URL, got {url!r}")
    return text


def _choices(values: Iterable[str] | None, name: str, allowed: frozenset[str]) -> list[str] | None:
    if values is None:
        return None
    listed = [values] if isinstance(values, str) else list(values)
    unknown = [v for v in listed if v not in allowed]
    if unknown:
        # SMTP2GO is said to ignore unknown names silently: a typo would never fire.
        raise Smtp2goValidationError(
            name, "choice", f"unknown value {unknown[0]!r}; expected some of {', '.join(sorted(allowed))}"
        )
    return listed


def _header_names(values: Iterable[str] | None, name: str) -> list[str] | None:
    if values is None:
        return None
    listed = [values] if isinstance(values, str) else [str(v) for v in values]
    for value in listed:
        if not value.strip() or any(c in value for c in "\r\n:"):
            raise Smtp2goValidationError(name, "format", f"{value!r} is not a header name or username")
    return listed


def _webhook_fields(
    settings: ClientSettings,
    *,
    url: str | None,
    events: Iterable[str] | None,
    sms_events: Iterable[str] | None,
    headers: Iterable[str] | None,
    usernames: Iterable[str] | None,
    output_format: str | None,
    auth_header_type: str | None,
    auth_header_value: str | None,
    subaccount_id: str | None,
) -> dict[str, Any]:
    if output_format is not None and output_format not in WEBHOOK_OUTPUT_FORMATS:
        raise Smtp2goValidationError("output_format", "choice", f"expected 'form' or 'json', got {output_format!r}")
    if auth_header_type is not None and auth_header_type not in WEBHOOK_AUTH_TYPES:
        raise Smtp2goValidationError(
            "auth_header_type", "choice", f"expected 'bearer' or 'basic', got {auth_header_type!r}"
        )
    if (auth_header_type is None) != (auth_header_value is None):
        raise Smtp2goValidationError(
            "auth_header_value", "required", "auth_header_type and auth_header_value go together"
        )
    if auth_header_value is not None and (
        not auth_header_value.strip() or "\r" in auth_header_value or "\n" in auth_header_value
    ):
        # Never echo the value: it is the receiver's secret.
        raise Smtp2goValidationError("auth_header_value", "format", "must be one non-empty line")
    return _body(
        url=_webhook_url(url) if url is not None else None,
        events=_choices(events, "events", WEBHOOK_EMAIL_EVENTS),
        sms_events=_choices(sms_events, "sms_events", WEBHOOK_SMS_EVENTS),
        headers=_header_names(headers, "headers"),
        usernames=_header_names(usernames, "usernames"),
        output_format=output_format,
        auth_header_type=auth_header_type,
        auth_header_value=auth_header_value,
        subaccount_id=subaccount_id or settings.subaccount_id,
    )


def _webhook_id(webhook_id: int) -> int:
    if isinstance(webhook_id, bool) or not isinstance(webhook_id, int) or webhook_id < 1:
        raise Smtp2goValidationError("id", "integer", f"a webhook id is a positive integer, got {webhook_id!r}")
    return webhook_id


def webhook_view(settings: ClientSettings, *, subaccount_id: str | None = None) -> ApiCall:
    """``/webhook/view``: the account's webhooks (read them with ``parse_webhooks``).

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> webhook_view(ClientSettings.of("api-key")).endpoint
    'webhook/view'
    """
    return ApiCall("webhook/view", _body(subaccount_id=subaccount_id or settings.subaccount_id))


def webhook_add(
    settings: ClientSettings,
    url: str,
    *,
    events: Iterable[str] | None = None,
    sms_events: Iterable[str] | None = None,
    headers: Iterable[str] | None = None,
    usernames: Iterable[str] | None = None,
    output_format: str | None = None,
    auth_header_type: str | None = None,
    auth_header_value: str | None = None,
    subaccount_id: str | None = None,
) -> ApiCall:
    """``/webhook/add``.  ``events`` use the webhook names (``bounce``, ``open``...).

    Not idempotent: a retried add that had reached SMTP2GO creates a second webhook (and plans
    allow few), so look for the URL with ``/webhook/view`` before adding again.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> settings = ClientSettings.of("api-key")
    >>> webhook_add(settings, "https://airflow.example.com/smtp2go/webhooks/", events=["bounce"]).body["events"]
    ['bounce']
    """
    fields = dict(locals())  # the parameters: each is named once, in the signature
    return ApiCall("webhook/add", _webhook_fields(**fields))


def webhook_edit(
    settings: ClientSettings,
    webhook_id: int,
    *,
    url: str | None = None,
    events: Iterable[str] | None = None,
    sms_events: Iterable[str] | None = None,
    headers: Iterable[str] | None = None,
    usernames: Iterable[str] | None = None,
    output_format: str | None = None,
    auth_header_type: str | None = None,
    auth_header_value: str | None = None,
    subaccount_id: str | None = None,
) -> ApiCall:
    """``/webhook/edit``: send only what changes (whether SMTP2GO keeps the rest is UNVERIFIED,
    so callers wanting certainty send every field).

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> webhook_edit(ClientSettings.of("api-key"), 4317, events=["bounce", "spam"]).body
    {'events': ['bounce', 'spam'], 'id': 4317}
    """
    fields = dict(locals())  # the parameters: each is named once, in the signature
    del fields["webhook_id"]
    return ApiCall("webhook/edit", {**_webhook_fields(**fields), "id": _webhook_id(webhook_id)})


def webhook_remove(settings: ClientSettings, webhook_id: int, *, subaccount_id: str | None = None) -> ApiCall:
    """``/webhook/remove``; the answer echoes the removed webhook.

    >>> from airflow_provider_smtp2go.client.settings import ClientSettings
    >>> webhook_remove(ClientSettings.of("api-key"), 4317).body
    {'id': 4317}
    """
    return ApiCall(
        "webhook/remove", _body(id=_webhook_id(webhook_id), subaccount_id=subaccount_id or settings.subaccount_id)
    )


def parse_webhooks(data: Any) -> list[dict[str, Any]]:
    """The webhooks in a ``/webhook/view`` answer's ``data``: the spec shows one object, live
    answers a list (UNVERIFIED); both are read as a list.

    >>> parse_webhooks({"id": 4317, "url": "https://example.com/hook"})
    [{'id': 4317, 'url': 'https://example.com/hook'}]
    >>> parse_webhooks([])
    []
    """
    if isinstance(data, dict):
        return [dict(data)] if data else []
    if isinstance(data, list):
        return [dict(item) for item in data if isinstance(item, dict)]
    return []


# Parsers: the answer's ``data`` as each method returns it.


def _data(call: ApiCall, result: ApiResult) -> dict[str, Any]:
    return dict(result.data)


def _permissions(call: ApiCall, result: ApiResult) -> list[str]:
    return [str(p) for p in result.data or []]


def _send_result(call: ApiCall, result: ApiResult) -> SendResult:
    return parse_send_result(result, fastaccept=bool(call.body.get("fastaccept")))


def _object(call: ApiCall, result: ApiResult) -> dict[str, Any]:
    return dict(result.data) if isinstance(result.data, dict) else {}


def _text(call: ApiCall, result: ApiResult) -> str:
    return result.data if isinstance(result.data, str) else ""


def _scheduled(call: ApiCall, result: ApiResult) -> list[dict[str, Any]]:
    return parse_scheduled(result.data)


def _sender_domains(call: ApiCall, result: ApiResult) -> list[dict[str, Any]]:
    return parse_sender_domains(result.data)


def _single_senders(call: ApiCall, result: ApiResult) -> list[dict[str, Any]]:
    return parse_single_senders(result.data)


def _webhooks(call: ApiCall, result: ApiResult) -> list[dict[str, Any]]:
    return parse_webhooks(result.data)


def _activity_page(call: ApiCall, result: ApiResult) -> ActivityPage:
    return parse_activity_page(result.data, result.request_id)


class Endpoint(Generic[P, T]):
    """A client method made of a builder and a parser: sync on ``Smtp2goClient``, async on
    ``AsyncSmtp2goClient`` (each client's ``_execute`` runs the call; the signature is the
    builder's, without ``settings``)."""

    def __init__(
        self, build: Callable[Concatenate[ClientSettings, P], ApiCall], parse: Callable[[ApiCall, ApiResult], T]
    ) -> None:
        self.build = build
        self.parse = parse
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type) -> Endpoint[P, T]: ...
    @overload
    def __get__(self, client: AsyncSmtp2goClient, owner: type) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, client: Smtp2goClient, owner: type) -> Callable[P, T]: ...
    def __get__(self, client: Any, owner: type) -> Any:
        if client is None:
            return self
        build, parse, settings, execute = self.build, self.parse, client.settings, client._execute

        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                call = build(settings, *args, **kwargs)
            except SubaccountUnresolved:
                # A call scoped to a subaccount given by name: look it up first (once per SubaccountRef).
                return client._execute_after_lookup(lambda ready: build(ready, *args, **kwargs), parse)
            return execute(call, parse)

        method.__name__ = method.__qualname__ = self.name
        method.__doc__ = self.__doc__
        client.__dict__[self.name] = method  # built once per client; later look-ups skip this
        return method


class EndpointMethods:
    """The endpoint methods both clients share (see ``Endpoint``)."""

    send = Endpoint(send, _send_result)
    send_mime = Endpoint(send_mime, _send_result)
    search_activity = Endpoint(search_activity, _activity_page)
    email_summary = Endpoint(email_summary, _data)
    email_bounces = Endpoint(email_bounces, _data)
    email_spam = Endpoint(email_spam, _data)
    email_unsubs = Endpoint(email_unsubs, _data)
    email_cycle = Endpoint(email_cycle, _data)
    email_history = Endpoint(email_history, _data)
    api_key_permissions = Endpoint(api_key_permissions, _permissions)
    view_suppressions = Endpoint(view_suppressions, _data)
    add_suppression = Endpoint(add_suppression, _data)
    remove_suppression = Endpoint(remove_suppression, _data)
    search_templates = Endpoint(search_templates, _data)
    view_template = Endpoint(view_template, _data)
    add_template = Endpoint(add_template, _object)
    edit_template = Endpoint(edit_template, _object)
    delete_template = Endpoint(delete_template, _text)
    search_scheduled = Endpoint(search_scheduled, _scheduled)
    remove_scheduled = Endpoint(remove_scheduled, _object)
    view_sender_domains = Endpoint(view_sender_domains, _sender_domains)
    view_single_senders = Endpoint(view_single_senders, _single_senders)
    search_subaccounts = Endpoint(search_subaccounts, _data)
    view_webhooks = Endpoint(webhook_view, _webhooks)
    add_webhook = Endpoint(webhook_add, _data)
    edit_webhook = Endpoint(webhook_edit, _data)
    remove_webhook = Endpoint(webhook_remove, _data)
