"""A minimal SMTP server on 127.0.0.1 that accepts and counts messages (Python 3.12 has no
``smtpd``; no third-party dependency).  Used by the logging-handler benchmarks as the target of
the stdlib ``SMTPHandler``.

    with SmtpSink() as sink:
        SMTPHandler(("127.0.0.1", sink.port), ...)
        ...
        sink.count
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self.reply("220 sink ESMTP ready")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            verb = raw.decode("latin-1").strip().split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
            elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                while self.rfile.readline() not in (b".\r\n", b".\n", b""):
                    pass
                with self.server.lock:
                    self.server.count += 1
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.count = 0
        self.lock = threading.Lock()


class SmtpSink:
    """Start with ``with SmtpSink() as sink``; ``sink.port`` and ``sink.count``."""

    def __init__(self) -> None:
        self._server = _Server()
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="smtp-sink", daemon=True)

    @property
    def count(self) -> int:
        return self._server.count

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
