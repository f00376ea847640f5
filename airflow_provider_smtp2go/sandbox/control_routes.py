"""The HTTP control API under ``/_sandbox/``: its routes, the header it requires, its errors.

Every control request must carry ``X-Smtp2go-Sandbox: 1`` (GET too).  A web page can send a
"simple" cross-origin request (a ``text/plain`` POST) to loopback without the browser asking
first; a custom header forces a CORS preflight, which the sandbox never approves, so no page
can inject faults or read messages.  Without the header: 403.

Bodies are JSON objects; a wrong type, an unknown field, a bad value or an unparseable body is
a 400 ``{"error": "..."}`` naming the field, never a 500 or a dropped connection.
``GET /_sandbox/`` lists the routes below as JSON.

Example::

    >>> import json, urllib.request
    >>> from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
    >>> with Smtp2goSandbox() as sb:
    ...     request = urllib.request.Request(f"{sb.url}/_sandbox/health", headers=CONTROL_HEADERS)
    ...     json.load(urllib.request.urlopen(request, timeout=5))
    {'status': 'ok'}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.sandbox.clock import check_epoch
from airflow_provider_smtp2go.sandbox.wire import Response, decode_json, format_date, json_response, parse_datetime

if TYPE_CHECKING:
    from airflow_provider_smtp2go.sandbox.control import Smtp2goSandbox

CONTROL_HEADER = "X-Smtp2go-Sandbox"
CONTROL_HEADERS = {CONTROL_HEADER: "1"}
"""The headers every ``/_sandbox/`` request needs: ``requests.get(url, headers=CONTROL_HEADERS)``."""

Query = dict[str, list[str]]
Payload = dict[str, Any]
RouteHandler = Callable[["Smtp2goSandbox", Query, Payload], Response]

FAULT_FIELDS = (
    "path",
    "kind",
    "status",
    "retry_after",
    "ratelimit_reset",
    "count",
    "rate",
    "latency",
    "bytes_per_second",
)


@dataclass(frozen=True)
class ControlRoute:
    """One control route: what ``GET /_sandbox/`` shows, and the function that answers it."""

    method: str
    name: str
    body: str
    description: str
    handler: RouteHandler

    def to_dict(self) -> dict[str, str]:
        """The listing's row."""
        return {
            "method": self.method,
            "path": f"/_sandbox/{self.name}",
            "body": self.body,
            "description": self.description,
        }


def control_error(status: int, message: str) -> Response:
    """The control API's error shape: ``{"error": message}``."""
    return json_response(status, {"error": message})


def missing_header() -> Response:
    """The 403 for a control request without ``X-Smtp2go-Sandbox: 1``."""
    return control_error(
        403,
        f"Control routes need the header '{CONTROL_HEADER}: 1' (it keeps web pages from driving the sandbox).",
    )


def handle(sandbox: Smtp2goSandbox, method: str, path: str, query: Query, body: bytes) -> Response:
    """Answer one ``/_sandbox/...`` request (the header was checked by the server)."""
    try:
        payload = decode_json(body) if body.strip() else {}
    except ValueError as exc:
        return control_error(400, str(exc))
    if not isinstance(payload, dict):
        return control_error(400, "The body must be a JSON object.")
    name = path[len("/_sandbox") :].strip("/")
    route = _BY_KEY.get((method, name))
    if route is None:
        known = sorted(r.method for r in ROUTES if r.name == name)
        if known:
            return control_error(405, f"/_sandbox/{name} answers {', '.join(known)}, not {method}.")
        return control_error(404, f"No control route {method} /_sandbox/{name}; GET /_sandbox/ lists them.")
    try:
        return route.handler(sandbox, query, payload)
    except (TypeError, ValueError) as exc:
        return control_error(400, str(exc))


# -- field checks ---------------------------------------------------------------------------------
def _only(payload: Payload, allowed: Iterable[str], hint: str = "") -> None:
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown field {unknown[0]!r}; expected one of {sorted(allowed)}.{hint}")


def _string(payload: Payload, name: str, *, required: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"'{name}' must be a {'non-empty ' if required else ''}string.")
    return value


def _query_one(query: Query, name: str) -> str | None:
    return query[name][0] if query.get(name) else None


# -- handlers -------------------------------------------------------------------------------------
def _routes(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"header": f"{CONTROL_HEADER}: 1", "routes": [r.to_dict() for r in ROUTES]})


def _health(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"status": "ok"})


def _messages(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"messages": [m.to_dict() for m in sb.messages()]})


def _arrivals(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"arrivals": sb.arrivals()})


def _duplicates(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"duplicates": sb.duplicates()})


def _events(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"events": sb.events(_query_one(query, "email_id"))})


def _requests(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    counts = sb.state.request_counts()
    path = _query_one(query, "path")
    if path is not None:
        counts["count"] = sb.request_count(path)
    return json_response(200, counts)


def _faults(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"faults": [f.to_dict() for f in sb.faults.list()]})


def _add_fault(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, FAULT_FIELDS, " (the endpoint goes in 'path', e.g. \"email/send\")")
    return json_response(201, sb.inject_fault(**payload).to_dict())


def _clear_faults(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    sb.clear_faults()
    return json_response(200, {"faults": []})


def _add_key(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, ("api_key", "permissions"))
    key = _string(payload, "api_key", required=True) or ""
    permissions = payload.get("permissions")
    if permissions is not None and (
        not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions)
    ):
        raise ValueError("'permissions' must be a list of paths such as \"/email/send\".")
    sb.add_api_key(key, permissions)
    info = sb.state.key_info(key)
    return json_response(201, {"username": info.username if info else None})


def _templates(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"templates": [t.to_dict() for t in sb.state.templates()]})


def _add_template(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, ("template_id", "subject", "html_body", "text_body", "name"))
    template = sb.add_template(
        _string(payload, "template_id", required=True) or "",
        _string(payload, "subject", required=True) or "",
        html_body=_string(payload, "html_body") or "",
        text_body=_string(payload, "text_body") or "",
        name=_string(payload, "name"),
    )
    return json_response(201, template.to_dict())


def _suppressions(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"suppressions": [s.to_dict() for s in sb.state.suppressions()]})


def _add_suppression(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, ("email_address", "reason"))
    address = _string(payload, "email_address", required=True) or ""
    return json_response(201, sb.suppress(address, _string(payload, "reason") or "manual").to_dict())


def _clock(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"now": format_date(sb.clock.now()), "frozen": sb.clock.frozen})


def _drive_clock(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, ("freeze", "set", "advance"))
    freeze = payload.get("freeze")
    if freeze is not None and not isinstance(freeze, bool):
        raise ValueError("'freeze' must be true or false.")
    moment = None
    if "set" in payload:
        moment = parse_datetime(payload["set"])
        if moment is None:
            raise ValueError("'set' must be a date, e.g. \"2026-01-02T03:04:05Z\".")
    advance = payload.get("advance", 0)
    if isinstance(advance, bool) or not isinstance(advance, (int, float)):
        raise ValueError("'advance' must be a number of seconds.")
    # Check the end result before changing anything, so a refused request leaves the clock alone.
    start = moment.timestamp() if moment is not None else sb.clock.timestamp()
    check_epoch(start, advance, what="the clock after 'set' and 'advance'")
    if freeze is True:
        sb.clock.freeze()
    if moment is not None:
        sb.clock.set(moment)
    if advance:
        sb.clock.advance(advance)
    if freeze is False:
        sb.clock.unfreeze()
    return _clock(sb, query, payload)


WEBHOOK_FAULT_FIELDS = ("kind", "count", "rate", "event", "webhook_id", "delay")


def _webhooks(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"webhooks": [h.to_dict() for h in sb.webhook_registry.all()]})


def _webhook_deliveries(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    webhook_id = _query_one(query, "webhook_id")
    if webhook_id is not None and not webhook_id.isdigit():
        raise ValueError("'webhook_id' must be a whole number.")
    deliveries = sb.webhooks.deliveries(
        webhook_id=int(webhook_id) if webhook_id is not None else None,
        event=_query_one(query, "event"),
        email_id=_query_one(query, "email_id"),
    )
    return json_response(200, {"deliveries": deliveries, "pending": sb.webhooks.pending()})


def _webhook_attempts(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"attempts": sb.webhooks.attempts()})


def _webhook_faults(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    return json_response(200, {"faults": [f.to_dict() for f in sb.webhooks.faults.list()]})


def _add_webhook_fault(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, WEBHOOK_FAULT_FIELDS)
    kind = _string(payload, "kind", required=True) or ""
    rest = {k: v for k, v in payload.items() if k != "kind"}
    return json_response(201, sb.webhooks.inject_fault(kind, **rest).to_dict())


def _clear_webhook_faults(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    sb.webhooks.faults.clear()
    return json_response(200, {"faults": []})


def _drain_webhooks(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    _only(payload, ("timeout",))
    timeout = payload.get("timeout", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 600:
        raise ValueError("'timeout' must be a number of seconds between 0 and 600.")
    drained = sb.webhooks.drain(float(timeout))
    return json_response(200, {"drained": drained, "pending": sb.webhooks.pending()})


def _reset(sb: Smtp2goSandbox, query: Query, payload: Payload) -> Response:
    sb.reset()
    return json_response(200, {"reset": True})


ROUTES: tuple[ControlRoute, ...] = (
    ControlRoute("GET", "", "", "this list of routes", _routes),
    ControlRoute("GET", "health", "", '{"status": "ok"}', _health),
    ControlRoute("GET", "messages", "", "messages received, parsed, oldest first", _messages),
    ControlRoute("GET", "arrivals", "", "how many times each logical message arrived", _arrivals),
    ControlRoute("GET", "duplicates", "", "the logical messages that arrived more than once", _duplicates),
    ControlRoute("GET", "events", "", "every event, future ones included; ?email_id= filters", _events),
    ControlRoute("GET", "requests", "", "request counts by path and by username; ?path= adds count", _requests),
    ControlRoute("GET", "faults", "", "faults still able to fire", _faults),
    ControlRoute("POST", "faults", ", ".join(FAULT_FIELDS), "add a fault (see sandbox/faults.py)", _add_fault),
    ControlRoute("DELETE", "faults", "", "remove every fault", _clear_faults),
    ControlRoute("POST", "keys", "api_key, permissions", "accept another API key", _add_key),
    ControlRoute("GET", "templates", "", "stored templates", _templates),
    ControlRoute(
        "POST", "templates", "template_id, subject, html_body, text_body, name", "add a template", _add_template
    ),
    ControlRoute("GET", "suppressions", "", "suppressed addresses and domains", _suppressions),
    ControlRoute("POST", "suppressions", "email_address, reason", "suppress an address or domain", _add_suppression),
    ControlRoute("GET", "clock", "", "the sandbox time and whether it is frozen", _clock),
    ControlRoute(
        "POST", "clock", "freeze, set, advance", "freeze, set (a date) or advance (seconds) the clock", _drive_clock
    ),
    ControlRoute("GET", "webhooks", "", "registered webhooks (auth values shown, as /webhook/view does)", _webhooks),
    ControlRoute(
        "GET",
        "webhooks/deliveries",
        "",
        "every webhook callback with its attempts; ?webhook_id= &event= &email_id= filter",
        _webhook_deliveries,
    ),
    ControlRoute("GET", "webhooks/attempts", "", "every delivery attempt and its answer, in order", _webhook_attempts),
    ControlRoute("GET", "webhooks/faults", "", "webhook delivery faults still able to fire", _webhook_faults),
    ControlRoute(
        "POST",
        "webhooks/faults",
        ", ".join(WEBHOOK_FAULT_FIELDS),
        "add a delivery fault: duplicate, delay, out_of_order, down (see sandbox/webhook_faults.py)",
        _add_webhook_fault,
    ),
    ControlRoute("DELETE", "webhooks/faults", "", "remove every webhook delivery fault", _clear_webhook_faults),
    ControlRoute(
        "POST", "webhooks/drain", "timeout", "wait until every callback due by now has been attempted", _drain_webhooks
    ),
    ControlRoute("POST", "reset", "", "forget messages, events, counts, faults, webhooks; keep keys and clock", _reset),
)

_BY_KEY = {(r.method, r.name): r for r in ROUTES}
