"""Per-call overhead of Smtp2goClient.send against a bare pooled requests.Session.post.

Both send the same JSON body to the same sandbox over loopback keep-alive connections; the
sandbox runs in a subprocess so it does not share the client's GIL. Rounds alternate between
the two so a noisy neighbour hurts both alike. Besides wall time, each case reports this
process's CPU time per call (``time.process_time``: the sandbox's work is not in it), which
stays comparable on a machine that other jobs keep busy. Usage:

    python benchmarks/client_overhead.py [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import requests

from airflow_provider_smtp2go.client import Email, Smtp2goClient


def start_sandbox(api_key: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_smtp2go.sandbox", "--port", "0", "--api-key", api_key],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        for word in line.split():
            if word.startswith("http://") and word.rstrip("/").endswith("/v3"):
                return proc, word.rstrip("/")
    proc.kill()
    raise RuntimeError("the sandbox did not print its base URL")


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    """Wall and CPU seconds per call."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n, (time.process_time() - cpu) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    api_key = "api-" + os.urandom(16).hex().upper()
    proc, base_url = start_sandbox(api_key)
    try:
        email = Email(sender="bench@example.com", to=["ops@example.com"], subject="bench", text_body="hello " * 20)
        body = json.dumps(email.to_payload(), separators=(",", ":")).encode()
        headers = {"X-Smtp2go-Api-Key": api_key, "Content-Type": "application/json"}
        session = requests.Session()
        # The same session without the per-request environment scan (proxies, CA bundle,
        # netrc) that the client also avoids: the strictest baseline.
        lean = requests.Session()
        lean.trust_env = False
        client = Smtp2goClient(api_key, base_url=base_url)

        def bare() -> object:
            response = session.post(f"{base_url}/email/send", data=body, headers=headers, timeout=(5, 30))
            response.raise_for_status()
            return response.json()

        def bare_lean() -> object:
            response = lean.post(f"{base_url}/email/send", data=body, headers=headers, timeout=(5, 30))
            response.raise_for_status()
            return response.json()

        cases: dict[str, Callable[[], object]] = {
            "bare requests.Session.post": bare,
            "same, trust_env=False": bare_lean,
            "Smtp2goClient.send(email)": lambda: client.send(email),
            "Email(...) + Smtp2goClient.send": lambda: client.send(
                Email(sender="bench@example.com", to=["ops@example.com"], subject="bench", text_body="hello " * 20)
            ),
        }
        for fn in cases.values():  # warm up connections and caches
            timed(fn, 50)
        wall: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                seconds, cpu_seconds = timed(fn, args.requests // args.rounds)
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
        bare_wall = statistics.median(wall["bare requests.Session.post"])
        bare_cpu = statistics.median(cpu["bare requests.Session.post"])
        print(f"{args.requests} sends per case over loopback keep-alive, median of {args.rounds} alternating rounds\n")
        print(f"| {'case':34} | {'µs/call':>8} | {'vs bare':>7} | {'CPU µs/call':>11} | {'CPU vs bare':>11} |")
        print(f"|{'-' * 36}|{'-' * 10}|{'-' * 9}|{'-' * 13}|{'-' * 13}|")
        for name in cases:
            per_call, per_cpu = statistics.median(wall[name]), statistics.median(cpu[name])
            print(
                f"| {name:34} | {per_call * 1e6:8.0f} | {per_call / bare_wall:6.2f}x "
                f"| {per_cpu * 1e6:11.0f} | {per_cpu / bare_cpu:10.2f}x |"
            )
        client.close()
        session.close()
        lean.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
