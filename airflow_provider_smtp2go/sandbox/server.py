"""The HTTP transport: a threaded HTTP/1.1 keep-alive server that moves bytes and applies faults.

Speed matters (reliability tests and benchmarks send thousands of requests), so every response
(status line, headers and body) leaves in **one** ``sendall`` and accepted sockets get
``TCP_NODELAY``: ``BaseHTTPRequestHandler`` would otherwise write headers and body separately
and a keep-alive client would hit the 40 ms Nagle/delayed-ACK stall on every request.
Per-request logging is silenced; connection threads are daemons and are shut down on stop.
Every wait a fault makes (latency, a trickle's pauses, a hang) is a wait on the server's
``stopping`` event, so ``stop()`` ends held connections at once instead of outliving them.

Example (normally you use :class:`~airflow_provider_smtp2go.sandbox.Smtp2goSandbox`)::

    server = SandboxHTTPServer(("127.0.0.1", 0), api=api, faults=faults, control=control)
    threading.Thread(target=server.serve_forever, daemon=True).start()
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import threading
import time
import traceback
from collections.abc import Callable
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_smtp2go.sandbox.api import ParsedRequest, SandboxApi
from airflow_provider_smtp2go.sandbox.control_routes import CONTROL_HEADER, missing_header
from airflow_provider_smtp2go.sandbox.faults import Fault, FaultPlan
from airflow_provider_smtp2go.sandbox.wire import (
    API_EXCEPTION,
    METHOD_NOT_ALLOWED,
    PAYLOAD_TOO_LARGE,
    Response,
    error,
)

ControlHandler = Callable[[str, str, dict[str, list[str]], bytes], Response]
"""(method, path, query, body) -> Response, for ``/_sandbox/*``."""

CONTROL_PREFIX = "/_sandbox"
SERVER_NAME = "smtp2go-sandbox"

_date_cache: tuple[int, str] = (0, "")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals (the only hosts the sandbox binds or posts to)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _http_date() -> str:
    # Formatting a date costs more than the rest of a small response; once a second is enough.
    global _date_cache  # noqa: PLW0603
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True))
    return _date_cache[1]


def serialize(response: Response, *, close: bool) -> bytes:
    """Status line + headers + body as one buffer."""
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    content_type = response.content_type
    if content_type.startswith(("application/json", "text/")) and "charset" not in content_type:
        content_type += "; charset=utf-8"
    lines = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Server: {SERVER_NAME}",
        f"Date: {_http_date()}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(response.body)}",
    ]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


_MAX_HEADERS = 100
_MAX_LINE = 65536
_TRICKLE_TICK = 0.05  # seconds between a trickle's writes (longer only below 1/tick bytes/s)
_HANG_POLL = 0.1  # how often a hung connection checks whether its client went away

DEFAULT_CONNECTION_TIMEOUT = 30.0
"""Seconds a connection may stay silent (idle keep-alive, slow headers or body) before it is closed."""

CONNECTION_THREAD_NAME = f"{SERVER_NAME}-connection"
"""Name of every connection-handling thread (tests count them to prove handlers end)."""


class _Headers(dict[str, str]):
    """Request headers keyed by lower-case name; ``get`` is case-insensitive."""

    def get(self, key: str, default: str = "") -> str:  # type: ignore[override]
        """The header's value, or ``default``."""
        return dict.get(self, key.lower(), default)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    """One connection: parse requests, route ``/v3`` to the API and ``/_sandbox`` to control."""

    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    server: SandboxHTTPServer
    raw_requestline: bytes  # set by BaseHTTPRequestHandler.handle_one_request

    def parse_request(self) -> bool:
        """Parse the request line and headers.

        A lean replacement for the stdlib's, which builds an ``email.message.Message`` per
        request (a third of the sandbox's CPU per send).  Headers become a case-insensitive
        mapping with ``.get``; keep-alive rules are HTTP/1.1's.
        """
        self.command = ""
        self.request_version = version = "HTTP/0.9"
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request line")
            return False
        self.command, self.path, version = words
        self.request_version = version
        headers = _Headers()
        for _ in range(_MAX_HEADERS):
            line = self.rfile.readline(_MAX_LINE + 1)
            if len(line) > _MAX_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Header line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, sep, value = line.decode("iso-8859-1").partition(":")
            if not sep:
                self.send_error(HTTPStatus.BAD_REQUEST, "Malformed header line")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.headers = headers  # type: ignore[assignment]  # only .get() is used on it
        connection = headers.get("connection", "").lower()
        self.close_connection = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        if headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def setup(self) -> None:
        """Time out silent sockets, disable Nagle, and register the socket for ``stop()``."""
        super().setup()
        self.connection.settimeout(self.server.connection_timeout)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        """Unregister the socket."""
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: a log line per request would cost more than the request."""

    def do_POST(self) -> None:
        """API calls and control actions."""
        self._dispatch("POST")

    def do_GET(self) -> None:
        """Control reads (the API answers 405)."""
        self._dispatch("GET")

    def do_DELETE(self) -> None:
        """Control deletes (the API answers 405)."""
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        """Treated like POST by the API (SMTP2GO has a few PATCH endpoints)."""
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        """The API answers 405."""
        self._dispatch("PUT")

    def _write(self, response: Response) -> None:
        self.wfile.write(serialize(response, close=self.close_connection))

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._write(error(411, "Send a Content-Length; chunked bodies are not supported.", PAYLOAD_TOO_LARGE))
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > self.server.max_request_bytes:
            # Refuse before reading: the body would be thrown away anyway.
            self.close_connection = True
            self._write(error(413, "The request body is too large.", PAYLOAD_TOO_LARGE))
            return None
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        if body is None:
            return
        url = urlsplit(self.path)
        if url.path == CONTROL_PREFIX or url.path.startswith(CONTROL_PREFIX + "/"):
            if self.headers.get(CONTROL_HEADER) != "1":
                self._write(missing_header())
            else:
                self._write(self._safely(lambda: self.server.control(method, url.path, parse_qs(url.query), body)))
            return
        if method not in ("POST", "PATCH"):
            self._write(error(405, "Every SMTP2GO API call is a POST with a JSON body.", METHOD_NOT_ALLOWED))
            return
        api = self.server.api
        request = api.parse(url.path, self.headers.get("X-Smtp2go-Api-Key"), self.headers.get("Content-Type"), body)
        api.state.record_request(request.path, request.api_key)
        fault = self.server.faults.take(request.path)
        if fault is None:
            self._write(self._safely(lambda: api.respond(request)))
        else:
            self._apply(fault, request)

    def _apply(self, fault: Fault, request: ParsedRequest) -> None:
        if fault.latency > 0 and self.server.stopping.wait(fault.latency):
            self._drop()
            return
        kind = fault.kind
        if kind == "drop_before":
            self._drop()
        elif kind == "hang":
            self._hang()
        elif kind in ("latency", "drop_after", "trickle"):
            # The work happens, whatever the answer's fate.
            response = self._safely(lambda: self.server.api.respond(request))
            if kind == "drop_after":
                self._drop()
            elif kind == "trickle":
                self._trickle(response, float(fault.bytes_per_second or 1.0))
            else:
                self._write(response)
        else:
            self._write(self._safely(fault.response))

    def _safely(self, answer: Callable[[], Response]) -> Response:
        """``answer()``, or a JSON 500 if it raised: a sandbox bug must not look like a network fault."""
        try:
            return answer()
        except Exception as exc:
            traceback.print_exc()  # a bug in the sandbox: loud on stderr, but the client gets an answer
            return error(500, f"The sandbox failed on this request ({type(exc).__name__}).", API_EXCEPTION)

    def _trickle(self, response: Response, bytes_per_second: float) -> None:
        data = serialize(response, close=self.close_connection)
        step = max(1, round(bytes_per_second * _TRICKLE_TICK))
        pause = step / bytes_per_second
        for start in range(0, len(data), step):
            try:
                self.wfile.write(data[start : start + step])
            except OSError:  # the client gave up: the ambiguous send this fault is for
                self.close_connection = True
                return
            if start + step < len(data) and self.server.stopping.wait(pause):
                self._drop()
                return

    def _hang(self) -> None:
        self.close_connection = True
        while not self.server.stopping.wait(_HANG_POLL):
            if self._peer_closed():
                break
        self._drop()

    def _peer_closed(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


class SandboxHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` bound to one sandbox's API, faults and control routes."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        *,
        api: SandboxApi,
        faults: FaultPlan,
        control: ControlHandler,
        max_request_bytes: int,
        connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT,
    ) -> None:
        self.api = api
        self.connection_timeout = connection_timeout
        self.faults = faults
        self.control = control
        self.max_request_bytes = max_request_bytes
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.stopping = threading.Event()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, SandboxRequestHandler)

    def server_bind(self) -> None:
        """Bind without ``HTTPServer``'s reverse-DNS lookup (``getfqdn`` can stall for seconds)."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve the connection in a named daemon thread (never joined: ``stop()`` must not wait)."""
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=CONNECTION_THREAD_NAME,
            daemon=True,
        )
        thread.start()

    def shutdown(self) -> None:
        """Wake every waiting fault first, then stop the accept loop."""
        self.stopping.set()
        super().shutdown()

    def track(self, conn: socket.socket) -> None:
        """Remember an open connection."""
        with self._connections_lock:
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        """Forget a closed connection."""
        with self._connections_lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """Shut down every open connection (idle keep-alives would otherwise linger)."""
        with self._connections_lock:
            conns = list(self._connections)
            self._connections.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
