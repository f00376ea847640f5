"""``/email/scheduled/search`` and ``/email/scheduled/remove``: the sandbox's scheduled queue.

A message sent with ``schedule`` stays listed until its time comes or it is removed; a removed
message keeps its record (``cancelled``) and none of its activity events happen.  Webhook
deliveries already planned for it are not withdrawn (the sandbox plans them at send time).

Example::

    >>> from airflow_provider_smtp2go.sandbox.clock import SandboxClock
    >>> from airflow_provider_smtp2go.sandbox.state import SandboxState
    >>> state = SandboxState(SandboxClock())
    >>> handle("email/scheduled/remove", {"schedule_id": "nope"}, state).status
    400
"""

from __future__ import annotations

from typing import Any

from airflow_provider_smtp2go.sandbox.state import ReceivedMessage, SandboxState
from airflow_provider_smtp2go.sandbox.wire import Response, format_timestamp, success, validation_error

SANDBOX_CLIENT_IP = "127.0.0.1"


def handle(path: str, payload: dict[str, Any], state: SandboxState) -> Response:
    """Answer either scheduled-email endpoint."""
    if path == "email/scheduled/remove":
        return _remove(payload, state)
    return _search(payload, state)


def _search(payload: dict[str, Any], state: SandboxState) -> Response:
    texts = {}
    for name in ("schedule_id", "search_subject", "search_recipient", "search_sender"):
        value = payload.get(name)
        if value is not None and not isinstance(value, str):
            return validation_error(name, f"The field '{name}' was expecting a string.")
        texts[name] = (value or "").lower()
    paging = {}
    for name, default in (("limit", 100), ("page", 1)):
        value = payload.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return validation_error(name, f"The field '{name}' was expecting a positive integer.")
        paging[name] = value
    found = [m for m in state.scheduled(state.clock.now()) if _matches(m, texts)]
    start = (paging["page"] - 1) * paging["limit"]
    return success([_item(m) for m in found[start : start + paging["limit"]]])


def _matches(message: ReceivedMessage, texts: dict[str, str]) -> bool:
    return (
        (not texts["schedule_id"] or texts["schedule_id"] == (message.schedule_id or "").lower())
        and texts["search_subject"] in message.subject.lower()
        and texts["search_sender"] in message.sender.lower()
        and (not texts["search_recipient"] or any(texts["search_recipient"] in r.lower() for r in message.recipients))
    )


def _item(message: ReceivedMessage) -> dict[str, Any]:
    assert message.scheduled_for is not None  # only scheduled messages are listed
    return {
        "schedule_id": message.schedule_id,
        "schedule": format_timestamp(message.scheduled_for),
        "sender": message.sender,
        "subject": message.subject,
        "recipients": ", ".join(message.recipients),
        "client_ip": SANDBOX_CLIENT_IP,
    }


def _remove(payload: dict[str, Any], state: SandboxState) -> Response:
    schedule_id = payload.get("schedule_id")
    if not isinstance(schedule_id, str) or not schedule_id.strip():
        return validation_error("schedule_id", "The field 'schedule_id' is required.")
    if state.cancel_scheduled(schedule_id.strip(), state.clock.now()) is None:
        return validation_error("schedule_id", f"No pending scheduled email has the id '{schedule_id}'.")
    # The spec documents no fields for this answer.
    return success({})
