"""The webhook receiver: a FastAPI app that Airflow 3.1+'s api-server mounts at ``/smtp2go/webhooks``.

Point the SMTP2GO webhook at ``https://<your api-server>/smtp2go/webhooks/`` (account
``default``) or ``.../smtp2go/webhooks/<account>``, with an auth header whose secret is in the
account's connection (:mod:`.auth`).  Each post is handled in this order:

1. **authenticate** (before reading the body): wrong or missing credentials, or no
   connection, answer ``401`` and nothing is recorded;
2. **read** at most :data:`MAX_BODY_BYTES` (1 MiB): larger answers ``413``;
3. **normalise** (:mod:`.events`): an unreadable post, or one without ``event``/``email_id``,
   answers ``400``; SMS and unknown events are acknowledged (``200``, ``ignored``) and dropped;
4. **record** (:mod:`.assets`, :mod:`.dedupe`): each new event becomes an asset event and a
   dedupe receipt in one committed transaction; an event already recorded is not recorded
   again.  Only then ``200 {"created": n, "duplicates": m, "ignored": k}``.  A database
   failure answers ``503``, so SMTP2GO retries.

The first post also freezes the api-server's startup heap, once (:mod:`.heap`), which takes
full garbage collections off every later post.

No Airflow authentication applies to plugin apps (the api-server mounts them as they are), so
this app does its own, and it has no other routes than ``GET /health`` (no auth, no data).
Requires Airflow 3.1+ (FastAPI plugin apps); on older Airflow :func:`create_app` raises.

Example::

    >>> app = create_app()  # doctest: +SKIP
    >>> TestClient(app).post("/", data={"event": "delivered"}).status_code  # doctest: +SKIP
    401
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
# runtime, and ``Request`` is imported inside create_app() (FastAPI is absent on Airflow 2).
import functools
import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.webhooks.assets import ACCOUNT_PATTERN, DEFAULT_ACCOUNT, Recorded
from airflow_provider_smtp2go.webhooks.auth import SecretCache
from airflow_provider_smtp2go.webhooks.events import WebhookPayloadError, parse_events
from airflow_provider_smtp2go.webhooks.heap import StartupHeap
from airflow_provider_smtp2go.webhooks.writer import EventWriter

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse
    from starlette.requests import Request as StarletteRequest

URL_PREFIX = "/smtp2go/webhooks"
"""Where the plugin mounts the receiver in the api-server (outside Airflow's reserved prefixes)."""
MAX_BODY_BYTES = 1024 * 1024
RECORD_TIMEOUT = 30.0
"""Seconds a post waits for its transaction before answering 503 (SMTP2GO gives up after ~10 s)."""
NEEDS = "The SMTP2GO webhook receiver needs Airflow 3.1 or newer (FastAPI plugin apps); this is Airflow {}."
log = logging.getLogger(__name__)


class PayloadTooLarge(Exception):
    """The body passed :data:`MAX_BODY_BYTES`."""


def create_app(
    *,
    secrets: "SecretCache | None" = None,
    writer: "EventWriter | None" = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    heap: "StartupHeap | None" = None,
) -> "FastAPI":
    """A fresh receiver app (the plugin makes one; tests make their own).

    Concurrent posts are recorded together by ``writer`` (group commit, :mod:`.writer`).  With
    ``heap``, the first post freezes the process's startup heap (:mod:`.heap`; the plugin passes
    one unless ``[smtp2go] webhook_freeze_startup_heap`` is False).
    """
    from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_VERSION  # noqa: PLC0415

    if not AIRFLOW_V_3_1_PLUS:
        raise RuntimeError(NEEDS.format(".".join(map(str, AIRFLOW_VERSION))))
    from fastapi import FastAPI, Request  # noqa: PLC0415
    from fastapi.responses import JSONResponse  # noqa: PLC0415  (evaluated: FastAPI reads these annotations)

    cache = secrets or SecretCache()
    ingest = writer or EventWriter()
    app = FastAPI(
        title="SMTP2GO webhooks",
        description="Receives SMTP2GO webhook posts and records them as Airflow asset events.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    handle = functools.partial(_receive, cache=cache, writer=ingest, max_body_bytes=max_body_bytes, heap=heap)

    @app.get("/health")
    async def health() -> "dict[str, str]":
        return {"status": "ok"}

    @app.post("/")
    async def receive_default(request: Request) -> JSONResponse:
        return await handle(request, DEFAULT_ACCOUNT)

    @app.post("/{account}")
    async def receive(account: str, request: Request) -> JSONResponse:
        return await handle(request, account)

    app.state.secrets = cache
    app.state.writer = ingest
    app.state.heap = heap
    return app


def _answer(status: int, body: "dict[str, Any]", headers: "dict[str, str] | None" = None) -> "JSONResponse":
    from fastapi.responses import JSONResponse  # noqa: PLC0415

    return JSONResponse(body, status_code=status, headers=headers)


async def _receive(
    request: "StarletteRequest",
    account: str,
    *,
    cache: SecretCache,
    writer: EventWriter,
    max_body_bytes: int,
    heap: "StartupHeap | None",
) -> "JSONResponse":
    import asyncio  # noqa: PLC0415

    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415

    if heap is not None and not heap.done:
        heap.freeze_once()
    if not ACCOUNT_PATTERN.match(account):
        return _answer(404, {"detail": "unknown account"})
    fresh, secret = cache.peek(account)
    if not fresh:  # a connection lookup may block: not on the event loop
        secret = await run_in_threadpool(cache.get, account)
    if secret is None or not secret.accepts(request.headers.get("authorization")):
        return _answer(401, {"detail": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="smtp2go-webhooks"'})
    try:
        body = await _read_body(request, max_body_bytes)
    except PayloadTooLarge:
        return _answer(413, {"detail": f"the body is larger than {max_body_bytes} bytes"})
    try:
        events = parse_events(request.headers.get("content-type"), body)
    except WebhookPayloadError as exc:
        return _answer(400, {"detail": str(exc)})
    if not events:
        return _answer(200, {"created": 0, "duplicates": 0, "ignored": 1})
    try:
        recorded: Recorded = await asyncio.wait_for(writer.submit_async(account, events), RECORD_TIMEOUT)
    except Exception:
        # Not 2xx, so SMTP2GO retries; the body names no detail (it may hold SQL).
        log.exception("SMTP2GO webhook: could not record %d event(s) for account %r", len(events), account)
        return _answer(503, {"detail": "the event could not be recorded; retry later"}, {"Retry-After": "60"})
    return _answer(200, {"created": recorded.created, "duplicates": recorded.duplicates, "ignored": 0})


async def _read_body(request: "StarletteRequest", limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise PayloadTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge
        chunks.append(chunk)
    return b"".join(chunks)
