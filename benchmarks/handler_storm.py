"""An error storm: 1,000,000 ERROR records (5 call sites) through each handler setup.

Each setup runs in its own child process so its peak RSS is its own; the SMTP2GO sandbox and
the SMTP sink run in this (parent) process.  Setups:

* ``NullHandler``                                   — the floor (logging's own cost);
* ``Smtp2goHandler``                                — ours, sandbox answering normally;
* ``QueueHandler(unbounded) -> SMTPHandler``        — the stdlib's non-blocking email recipe;
* ``QueueHandler(maxsize=10000) -> SMTPHandler``    — the same with a bounded queue.

For each: records/s of the logging loop, peak RSS (``resource.getrusage``) and its growth over
the pre-storm baseline, emails actually sent, records dropped (counted by the handler or, for
QueueHandler, inferred: it drops silently), and what was still queued when the loop ended.
The stdlib listener is stopped after at most ``--drain`` seconds (an unbounded queue of a
million records would otherwise take ~an hour to mail out, one SMTP session per record).

    python benchmarks/handler_storm.py [--records 1000000] [--drain 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import queue
import resource
import subprocess
import sys
import threading
import time

SETUPS = ("null", "smtp2go", "queue-unbounded", "queue-bounded")
LABELS = {
    "null": "NullHandler",
    "smtp2go": "Smtp2goHandler",
    "queue-unbounded": "QueueHandler(unbounded) -> SMTPHandler",
    "queue-bounded": "QueueHandler(maxsize=10000) -> SMTPHandler",
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# Five call sites = five alert groups.
def site_a(log: logging.Logger, i: int) -> None:
    log.error("request %d failed: %s", i, "timeout")


def site_b(log: logging.Logger, i: int) -> None:
    log.error("payment %d declined by %s", i, "gateway")


def site_c(log: logging.Logger, i: int) -> None:
    log.error("cache miss storm at key %d", i)


def site_d(log: logging.Logger, i: int) -> None:
    log.critical("worker %d lost its lease", i)


def site_e(log: logging.Logger, i: int) -> None:
    log.error("retry budget exhausted for job %d", i)


SITES = (site_a, site_b, site_c, site_d, site_e)


def child(setup: str, records: int, *, drain: float, base_url: str, api_key: str, smtp_port: int) -> dict[str, object]:
    logging.raiseExceptions = False  # a full bounded queue reports through handleError
    logging.getLogger("airflow_provider_smtp2go").addHandler(logging.NullHandler())
    log = logging.getLogger("storm")
    log.propagate = False
    listener = None
    q: queue.Queue[logging.LogRecord] | None = None
    handler: logging.Handler
    if setup == "null":
        handler = logging.NullHandler()
    elif setup == "smtp2go":
        from logging_handler import Smtp2goHandler

        handler = Smtp2goHandler(
            "ops@example.com",
            "alerts@example.com",
            api_key=api_key,
            base_url=base_url,
            digest_window=2,
            flush_timeout=30,
        )
    else:
        q = queue.Queue(10_000 if setup == "queue-bounded" else -1)
        smtp = logging.handlers.SMTPHandler(
            ("127.0.0.1", smtp_port), "alerts@example.com", ["ops@example.com"], "alert"
        )
        listener = logging.handlers.QueueListener(q, smtp)
        listener.start()
        handler = logging.handlers.QueueHandler(q)
    log.addHandler(handler)
    baseline = peak_rss_mib()
    started = time.perf_counter()
    for i in range(records):
        SITES[i % 5](log, i)
    elapsed = time.perf_counter() - started
    peak_after_loop = peak_rss_mib()
    result: dict[str, object] = {"elapsed": elapsed, "baseline_mib": baseline}
    if setup == "smtp2go":
        from logging_handler import Smtp2goHandler

        assert isinstance(handler, Smtp2goHandler)
        close_started = time.perf_counter()
        handler.close()
        result["close_s"] = time.perf_counter() - close_started
        result["dropped"] = handler.stats["dropped"]
        result["queued"] = handler.stats["pending"]
    elif q is not None and listener is not None:
        deadline = time.monotonic() + drain
        while not q.empty() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Stop without draining: what is still queued is what a process exit would lose.
        left = 0
        while True:
            try:
                q.get_nowait()
            except queue.Empty:
                break
            left += 1
        result["queued"] = left
        stopper = threading.Thread(target=listener.stop, daemon=True)
        stopper.start()
        stopper.join(10)
    result["peak_mib"] = max(peak_after_loop, peak_rss_mib())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--drain", type=float, default=5.0)
    parser.add_argument("--child", choices=SETUPS)
    parser.add_argument("--base-url", default="")
    parser.add_argument("--smtp-port", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        key = os.environ["BENCH_SMTP2GO_KEY"]
        print(
            json.dumps(
                child(
                    args.child,
                    args.records,
                    drain=args.drain,
                    base_url=args.base_url,
                    api_key=key,
                    smtp_port=args.smtp_port,
                )
            )
        )
        return

    from smtp_sink import SmtpSink

    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    rows = []
    with Smtp2goSandbox() as sandbox, SmtpSink() as sink:
        env = {**os.environ, "BENCH_SMTP2GO_KEY": sandbox.api_key}
        for setup in SETUPS:
            before_api, before_smtp = len(sandbox.messages()), sink.count
            command = [sys.executable, __file__, "--child", setup, "--records", str(args.records)]
            command += ["--drain", str(args.drain), "--base-url", sandbox.base_url, "--smtp-port", str(sink.port)]
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=1800)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            time.sleep(0.2)  # let the sink finish the last session
            sent = (len(sandbox.messages()) - before_api) + (sink.count - before_smtp)
            queued = int(result.get("queued", 0))
            if setup.startswith("queue"):
                dropped = f"{args.records - sent - queued:,} (silent)"
            else:
                dropped = f"{result.get('dropped', 0):,}"
            rows.append(
                (
                    LABELS[setup],
                    args.records / result["elapsed"],
                    result["peak_mib"],
                    result["peak_mib"] - result["baseline_mib"],
                    sent,
                    dropped,
                    f"{queued:,}",
                    f"{result['close_s']:.2f} s" if "close_s" in result else "-",
                )
            )
    print(f"{args.records:,} ERROR records from 5 call sites; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print()
    print("| setup | records/s | peak RSS MiB | RSS growth MiB | emails sent | dropped | left queued | close() |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for label, rate, peak, growth, sent, dropped, queued, close in rows:
        print(f"| {label} | {rate:,.0f} | {peak:.1f} | {growth:+.1f} | {sent:,} | {dropped} | {queued} | {close} |")


if __name__ == "__main__":
    main()
