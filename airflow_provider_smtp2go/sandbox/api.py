"""The ``/v3`` API: request parsing, authentication, permissions and endpoint routing.

Authentication is the real API's: the key in the ``X-Smtp2go-Api-Key`` header or as
``api_key`` in the JSON body.  Missing or unknown key -> 401 ``API_KEY_INVALID``; a key whose
permissions do not include the path -> 400 ``ENDPOINT_PERMISSION_DENIED``, the one error every
operation in SMTP2GO's spec documents (``permission_denied_status=403`` answers like the
response-codes page instead; ``/api_keys/permissions`` is open to every key).  Bodies must be JSON objects; a
``Content-Type`` other than ``application/json`` is refused with 400, a missing one is
tolerated (the official Python library sends none).  Unknown paths -> 404 JSON.  Keys are
never logged or echoed.

Example::

    >>> from airflow_provider_smtp2go.sandbox.clock import SandboxClock
    >>> from airflow_provider_smtp2go.sandbox.state import SandboxState
    >>> api = SandboxApi(SandboxState(SandboxClock()))
    >>> api.respond(api.parse("/v3/email/send", None, "application/json", b"{}")).status
    401
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from airflow_provider_smtp2go.sandbox import activity, scheduled, senders, stats, subaccounts, webhook_config
from airflow_provider_smtp2go.sandbox.faults import ActivityLimiter
from airflow_provider_smtp2go.sandbox.sending import SendContext, handle_mime, handle_send
from airflow_provider_smtp2go.sandbox.state import (
    ApiKey,
    SandboxState,
    Template,
    normalize_path,
)
from airflow_provider_smtp2go.sandbox.webhook_config import WebhookRegistry
from airflow_provider_smtp2go.sandbox.wire import (
    API_KEY_INVALID,
    ENDPOINT_NOT_FOUND,
    ENDPOINT_PERMISSION_DENIED,
    NON_VALIDATING_IN_PAYLOAD,
    PAYLOAD_HINT,
    Response,
    decode_json,
    error,
    format_timestamp,
    success,
    validation_error,
)

DEFAULT_MAX_SIZE_BYTES = 50 * 1024 * 1024


@dataclass
class ParsedRequest:
    """A request after transport: normalised path, JSON payload (or the error it caused), key."""

    path: str
    payload: dict[str, Any]
    api_key: str | None
    problem: Response | None = None


Handler = Callable[["SandboxApi", str, dict[str, Any], ApiKey], Response]


class SandboxApi:
    """Endpoint handlers over one :class:`SandboxState`."""

    def __init__(
        self,
        state: SandboxState,
        *,
        max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES,
        activity_limiter: ActivityLimiter | None = None,
        webhooks: WebhookRegistry | None = None,
        permission_denied_status: int = 400,
        sender_registry: senders.SenderRegistry | None = None,
    ) -> None:
        self.state = state
        self.permission_denied_status = permission_denied_status
        self.clock = state.clock
        self.max_size_bytes = max_size_bytes
        self.activity_limiter = activity_limiter
        self.webhooks = webhooks or WebhookRegistry()
        self.senders = sender_registry or senders.SenderRegistry()
        self.subaccounts = subaccounts.SubaccountRegistry()

    @staticmethod
    def parse(path: str, header_key: str | None, content_type: str | None, body: bytes) -> ParsedRequest:
        """Decode the body and find the key; never raises."""
        path = normalize_path(path)
        payload: dict[str, Any] = {}
        problem: Response | None = None
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        if mime and mime != "application/json" and not mime.endswith("+json"):
            problem = error(400, PAYLOAD_HINT, NON_VALIDATING_IN_PAYLOAD)
        elif body.strip():
            try:
                decoded = decode_json(body)
            except ValueError:
                decoded = None
            if isinstance(decoded, dict):
                payload = decoded
            else:
                problem = error(400, PAYLOAD_HINT, NON_VALIDATING_IN_PAYLOAD)
        api_key = header_key or None
        if api_key is None and isinstance(payload.get("api_key"), str):
            api_key = payload["api_key"]
        return ParsedRequest(path, payload, api_key, problem)

    def respond(self, request: ParsedRequest) -> Response:
        """Authenticate, authorise and run the endpoint."""
        handler = ROUTES.get(request.path)
        if handler is None:
            return error(404, f"The endpoint '/{request.path}' does not exist (in the sandbox).", ENDPOINT_NOT_FOUND)
        key = self.state.key_info(request.api_key) if request.api_key else None
        if key is None:
            return error(401, "The API key is missing or invalid.", API_KEY_INVALID)
        if request.path != "api_keys/permissions" and not key.allows(request.path):
            return error(
                self.permission_denied_status,
                "You do not have permission to access this API endpoint",
                ENDPOINT_PERMISSION_DENIED,
            )
        if request.problem is not None:
            return request.problem
        self.subaccounts.note(request.path, request.payload)
        if (
            request.path == "activity/search"
            and self.activity_limiter is not None
            and request.api_key is not None
            and not self.activity_limiter.allow(request.api_key, self.clock.timestamp())
        ):
            return self.activity_limiter.rejection()
        return handler(self, request.path, request.payload, key)

    # -- endpoints ------------------------------------------------------------------------------
    def _send(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        ctx = SendContext(self.state, key.username, self.max_size_bytes)
        return handle_send(payload, ctx) if path == "email/send" else handle_mime(payload, ctx)

    def _activity(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        return activity.search(payload, self.state, self.clock)

    def _stats(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        return stats.handle(path, payload, self.state, self.clock)

    def _permissions(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        paths = sorted(ROUTES) if key.permissions is None else sorted(key.permissions)
        return success([f"/{p}" for p in paths])

    def _scheduled(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        return scheduled.handle(path, payload, self.state)

    def _senders(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        return senders.handle(path, payload, self.senders)

    def _subaccounts(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        return subaccounts.handle(payload, self.subaccounts)

    def _webhook(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        return webhook_config.handle(path, payload, self.webhooks)

    def _suppression_view(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        # ``suppression_type(s)`` filters by type (manual, bounce...); ``reason(s)`` searches the
        # free-text reason (block description) -- the API's split, which the sandbox once blurred.
        wanted = str(payload.get("email_address") or "").strip().lower()
        fuzzy = payload.get("fuzzy") is True
        types = _strings(payload, "suppression_type", "suppression_types")
        texts = [t.lower() for t in _strings(payload, "reason", "reasons")]
        results = [
            s
            for s in self.state.suppressions()
            if (not wanted or (wanted in s.email_address if fuzzy else wanted == s.email_address))
            and (not types or s.reason in types)
            and (not texts or any(t in s.block_description.lower() for t in texts))
        ]
        results.sort(key=lambda s: s.timestamp, reverse=payload.get("sort", "desc") != "asc")
        return success(
            {"continue_token": None, "results": [s.to_dict() for s in results], "total_results": len(results)}
        )

    def _suppression_add(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        address = payload.get("email_address")
        if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address.strip()):
            return validation_error("email_address", "The field 'email_address' needs an address or a domain.")
        description = str(payload.get("block_description") or "")
        record = self.state.suppress(address, "manual", description)
        return success(
            {
                "added": True,
                "email_address": record.email_address,
                "block_description": description,
                "timestamp": format_timestamp(record.timestamp),
            }
        )

    def _suppression_remove(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        address = payload.get("email_address")
        if not isinstance(address, str) or not address.strip():
            return validation_error("email_address", "The field 'email_address' is required.")
        reasons = payload.get("reasons")
        if not isinstance(reasons, list) or not reasons or not all(isinstance(r, str) for r in reasons):
            return validation_error("reasons", "The field 'reasons' is required (an array of reasons).")
        removed = self.state.unsuppress(address, reasons)
        return success({"suppressions": removed})

    def _template_add(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        for name in ("template_name", "id", "subject", "html_body", "text_body"):
            if not isinstance(payload.get(name), str):
                return validation_error(name, f"The field '{name}' is required.")
        problem = _template_fields(payload)
        if problem is not None:
            return problem
        if self.state.template(payload["id"]) is not None:
            # What SMTP2GO answers for a taken id is UNVERIFIED; silently replacing would hide a clash.
            return validation_error("id", f"The template '{payload['id']}' already exists.")
        template = Template(
            payload["id"],
            payload["template_name"],
            payload["subject"],
            payload["html_body"],
            payload["text_body"],
            dict(payload.get("template_variables") or {}),
            [str(t) for t in payload.get("tags") or []],
        )
        self.state.add_template(template)
        return success(template.to_dict())

    def _template_edit(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        """Change the fields given, keep the rest; ``new_id`` moves the template to another id."""
        template_id = payload.get("id")
        current = self.state.template(template_id) if isinstance(template_id, str) else None
        if current is None:
            return validation_error("id", f"The template '{template_id}' does not exist.")
        for name in ("new_id", "template_name", "subject", "html_body", "text_body"):
            if name in payload and not isinstance(payload[name], str):
                return validation_error(name, f"The field '{name}' was expecting a string.")
        problem = _template_fields(payload)
        if problem is not None:
            return problem
        new_id = payload.get("new_id") or current.id
        if new_id != current.id and self.state.template(new_id) is not None:
            return validation_error("new_id", f"The template '{new_id}' already exists.")
        changes: dict[str, Any] = {
            name: payload[name] for name in ("template_name", "subject", "html_body", "text_body") if name in payload
        }
        if "template_variables" in payload:
            changes["template_variables"] = dict(payload["template_variables"] or {})
        if "tags" in payload:
            changes["tags"] = [str(t) for t in payload["tags"] or []]
        edited = replace(current, id=new_id, **changes)
        if new_id != current.id:
            self.state.remove_template(current.id)
        self.state.add_template(edited)  # stamps last_updated on the sandbox clock
        return success(edited.to_dict())

    def _template_delete(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        template_id = payload.get("id")
        if not isinstance(template_id, str) or not template_id:
            return validation_error("id", "The field 'id' is required.")
        if self.state.remove_template(template_id) is None:
            return validation_error("id", f"The template '{template_id}' does not exist.")
        # The spec's ``data`` is a bare string; its wording is UNVERIFIED.
        return success(f"Template '{template_id}' deleted")

    def _template_view(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        template = self.state.template(str(payload.get("id") or ""))
        if template is None:
            return validation_error("id", f"The template '{payload.get('id')}' does not exist.")
        return success(template.view_dict())

    def _template_search(self, path: str, payload: dict[str, Any], key: ApiKey) -> Response:
        terms = payload.get("search_terms") or []
        if isinstance(terms, str):
            terms = [terms]
        tags = payload.get("tags") or []
        for name, value in (("search_terms", terms), ("tags", tags)):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return validation_error(name, f"The field '{name}' was expecting an array of strings.")
        tags = set(tags)
        found = []
        for t in self.state.templates():
            text = f"{t.id} {t.template_name} {t.subject}".lower()
            if terms and not any(str(term).lower() in text for term in terms):
                continue
            if tags and not tags & set(t.tags):
                continue
            found.append(t)
        found.sort(key=lambda t: t.template_name.lower(), reverse=payload.get("sort_direction") == "desc")
        items = [t.search_dict() for t in found]
        return success({"templates": items, "total_count": len(found), "continue_token": None})


def _template_fields(payload: dict[str, Any]) -> Response | None:
    """The length and type rules ``/template/add`` and ``/template/edit`` share (given fields only)."""
    for name in ("id", "new_id"):
        if name in payload and not 5 <= len(str(payload[name])) <= 24:
            return validation_error(name, f"The field '{name}' must be 5 to 24 characters long.")
    if "template_name" in payload and not 1 <= len(str(payload["template_name"])) <= 64:
        return validation_error("template_name", "The field 'template_name' must be 1 to 64 characters long.")
    if not isinstance(payload.get("template_variables") or {}, dict):
        return validation_error("template_variables", "The field 'template_variables' was expecting an object.")
    tags = payload.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return validation_error("tags", "The field 'tags' was expecting an array of strings.")
    return None


def _strings(payload: dict[str, Any], single: str, plural: str) -> set[str]:
    found: set[str] = set()
    for name in (single, plural):
        value = payload.get(name)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, list):
            found.update(str(v) for v in value)
    return found


ROUTES: dict[str, Handler] = {
    "email/send": SandboxApi._send,
    "email/mime": SandboxApi._send,
    "email/scheduled/search": SandboxApi._scheduled,
    "email/scheduled/remove": SandboxApi._scheduled,
    "activity/search": SandboxApi._activity,
    "stats/email_summary": SandboxApi._stats,
    "stats/email_bounces": SandboxApi._stats,
    "stats/email_spam": SandboxApi._stats,
    "stats/email_unsubs": SandboxApi._stats,
    "stats/email_cycle": SandboxApi._stats,
    "stats/email_history": SandboxApi._stats,
    "api_keys/permissions": SandboxApi._permissions,
    "suppression/view": SandboxApi._suppression_view,
    "suppression/add": SandboxApi._suppression_add,
    "suppression/remove": SandboxApi._suppression_remove,
    "template/add": SandboxApi._template_add,
    "template/edit": SandboxApi._template_edit,
    "template/delete": SandboxApi._template_delete,
    "template/view": SandboxApi._template_view,
    "template/search": SandboxApi._template_search,
    "domain/view": SandboxApi._senders,
    "single_sender_emails/view": SandboxApi._senders,
    "subaccounts/search": SandboxApi._subaccounts,
    "webhook/view": SandboxApi._webhook,
    "webhook/add": SandboxApi._webhook,
    "webhook/edit": SandboxApi._webhook,
    "webhook/remove": SandboxApi._webhook,
}
"""Endpoint path (``email/send`` form) -> handler.  Everything else answers 404."""
