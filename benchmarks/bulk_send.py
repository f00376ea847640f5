"""Bulk sending throughput against the sandbox with added per-request latency.

Compares, for the same N emails, in one command:

* the official ``smtp2go`` PyPI client sending one by one (run with ``--official-python`` in a
  throw-away venv that has ``pip install smtp2go``; if none is available, a sequential loop of
  plain ``requests.post``, and the table says so);
* our ``Smtp2goClient`` sending one by one (pooled keep-alive connection);
* the bulk sender (``run_bulk_send``) at several concurrencies;
* the bulk sender with a share of requests answered 429.

Efficiency = achieved emails/s / (concurrency / added latency): how close a run gets to what
its concurrency allows. The sandbox runs in its own process so that it does not compete with
the sender for the GIL.

Usage::

    python -m venv /tmp/smtp2go-official && /tmp/smtp2go-official/bin/pip install smtp2go
    python benchmarks/bulk_send.py --official-python /tmp/smtp2go-official/bin/python
    python benchmarks/bulk_send.py --emails 1000 --latency 0.02 --concurrency 1 4 16 32 --rate-429 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import requests

from airflow_provider_smtp2go.bulk import DirectoryLedgerStore, MessageTemplate, run_bulk_send
from airflow_provider_smtp2go.client import Email, RetryPolicy, Smtp2goClient

SENDER = "bench@example.com"

OFFICIAL_SCRIPT = r"""
import json, logging, os, sys, time
import smtp2go.core as core
core.API_ROOT = os.environ["BENCH_API_ROOT"]
logging.disable(logging.CRITICAL)  # the library configures root logging at INFO on import
client = core.Smtp2goClient(api_key=os.environ["BENCH_API_KEY"])
n = int(sys.argv[1]); failures = 0
start = time.perf_counter()
for i in range(n):
    r = client.send(sender="bench@example.com", recipients=[f"official{i}@example.com"],
                    subject=f"Official {i}", text=f"Hello {i}")
    failures += not r.success
print(json.dumps({"seconds": time.perf_counter() - start, "failures": failures}))
"""


class SandboxProcess:
    """``python -m airflow_provider_smtp2go.sandbox`` on a free port, driven over ``/_sandbox``."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.api_key = "api-" + secrets.token_hex(16).upper()  # a throw-away key for this run only
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "airflow_provider_smtp2go.sandbox",
                "--port",
                str(self.port),
                "--api-key",
                self.api_key,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.url}/v3"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.control("GET", "health")
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the sandbox did not start")

    def control(self, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}/_sandbox/{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "X-Smtp2go-Sandbox": "1"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def prepare(self, latency: float, rate_429: float = 0.0, retry_after: float | None = None) -> None:
        self.control("POST", "reset", {})
        if rate_429:
            self.control(
                "POST",
                "faults",
                {"path": "email/send", "status": 429, "rate": rate_429, "retry_after": retry_after, "latency": latency},
            )
        self.control(
            "POST", "faults", {"path": "email/send", "kind": "latency", "status": None, "latency": latency, "rate": 1.0}
        )

    def stats(self) -> tuple[int, int, int]:
        messages = len(self.control("GET", "messages")["messages"])
        duplicates = len(self.control("GET", "duplicates")["duplicates"])
        requests_made = self.control("GET", "requests?path=email/send")
        count = requests_made.get("count", requests_made.get("total", 0)) if isinstance(requests_made, dict) else 0
        return messages, duplicates, int(count)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def official_baseline(sb: SandboxProcess, n: int, python: str | None) -> tuple[str, float, int]:
    candidates = [python] if python else []
    candidates.append(sys.executable)
    env = {**os.environ, "BENCH_API_ROOT": sb.base_url + "/", "BENCH_API_KEY": sb.api_key}
    for interpreter in candidates:
        probe = subprocess.run([interpreter, "-c", "import smtp2go.core"], capture_output=True, check=False)
        if probe.returncode == 0:
            out = subprocess.run(
                [interpreter, "-c", OFFICIAL_SCRIPT, str(n)], env=env, capture_output=True, text=True, check=True
            )
            result = json.loads(out.stdout.strip().splitlines()[-1])
            return "official smtp2go 2.x, one by one", float(result["seconds"]), int(result["failures"])
    # Fallback: what the official client does on the wire (a fresh requests.post per email).
    start, failures = time.perf_counter(), 0
    for i in range(n):
        r = requests.post(
            sb.base_url + "/email/send",
            timeout=30,
            json={
                "api_key": sb.api_key,
                "sender": SENDER,
                "to": [f"plain{i}@example.com"],
                "subject": f"Plain {i}",
                "text_body": f"Hello {i}",
            },
        )
        failures += r.status_code != 200
    return "requests.post loop (smtp2go not installed)", time.perf_counter() - start, failures


def our_sequential(sb: SandboxProcess, n: int) -> float:
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        start = time.perf_counter()
        for i in range(n):
            client.send(Email(sender=SENDER, to=f"seq{i}@example.com", subject=f"Seq {i}", text_body="Hello"))
        return time.perf_counter() - start


def bulk(sb: SandboxProcess, n: int, concurrency: int, tag: str) -> tuple[float, dict[str, int]]:
    rows = [{"email": f"{tag}{i}@example.com", "n": i} for i in range(n)]
    template = MessageTemplate(sender=SENDER, subject="Bulk {{ n }}", text_body="Hello {{ n }}")
    with (
        tempfile.TemporaryDirectory() as ledger,
        Smtp2goClient(
            sb.api_key, base_url=sb.base_url, retry=RetryPolicy.no_retries(), pool_maxsize=concurrency
        ) as client,
    ):
        start = time.perf_counter()
        result = run_bulk_send(
            client,
            rows,
            template,
            namespace=f"bench/{tag}",
            concurrency=concurrency,
            ledger_store=DirectoryLedgerStore(Path(ledger) / "l"),
            reconcile_settle_seconds=0,
            progress_interval=3600,
        )
        return time.perf_counter() - start, result.counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--emails", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every send (default 0.02)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16, 32])
    parser.add_argument("--headline", type=int, default=16, help="concurrency compared with the baseline")
    parser.add_argument("--rate-429", type=float, default=0.1, help="share of sends answered 429 in the last run")
    parser.add_argument("--retry-after", type=float, default=0.2, help="Retry-After on the injected 429s")
    parser.add_argument("--official-python", default=None, help="interpreter of a venv with `smtp2go` installed")
    args = parser.parse_args()
    n, latency = args.emails, args.latency

    sb = SandboxProcess()
    try:
        rows: list[tuple[str, int, float, float | None, str]] = []

        sb.prepare(latency)
        label, baseline, failures = official_baseline(sb, n, args.official_python)
        rows.append((label, 1, baseline, 1 / latency, f"failures={failures}"))

        sb.prepare(latency)
        rows.append(("our Smtp2goClient, one by one", 1, our_sequential(sb, n), 1 / latency, ""))

        for c in sorted(set(args.concurrency) | {args.headline}):
            sb.prepare(latency)
            seconds, counts = bulk(sb, n, c, f"c{c}_")
            messages, duplicates, _ = sb.stats()
            rows.append(
                (
                    f"bulk sender, concurrency {c}",
                    c,
                    seconds,
                    c / latency,
                    f"sent={counts['sent']} arrived={messages} duplicates={duplicates}",
                )
            )

        sb.prepare(latency, rate_429=args.rate_429, retry_after=args.retry_after)
        seconds, counts = bulk(sb, n, args.headline, "r429_")
        messages, duplicates, _ = sb.stats()
        rows.append(
            (
                f"bulk, concurrency {args.headline}, {args.rate_429:.0%} 429 (Retry-After {args.retry_after}s)",
                args.headline,
                seconds,
                args.headline / latency,
                f"sent={counts['sent']} arrived={messages} duplicates={duplicates}",
            )
        )
    finally:
        sb.stop()

    print(f"\n{n} emails, sandbox with {latency * 1000:.0f} ms added latency per send\n")
    header = f"{'run':<58} {'seconds':>8} {'emails/s':>9} {'vs baseline':>11} {'efficiency':>10}  notes"
    print(header)
    print("-" * len(header))
    for name, _c, seconds, ideal, notes in rows:
        rate = n / seconds
        efficiency = f"{rate / ideal:.0%}" if ideal else ""
        print(f"{name:<58} {seconds:>8.2f} {rate:>9.1f} {baseline / seconds:>10.1f}x {efficiency:>10}  {notes}")
    headline = next(r for r in rows if r[0] == f"bulk sender, concurrency {args.headline}")
    print(
        f"\nheadline: concurrency {args.headline} is {baseline / headline[2]:.1f}x the baseline "
        f"(target >= 10x), efficiency {n / headline[2] / headline[3]:.0%} of {args.headline}/{latency}s "
        f"= {headline[3]:.0f} emails/s (target >= 80%)"
    )


if __name__ == "__main__":
    main()
