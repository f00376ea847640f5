"""What one log call costs the application: ``Smtp2goHandler.emit`` vs the stdlib.

In ONE run, for each API condition — the sandbox answering every send after 2 s, and the API
down (connection refused) — it times ``handler.handle(record)`` for:

* ``NullHandler``      (the floor: filters and locking only),
* ``QueueHandler``     (stdlib's answer to slow handlers; a ``QueueListener`` drains it),
* ``Smtp2goHandler``   (ours),
* ``SMTPHandler``      (stdlib, synchronous, against a local SMTP sink on 127.0.0.1),

over the same pre-built ERROR records (10 call sites, every 10th with a traceback), and prints
per-emit mean / p99 / max in microseconds and the ratio to ``QueueHandler``.  The sandbox runs
in a subprocess so it does not share our GIL.  Rounds alternate handlers so noise hits all.

    python benchmarks/handler_emit_cost.py [--records 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import queue
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from smtp_sink import SmtpSink

from logging_handler import Smtp2goHandler

SMTP_RECORDS = 300  # SMTPHandler opens a connection per record; fewer keep the run short


@contextmanager
def sandbox_process(api_key: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_smtp2go.sandbox", "--port", "0", "--api-key", api_key],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            urls = [w.rstrip("/") for w in line.split() if w.startswith("http://") and w.rstrip("/").endswith("/v3")]
            if urls:
                yield urls[0]
                return
        raise RuntimeError("the sandbox did not print its base URL")
    finally:
        proc.terminate()
        proc.wait(10)


def control(base_url: str, route: str, payload: dict[str, object] | None = None, method: str = "POST") -> object:
    url = base_url.removesuffix("/v3") + "/_sandbox/" + route
    data = json.dumps(payload or {}).encode() if method == "POST" else None
    headers = {"Content-Type": "application/json", "X-Smtp2go-Sandbox": "1"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_records(n: int) -> list[logging.LogRecord]:
    logger = logging.getLogger("bench.app")
    try:
        raise ConnectionError("database unreachable")
    except ConnectionError:
        exc_info = sys.exc_info()
    records = []
    for i in range(n):
        site = i % 10
        records.append(
            logger.makeRecord(
                "bench.app",
                logging.ERROR,
                f"/srv/app/module{site}.py",
                100 + site,
                "request %d failed for user %s",
                (i, "alice"),
                exc_info if i % 10 == 0 else None,
                func="handler",
            )
        )
    return records


def measure(handle: Callable[[logging.LogRecord], object], records: list[logging.LogRecord]) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for record in records:
        start = clock()
        handle(record)
        samples.append(clock() - start)
    return samples


def build_handlers(
    base_url: str, api_key: str, sink_port: int
) -> dict[str, tuple[logging.Handler, Callable[[], None]]]:
    q: queue.Queue[logging.LogRecord] = queue.Queue(-1)
    listener = logging.handlers.QueueListener(q, logging.NullHandler())
    listener.start()
    ours = Smtp2goHandler(
        "ops@example.com",
        "alerts@example.com",
        api_key=api_key,
        base_url=base_url,
        flush_timeout=0.2,
        max_attempts=5,
        retry_deadline=60,
        timeout=30,
    )
    smtp = logging.handlers.SMTPHandler(("127.0.0.1", sink_port), "alerts@example.com", ["ops@example.com"], "alert")
    null = logging.NullHandler()
    return {
        "NullHandler": (null, null.close),
        "QueueHandler": (logging.handlers.QueueHandler(q), listener.stop),
        "Smtp2goHandler": (ours, ours.close),
        "SMTPHandler (local sink)": (smtp, smtp.close),
    }


def run_scenario(title: str, base_url: str, api_key: str, sink: SmtpSink, *, n: int, rounds: int) -> list[str]:
    records = make_records(n)
    handlers = build_handlers(base_url, api_key, sink.port)
    means: dict[str, list[float]] = {name: [] for name in handlers}
    tails: dict[str, list[int]] = {name: [] for name in handlers}
    for _ in range(rounds):
        for name, (handler, _) in handlers.items():
            batch = records[:SMTP_RECORDS] if name.startswith("SMTPHandler") else records
            samples = measure(handler.handle, batch)
            means[name].append(statistics.fmean(samples) / 1000)
            tails[name].extend(samples)
    ours = handlers["Smtp2goHandler"][0]
    assert isinstance(ours, Smtp2goHandler)
    stats = ours.stats
    for _, close in handlers.values():
        close()
    base = statistics.median(means["QueueHandler"])
    lines = [f"### {title}", "", "| handler | µs/emit (median of rounds) | p99 µs | max µs | ratio vs QueueHandler |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name in handlers:
        mean = statistics.median(means[name])
        ordered = sorted(tails[name])
        p99 = ordered[int(len(ordered) * 0.99)] / 1000
        worst = ordered[-1] / 1000
        lines.append(f"| {name} | {mean:.2f} | {p99:.1f} | {worst:,.0f} | {mean / base:.2f} |")
    lines.append("")
    lines.append(
        f"Smtp2goHandler meanwhile: {stats['sent']} emails sent, {stats['pending']:,} records pending "
        f"in {stats['groups']} groups, {stats['dropped']} dropped."
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.raiseExceptions = False  # the "API down" run reports failures through handleError
    logging.getLogger("airflow_provider_smtp2go").addHandler(logging.NullHandler())  # quiet retry warnings
    api_key = "api-" + os.urandom(16).hex().upper()
    out = [
        f"Python {sys.version.split()[0]}, {args.records:,} records x {args.rounds} rounds "
        f"(SMTPHandler: {SMTP_RECORDS} records/round), {os.cpu_count()} CPUs",
        "",
    ]
    with SmtpSink() as sink, sandbox_process(api_key) as base_url:
        control(base_url, "faults", {"path": "email/send", "kind": "latency", "latency": 2.0, "rate": 1.0})
        out += run_scenario(
            "API slow: every send answered after 2 s", base_url, api_key, sink, n=args.records, rounds=args.rounds
        )
        out.append("")
        down = f"http://127.0.0.1:{closed_port()}/v3"
        out += run_scenario("API down: connection refused", down, api_key, sink, n=args.records, rounds=args.rounds)
        out += ["", f"SMTP sink received {sink.count:,} messages from SMTPHandler."]
    print("\n".join(out))


if __name__ == "__main__":
    main()
