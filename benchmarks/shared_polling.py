"""Shared activity polling vs one call per sensor: ``/activity/search`` requests for N waiting triggers.

    python benchmarks/shared_polling.py [--triggers 200] [--poll-interval 1.0] [--open-after 4]

N emails go to ``u<i>+open-30s@example.com`` on one sandbox account. Then, in one asyncio
loop (as a triggerer runs them), N waits run until every email is opened:

* **shared** — N ``Smtp2goActivityTrigger`` instances (the real trigger, its connection from
  ``AIRFLOW_CONN_SMTP2GO_DEFAULT``); they share one poller for the account;
* **per-sensor** — the baseline: N loops that each call ``/activity/search`` for their own
  email every poll interval (what a trigger without sharing does).

After ``--open-after`` seconds the sandbox clock jumps 31 s, so the opens become visible.
Requests are counted by the sandbox (``sb.request_count("activity/search")``). The shared run
also checks its own promise: at most one request per chunk of ids per poll cycle, and no more
than the account's 60 requests/minute.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="smtp2go-bench-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from airflow_provider_smtp2go.activity_watch import WaitCondition, evaluate, shared_pollers
from airflow_provider_smtp2go.activity_watch.poller import account_key
from airflow_provider_smtp2go.client import Email, Smtp2goClient
from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
from airflow_provider_smtp2go.client.limits import ACTIVITY_REQUESTS_PER_MINUTE
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

CHUNK_SIZE = 100


def send_all(sb: Smtp2goSandbox, n: int) -> list[str]:
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        ids = []
        for i in range(n):
            email = Email(sender="ops@example.com", to=[f"u{i}+open-30s@example.com"], subject="Hi", text_body="x")
            ids.append(str(client.send(email).email_id))
        return ids


async def open_later(sb: Smtp2goSandbox, after: float) -> None:
    await asyncio.sleep(after)
    sb.clock.advance(31)


async def run_shared(sb: Smtp2goSandbox, ids: list[str], poll_interval: float, open_after: float) -> dict[str, Any]:
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    triggers = [Smtp2goActivityTrigger(email_ids=[i], event_types=["opened"], poll_interval=poll_interval) for i in ids]

    async def one(trigger: Smtp2goActivityTrigger) -> str:
        async for event in trigger.run():
            return str(event.payload["status"])
        return "no event"

    opener = asyncio.ensure_future(open_later(sb, open_after))
    tasks = [asyncio.ensure_future(one(t)) for t in triggers]
    account = account_key(sb.api_key, resolve_base_url(None, sb.base_url))
    for _ in range(500):  # the triggers first read their connection
        poller = shared_pollers.poller_for(account)
        if poller is not None and poller.watch_count == len(triggers):
            break
        await asyncio.sleep(0.01)
    else:
        raise SystemExit("the triggers did not share one poller")
    statuses = await asyncio.gather(*tasks)
    await opener
    return {"statuses": statuses, "per_cycle": list(poller.stats.requests_per_cycle), "cycles": poller.stats.cycles}


async def run_per_sensor(sb: Smtp2goSandbox, ids: list[str], poll_interval: float, open_after: float) -> dict[str, Any]:
    # One client for all: the baseline's cost is its requests, not its connection pools. No
    # client-side limiter either, or the baseline would take minutes instead of overspending.
    async with AsyncSmtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as client:

        async def one(email_id: str) -> str:
            condition = WaitCondition.create(email_ids=[email_id], event_types=["opened"])
            while True:
                await asyncio.sleep(poll_interval)
                page = await client.search_activity(search=[email_id], event_types=list(condition.watched_event_types))
                outcome = evaluate(condition, page.events)
                if outcome.done:
                    return outcome.status

        opener = asyncio.ensure_future(open_later(sb, open_after))
        statuses = await asyncio.gather(*(one(i) for i in ids))
        await opener
    return {"statuses": statuses}


def measure(mode: str, n: int, poll_interval: float, open_after: float) -> dict[str, Any]:
    with Smtp2goSandbox() as sb:
        conn = {"conn_type": "smtp2go", "password": sb.api_key, "extra": {"base_url": sb.base_url}}
        os.environ["AIRFLOW_CONN_SMTP2GO_DEFAULT"] = json.dumps(conn)
        ids = send_all(sb, n)
        started = time.monotonic()
        runner = run_shared if mode == "shared" else run_per_sensor
        result = asyncio.run(runner(sb, ids, poll_interval, open_after))
        elapsed = time.monotonic() - started
        result["requests"] = sb.request_count("activity/search")
        result["elapsed"] = elapsed
    if set(result["statuses"]) != {"satisfied"} and set(result["statuses"]) != {"success"}:
        raise SystemExit(f"{mode}: not every wait ended in success: {sorted(set(result['statuses']))}")
    return result


def main() -> None:
    logging.getLogger("airflow_provider_smtp2go").setLevel(logging.WARNING)
    logging.getLogger("airflow.task").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=200)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--open-after", type=float, default=4.0, help="wall seconds before the opens appear")
    args = parser.parse_args()
    n, interval = args.triggers, args.poll_interval
    chunks = math.ceil(n / CHUNK_SIZE)

    shared = measure("shared", n, interval, args.open_after)
    baseline = measure("per-sensor", n, interval, args.open_after)

    rows = [
        ("per-sensor (baseline)", baseline["requests"], baseline["elapsed"]),
        ("shared poller", shared["requests"], shared["elapsed"]),
    ]
    print(f"{n} waiting triggers, one account, poll interval {interval:g} s, opens visible after {args.open_after:g} s")
    print(f"{'mode':<24}{'activity/search calls':>22}{'calls/min':>12}{'wall s':>9}")
    for name, requests, elapsed in rows:
        print(f"{name:<24}{requests:>22}{requests / elapsed * 60:>12.0f}{elapsed:>9.1f}")
    ratio = baseline["requests"] / max(1, shared["requests"])
    rate_ratio = (baseline["requests"] / baseline["elapsed"]) / max(1e-9, shared["requests"] / shared["elapsed"])
    print(f"ratio: per-sensor makes {ratio:.0f}x the calls in total, {rate_ratio:.0f}x per minute")
    per_cycle = shared["per_cycle"]
    print(f"shared poller: {shared['cycles']} poll cycles, requests per cycle {per_cycle}, {chunks} chunk(s) of ids")
    ok_chunks = max(per_cycle) <= chunks and sum(per_cycle) == shared["requests"]
    rate = shared["requests"] / shared["elapsed"] * 60
    # 60/min is a sliding window: a run of a few seconds may hold one cycle's burst more than
    # its pro-rata share (6 calls in 5.8 s reads as 62/min), never more.
    within = shared["requests"] <= chunks + shared["elapsed"] * ACTIVITY_REQUESTS_PER_MINUTE / 60
    print(f"at most one call per chunk per poll cycle: {'yes' if ok_chunks else 'NO'}")
    print(f"within 60 calls/minute: {'yes' if within else 'NO'} ({rate:.0f}/min)")
    if not ok_chunks or not within:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
