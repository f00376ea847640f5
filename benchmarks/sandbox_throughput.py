"""Sandbox throughput: ``email/send`` over keep-alive ``requests.Session`` on loopback.

Measures the sandbox in this process (shares the GIL with the client) and in a subprocess (the
realistic setup: ``python -m airflow_provider_smtp2go.sandbox``), each with one client thread
and with 8 threads (one Session each).  A do-nothing HTTP server in a subprocess gives the
baseline: the rate the ``requests`` client itself can reach on this machine right now.  The
``http.client`` rows use the stdlib's leaner keep-alive connection, to show the sandbox's own
ceiling when the client is not the bottleneck.  Prints a table.

    python benchmarks/sandbox_throughput.py [--requests 3000] [--threads 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

PAYLOAD = {
    "sender": "Bench <bench@example.com>",
    "to": ["alice@example.com"],
    "subject": "Throughput",
    "text_body": "Hello from the benchmark.",
    "html_body": "<p>Hello from the benchmark.</p>",
}
TIME_LIMIT_S = 60.0

# A do-nothing keep-alive HTTP server: the ceiling the requests client itself imposes.
NOOP_SERVER = """
import socket, sys, threading
resp = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 2\\r\\n\\r\\n{}"
ls = socket.socket(); ls.bind(("127.0.0.1", int(sys.argv[1]))); ls.listen(64)
def serve(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); f = c.makefile("rb")
    while True:
        length = 0
        if not f.readline(): return
        while (line := f.readline()) not in (b"\\r\\n", b""):
            if line.lower().startswith(b"content-length"): length = int(line.split(b":")[1])
        f.read(length); c.sendall(resp)
while True:
    c, _ = ls.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def in_process() -> Iterator[tuple[str, str]]:
    with Smtp2goSandbox() as sb:
        yield sb.base_url, sb.api_key


@contextmanager
def subprocess_server() -> Iterator[tuple[str, str]]:
    port = _free_port()
    key = "api-" + os.urandom(16).hex()  # made at runtime
    args = ["-m", "airflow_provider_smtp2go.sandbox", "--port", str(port), "--api-key", key]
    with _serving(args, port) as base:
        yield f"{base}/v3", key


@contextmanager
def noop_server() -> Iterator[tuple[str, str]]:
    port = _free_port()
    with _serving(["-c", NOOP_SERVER, str(port)], port) as base:
        yield f"{base}/v3", "unused"


@contextmanager
def _serving(args: list[str], port: int) -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("sandbox subprocess did not start") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _worker(base_url: str, key: str, n: int, latencies: list[float], deadline: float) -> None:
    session = requests.Session()
    headers = {"X-Smtp2go-Api-Key": key}
    url = f"{base_url}/email/send"
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        resp = session.post(url, json=PAYLOAD, headers=headers, timeout=10)
        latencies.append(time.perf_counter() - t0)
        if resp.status_code != 200:
            raise RuntimeError(f"unexpected status {resp.status_code}")
    session.close()


def _worker_http_client(base_url: str, key: str, n: int, latencies: list[float], deadline: float) -> None:
    host_port = base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    body = json.dumps(PAYLOAD).encode()
    headers = {"X-Smtp2go-Api-Key": key, "Content-Type": "application/json"}
    path = base_url.split(host_port, 1)[1] + "/email/send"
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        latencies.append(time.perf_counter() - t0)
        if resp.status != 200:
            raise RuntimeError(f"unexpected status {resp.status}")
    conn.close()


WORKERS = {"requests": _worker, "http.client": _worker_http_client}


def run(base_url: str, key: str, total: int, threads: int, client: str = "requests") -> tuple[int, float, list[float]]:
    worker = WORKERS[client]
    # Warm up: connection setup and first-request costs are not what we measure.
    worker(base_url, key, 50, [], time.monotonic() + 10)
    per_thread = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    lists: list[list[float]] = [[] for _ in range(threads)]
    deadline = time.monotonic() + TIME_LIMIT_S
    workers = [
        threading.Thread(target=worker, args=(base_url, key, per_thread[i], lists[i], deadline)) for i in range(threads)
    ]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    latencies = [x for lst in lists for x in lst]
    return len(latencies), elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    total = min(args.requests, 100_000)
    rows = []
    setups = (
        ("in-process", in_process, "requests"),
        ("subprocess", subprocess_server, "requests"),
        ("no-op baseline", noop_server, "requests"),
        ("subprocess", subprocess_server, "http.client"),
        ("no-op baseline", noop_server, "http.client"),
    )
    for server_name, factory, client in setups:
        for threads in (1, args.threads):
            with factory() as (base_url, key):
                n, elapsed, lat = run(base_url, key, total, threads, client)
            lat.sort()
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            rows.append(
                (
                    f"{server_name}, {client}, {threads} thr",
                    n,
                    elapsed,
                    n / elapsed,
                    statistics.median(lat) * 1e3,
                    p99 * 1e3,
                )
            )
    print(f"{'mode':<38} {'requests':>8} {'seconds':>8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for mode, n, elapsed, rps, p50, p99 in rows:
        print(f"{mode:<38} {n:>8} {elapsed:>8.2f} {rps:>8.0f} {p50:>7.2f} {p99:>7.2f}")


if __name__ == "__main__":
    main()
