"""A ``requests`` adapter whose every socket read ends at the call's deadline.

Socket timeouts bound one read each: a server that trickles its answer a byte at a time
never trips them, and one read after another keeps a call alive indefinitely. The clock has
to be checked between reads, including the reads of the status line and headers, which
happen inside ``http.client``. ``http.client`` builds its response from
``HTTPConnection.response_class(sock)``, which reads through ``sock.makefile("rb")``: this
module supplies a response class whose file checks the deadline before each read and gives
the socket a timeout of ``min(read timeout, time left)``. A read past the deadline raises
``TimeoutError``, which urllib3 and requests report as a read timeout.

The deadline travels in a thread-local set around one request (``bounded_reads``), so a
session shared by threads bounds each thread's call by its own deadline. Requests through a
SOCKS proxy use urllib3's own connection classes and are bounded per read only.

Imported only by the sync transport (it imports requests and urllib3).
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from airflow_provider_smtp2go.client.retry import Deadline

_bound = threading.local()


@contextmanager
def bounded_reads(deadline: Deadline, read_timeout: float) -> Iterator[None]:
    """Bound every read of responses begun in this thread, inside the block, by ``deadline``."""
    _bound.value = (deadline, read_timeout)
    try:
        yield
    finally:
        _bound.value = None


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: Deadline, read_timeout: float) -> None:
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline
        self._read_timeout = read_timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        remaining = self._deadline.remaining()
        if remaining <= 0:
            raise TimeoutError("the call's deadline passed while reading SMTP2GO's answer")
        self._sock.settimeout(min(self._read_timeout, remaining))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _SocketUnderDeadline:
    """What ``http.client.HTTPResponse`` needs of a socket: ``makefile``, reading under a deadline."""

    def __init__(self, sock: socket.socket, deadline: Deadline, read_timeout: float) -> None:
        self._args = (sock, deadline, read_timeout)

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(*self._args))


class _BoundedResponse(http.client.HTTPResponse):
    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        bound = getattr(_bound, "value", None)
        if bound is not None:
            sock = _SocketUnderDeadline(sock, *bound)
        super().__init__(sock, *args, **kwargs)


class _Connection(HTTPConnection):
    response_class = _BoundedResponse


class _TLSConnection(HTTPSConnection):
    response_class = _BoundedResponse


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _Pool, "https": _TLSPool}


class DeadlineAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections read under ``bounded_reads``' deadline (else as usual).

    >>> import requests
    >>> session = requests.Session()
    >>> session.mount("https://", DeadlineAdapter(max_retries=0))
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager
