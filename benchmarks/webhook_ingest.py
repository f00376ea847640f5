"""Webhook receiver ingest: events per second, with durable dedupe, on one api-server worker.

Starts a real ``airflow api-server --workers 1`` (the plugin mounts the receiver at
``/smtp2go/webhooks``) on 127.0.0.1 with a fresh sqlite metadata DB in a temporary
AIRFLOW_HOME, declares the hard-bounce asset active (as a DAG scheduled on it would), then
posts form-encoded hard bounces from ``--concurrency`` client threads (SMTP2GO posts in
parallel; the sandbox's one delivery thread would measure only latency):

* ``new``: every post a new event (asset event + receipt);
* ``duplicate``: every post an event already recorded (the receipt check only);
* ``mixed``: half and half, as retries and duplicate deliveries make it.

Each post's answer is checked (``created``/``duplicates``), and afterwards the DB must hold
exactly one asset event per distinct event.  Target: >= 500 new events/s.

Usage::

    python benchmarks/webhook_ingest.py [--events 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import httpx

TOKEN = "bench-" + secrets.token_hex(12)
URI = "smtp2go://default/hard-bounced"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def airflow_env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW_CONN_SMTP2GO_WEBHOOK": json.dumps({"conn_type": "generic", "password": TOKEN}),
        }
    )
    return env


def declare_asset(db: Path) -> None:
    """What the dag-processor does for a DAG scheduled on the asset: an active asset row."""
    with sqlite3.connect(db) as conn:
        now = "2026-01-01 00:00:00.000000"
        conn.execute(
            "INSERT INTO asset (name, uri, [group], extra, created_at, updated_at) VALUES (?, ?, '', '{}', ?, ?)",
            (URI, URI, now, now),
        )
        conn.execute("INSERT INTO asset_active (name, uri) VALUES (?, ?)", (URI, URI))


def body(i: int) -> bytes:
    return urlencode(
        [
            ("event", "bounce"),
            ("bounce", "hard"),
            ("time", "2026-11-26T10:00:00Z"),
            ("sendtime", "2026-11-26T09:59:59.000000+00:00"),
            ("email_id", f"bench-{i:08d}"),
            ("id", secrets.token_hex(16)),
            ("rcpt", f"user{i}@example.com"),
            ("sender", "ops@example.com"),
            ("subject", "Invoice"),
            ("message", "550 5.1.1 no such user"),
        ]
    ).encode()


def run_phase(url: str, indexes: list[int], concurrency: int) -> tuple[float, int, int]:
    """Post one body per index from ``concurrency`` threads; (seconds, created, duplicates)."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-www-form-urlencoded"}
    bodies = [body(i) for i in indexes]
    totals = [0, 0]
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))

    def worker() -> None:
        with httpx.Client(timeout=30) as client:
            while True:
                with lock:
                    n = next(cursor, None)
                if n is None:
                    return
                response = client.post(url, content=bodies[n], headers=headers)
                response.raise_for_status()
                answer = response.json()
                with lock:
                    totals[0] += answer["created"]
                    totals[1] += answer["duplicates"]

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, totals[0], totals[1]


def wait_up(url: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the api-server exited during startup")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the api-server did not come up in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="smtp2go-webhook-bench-"))
    (home / "dags").mkdir()
    port = free_port()
    env = airflow_env(home, port)
    airflow = str(Path(sys.executable).with_name("airflow"))
    base = f"http://127.0.0.1:{port}/smtp2go/webhooks"
    log = open(home / "api-server.log", "wb")  # noqa: SIM115  (closed in finally)
    server = None
    try:
        print("migrating a fresh sqlite metadata DB ...", flush=True)
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
        declare_asset(home / "airflow.db")
        server = subprocess.Popen(
            [airflow, "api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_up(base, server, time.monotonic() + 180)
        run_phase(f"{base}/", [-1 - i for i in range(50)], args.concurrency)  # warm up
        n = args.events
        rows = [("phase", "posts", "seconds", "posts/s", "created", "duplicates")]
        for phase, indexes in (
            ("new", list(range(n))),
            ("duplicate", list(range(n))),
            ("mixed", [i for pair in zip(range(n, n + n // 2), range(n // 2), strict=True) for i in pair]),
        ):
            seconds, created, duplicates = run_phase(f"{base}/", indexes, args.concurrency)
            rows.append(
                (
                    phase,
                    str(len(indexes)),
                    f"{seconds:.2f}",
                    f"{len(indexes) / seconds:.0f}",
                    str(created),
                    str(duplicates),
                )
            )
        with sqlite3.connect(home / "airflow.db") as conn:
            stored = conn.execute(
                "SELECT count(*), count(DISTINCT json_extract(e.extra, '$.email_id')) FROM asset_event e "
                "JOIN asset a ON a.id = e.asset_id WHERE a.uri = ?",
                (URI,),
            ).fetchone()
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        print(f"\nwebhook ingest, one api-server worker, sqlite, {args.concurrency} concurrent clients\n")
        for r in rows:
            print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))
        expected = n + n // 2 + 50
        print(f"\nasset events stored: {stored[0]} for {stored[1]} distinct events (expected {expected} each)")
        if stored[0] != expected or stored[1] != expected:
            raise SystemExit("dedupe failed: the stored asset events do not match the distinct events posted")
    finally:
        if server is not None:
            os.killpg(server.pid, 15)
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, 9)
        log.close()
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
