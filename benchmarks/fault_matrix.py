"""The fault matrix: every hostile server behaviour against every kind of work, with its bound.

For each sandbox fault and each operation (a send, a read, the same read on the async client,
a bulk job, the logging handler) this runs the operation against a fresh sandbox and prints
what came of it, the wall time against the promised bound, and what the sandbox counted:
emails that arrived twice (``dup``) and emails reported sent that never arrived, or rows
neither delivered nor reported (``lost``).

Usage::

    python benchmarks/fault_matrix.py                 # deadline 3 s, 40 bulk rows
    python benchmarks/fault_matrix.py --deadline 5 --rows 200 --only trickle hang

Bounds: a client call ends within ``deadline + 1 s``; ``close()`` of the logging handler within
``flush_timeout`` plus one HTTP ``timeout``; a bulk job has no overall bound (each row has the
deadline), so its wall time is shown without one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_smtp2go.bulk import DirectoryLedgerStore, MessageTemplate, run_bulk_send
from airflow_provider_smtp2go.client import AsyncSmtp2goClient, Email, RetryPolicy, Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
from logging_handler import Smtp2goHandler

SENDER = "matrix@example.com"
TIMEOUT = (2.0, 2.0)

# name -> inject_fault() keywords; "rate": 1.0 makes the fault hit every attempt (the worst case).
FAULTS: dict[str, dict[str, Any]] = {
    "none": {},
    "trickle": {"kind": "trickle", "bytes_per_second": 2, "rate": 1.0},
    "hang": {"kind": "hang", "rate": 1.0},
    "429 Retry-After 1e308": {"status": 429, "retry_after": "1e308", "rate": 1.0},
    "429 Retry-After inf": {"status": 429, "retry_after": "inf", "rate": 1.0},
    "429 Retry-After 600": {"status": 429, "retry_after": 600, "rate": 1.0},
    "503 x2": {"status": 503, "count": 2},
    "500": {"status": 500, "count": 1},
    "drop_after": {"kind": "drop_after", "count": 1},
    "malformed": {"kind": "malformed", "count": 1},
}
# Bulk sees each fault on a share of its requests, not all of them: a job of hung requests only
# shows that each row waits its deadline.
BULK_RATE = 0.2


@dataclass
class Cell:
    outcome: str
    seconds: float
    bound: float | None
    dup: int
    lost: int


def _outcome(exc: BaseException | None) -> str:
    return "ok" if exc is None else type(exc).__name__


def _email(i: int) -> Email:
    return Email(sender=SENDER, to=f"m{i}@example.com", subject=f"Matrix {i}", text_body="hello")


def op_send(sb: Smtp2goSandbox, deadline: float) -> Cell:
    policy = RetryPolicy(max_attempts=3, deadline=deadline, backoff_base=0.05, backoff_max=0.2)
    started, error = time.monotonic(), None
    with Smtp2goClient(sb.api_key, base_url=sb.base_url, timeout=TIMEOUT, retry=policy) as client:
        try:
            client.send(_email(0))
        except Exception as exc:
            error = exc
    seconds = time.monotonic() - started
    arrived = len(sb.messages())
    return Cell(_outcome(error), seconds, deadline + 1, len(sb.duplicates()), int(error is None and not arrived))


def op_read(sb: Smtp2goSandbox, deadline: float) -> Cell:
    policy = RetryPolicy(max_attempts=3, deadline=deadline, backoff_base=0.05, backoff_max=0.2)
    started, error = time.monotonic(), None
    with Smtp2goClient(sb.api_key, base_url=sb.base_url, timeout=TIMEOUT, retry=policy) as client:
        try:
            client.search_activity(search_email_id="none")
        except Exception as exc:
            error = exc
    return Cell(_outcome(error), time.monotonic() - started, deadline + 1, 0, 0)


def op_async_read(sb: Smtp2goSandbox, deadline: float) -> Cell:
    policy = RetryPolicy(max_attempts=3, deadline=deadline, backoff_base=0.05, backoff_max=0.2)

    async def run() -> BaseException | None:
        async with AsyncSmtp2goClient(sb.api_key, base_url=sb.base_url, timeout=TIMEOUT, retry=policy) as client:
            try:
                await client.search_activity(search_email_id="none")
            except Exception as exc:
                return exc
        return None

    started = time.monotonic()
    error = asyncio.run(run())
    return Cell(_outcome(error), time.monotonic() - started, deadline + 1, 0, 0)


def op_bulk(sb: Smtp2goSandbox, deadline: float, rows: int) -> Cell:
    policy = RetryPolicy(max_attempts=3, deadline=deadline, backoff_base=0.05, backoff_max=0.2)
    template = MessageTemplate(sender=SENDER, to="{{ email }}", subject="Row {{ n }}", text_body="hello")
    data = [{"email": f"row{i}@example.com", "n": i} for i in range(rows)]
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory() as ledger,
        Smtp2goClient(
            sb.api_key,
            base_url=sb.base_url,
            timeout=TIMEOUT,
            retry=RetryPolicy.no_retries(deadline=deadline),  # each request's own wall-clock bound
            pool_maxsize=4,
        ) as client,
    ):
        try:
            result = run_bulk_send(
                client,
                data,
                template,
                namespace="matrix",
                ledger_store=DirectoryLedgerStore(ledger),
                concurrency=4,
                retry=policy,
                reconcile_settle_seconds=0.5,
                progress_interval=3600,
            )
        except Exception as exc:
            return Cell(_outcome(exc), time.monotonic() - started, None, len(sb.duplicates()), -1)
    seconds = time.monotonic() - started
    counts = result.counts
    delivered = {m.to[0] for m in sb.messages()}
    reported_sent = counts.get("sent", 0)
    # Lost: reported sent but absent, plus rows that are in no bucket at all.
    lost = max(0, reported_sent - len(delivered)) + max(0, rows - sum(counts.values()))
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
    return Cell(summary, seconds, None, len(sb.duplicates()), lost)


def op_handler(sb: Smtp2goSandbox, deadline: float) -> Cell:
    flush_timeout = 2.0
    handler = Smtp2goHandler(
        api_key=sb.api_key,
        base_url=sb.base_url,
        recipients="ops@example.com",
        sender=SENDER,
        timeout=TIMEOUT[1],
        flush_timeout=flush_timeout,
        retry_deadline=deadline,
    )
    logger = logging.getLogger(f"matrix.{id(sb)}")
    logger.propagate = False
    logger.addHandler(handler)
    started = time.monotonic()
    logger.error("the matrix alert")
    handler.close()
    seconds = time.monotonic() - started
    logger.removeHandler(handler)
    arrived = len(sb.messages())
    stats = handler.stats
    # Not delivered is not lost when the handler said so: undeliverable alerts are reported on
    # stderr at close, pending ones were still being retried when flush_timeout ran out.
    outcome = "delivered" if arrived else f"pending {stats['pending']}, undeliverable {stats['undeliverable']}"
    return Cell(outcome, seconds, flush_timeout + TIMEOUT[1], len(sb.duplicates()), 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deadline", type=float, default=3.0)
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--only", nargs="*", help="fault names (prefixes) to run")
    args = parser.parse_args()
    logging.getLogger("airflow_provider_smtp2go").setLevel(logging.CRITICAL)
    ops: dict[str, Callable[[Smtp2goSandbox], Cell]] = {
        "send": lambda sb: op_send(sb, args.deadline),
        "read": lambda sb: op_read(sb, args.deadline),
        "async read": lambda sb: op_async_read(sb, args.deadline),
        "bulk": lambda sb: op_bulk(sb, args.deadline, args.rows),
        "handler": lambda sb: op_handler(sb, args.deadline),
    }
    print(f"deadline {args.deadline:g} s, timeout {TIMEOUT}, bulk {args.rows} rows with faults on {BULK_RATE:.0%}")
    print(f"{'fault':<24} {'operation':<11} {'outcome':<44} {'wall s':>7} {'bound s':>8} {'dup':>4} {'lost':>5}")
    broken = 0
    for name, fault in FAULTS.items():
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        for op_name, op in ops.items():
            with Smtp2goSandbox() as sb:
                if fault:
                    spec = dict(fault)
                    path = "email/send" if op_name in ("send", "bulk", "handler") else "activity/search"
                    if op_name == "bulk" and "rate" in spec:
                        spec["rate"] = BULK_RATE
                    sb.inject_fault(path, **spec)
                cell = op(sb)
            within = cell.bound is None or cell.seconds <= cell.bound
            broken += (not within) + (cell.dup > 0) + (cell.lost > 0)
            bound = f"{cell.bound:.1f}" if cell.bound is not None else "-"
            flag = "" if within else "  OVER"
            print(
                f"{name:<24} {op_name:<11} {cell.outcome[:44]:<44} {cell.seconds:7.2f} {bound:>8} "
                f"{cell.dup:4d} {cell.lost:5d}{flag}"
            )
    print(f"\n{broken} broken promises (over the bound, duplicates or lost)")


if __name__ == "__main__":
    main()
