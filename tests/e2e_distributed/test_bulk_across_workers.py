"""Scenario 1: a bulk send split over 8 mapped tasks on two Celery workers, one of which dies.

``dags/smtp2go_dist_bulk.py`` sends 2,000 rows as 8 parts of 250 (``partition_rows``), each
part capped at an eighth of the account's ``max_per_second``. Once the sandbox has a quarter of
the rows and ``worker1`` is running parts, the test SIGKILLs ``worker1`` and everything it
started (its machine lost power). Airflow notices the silent tasks after
``task_instance_heartbeat_timeout`` and retries them, on ``worker2`` (the only one left).

Asserted on what the sandbox counted: no email arrived twice, none is missing (or, where the
ledger was out of reach, a row the retry could not prove either way is reported ``unknown``
instead of being sent), the busiest 1-second window of arrivals stays within the account's
cap, and no activity call was answered 429. Three ledgers:

* ``state_store``: the task state store (metadata DB): the retry resumes where the dead try was;
* ``shared_ledger``: a ``file://`` directory both workers see, standing in for object storage;
* ``local_ledger``: the dead worker's own disk: the retry finds no ledger, so it looks every
  row up in the activity log before sending (``try_number > 1``) and sends only the missing ones.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from .conftest import WORKERS, DistributedStack, revive

ROWS = 2000
PARTS = 8
#: The account's hard limit, emails per second, as SMTP2GO would see it.
CAP = 120
#: One request in flight per part (the DAG's ``concurrency``).
CONCURRENCY = 1
#: What ``partition_rows`` divides (14/s per part): a part may send ``CONCURRENCY`` early within
#: a second, so the parts' sum plus that stays within the cap (see ``bulk/partition.py``).
BUDGET = CAP - PARTS * CONCURRENCY
VICTIM, SURVIVOR = WORKERS
KILL_AFTER = ROWS // 4


def busiest_second(times: list[float]) -> int:
    """The most arrivals in any half-open 1-second window."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def _report_rows(stack: DistributedStack, ledger: str, run_id: str) -> list[dict[str, Any]]:
    folder = Path(stack.shared_dir) / "reports" / ledger / run_id
    rows = []
    for path in sorted(folder.glob("part-*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def _victim_busy(stack: DistributedStack, dag_id: str, run_id: str) -> set[int]:
    """Map indexes the victim is running now, once the sandbox has a quarter of the rows."""
    if stack.run_state(dag_id, run_id) == "failed":
        raise AssertionError(f"the run failed before the kill\n{stack.diagnostics()}")
    if len(stack.sandbox.messages()) < KILL_AFTER:
        return set()
    running = {m for m, (state, _) in stack.task_states(dag_id, run_id, "send").items() if state == "running"}
    on_victim = {m for (m, attempt), (worker, _) in stack.task_logs(dag_id, run_id, "send").items() if worker == VICTIM}
    return running & on_victim


@pytest.mark.e2e
@pytest.mark.distributed
@pytest.mark.timeout(600)
@pytest.mark.parametrize("ledger", ["state_store", "shared_ledger", "local_ledger"])
def test_bulk_send_survives_a_dead_worker(dist_stack: DistributedStack, ledger: str) -> None:
    stack, sb = dist_stack, dist_stack.sandbox
    revive(stack)
    sb.reset()
    stack.activity.clear()
    dag_id, run_id = f"smtp2go_dist_bulk_{ledger}", f"dist_{ledger}_{int(time.time())}"
    stack.trigger(dag_id, run_id, {"tag": ledger, "rows": ROWS, "parts": PARTS, "max_per_second": BUDGET})
    started = time.monotonic()

    lost_parts = stack.wait_for(
        f"{VICTIM} to run parts while the sandbox has {KILL_AFTER} rows",
        lambda: _victim_busy(stack, dag_id, run_id),
        timeout=240,
    )
    stack.kill(VICTIM)
    at_kill = len(sb.messages())
    state = stack.wait_for_run(dag_id, run_id, timeout=420)
    elapsed = time.monotonic() - started

    messages = sb.messages()
    arrived = Counter(m.to[0] for m in messages)
    expected = {f"{ledger}.{i:04d}@example.com" for i in range(ROWS)}
    report = _report_rows(stack, ledger, run_id)
    unknown = {r["recipient"] for r in report if r["outcome"] == "unknown"}
    logs = stack.task_logs(dag_id, run_id, "send")
    tries = stack.task_states(dag_id, run_id, "send")
    retried = sorted(m for m, (_, try_number) in tries.items() if try_number > 1)
    rate = busiest_second([m.received_at.timestamp() for m in messages])
    searches = len(stack.activity.times("activity/search"))
    print(
        f"\nscenario 1 ({ledger}): run {state} in {elapsed:.0f} s; killed {VICTIM} at {at_kill} rows while it ran "
        f"parts {sorted(lost_parts)}; retried parts {retried}; {len(arrived)} of {ROWS} addresses arrived, "
        f"{len(sb.duplicates())} duplicates, {len(expected - set(arrived))} missing, {len(unknown)} reported unknown; "
        f"busiest second {rate} emails (cap {CAP}, budget {BUDGET}); {searches} activity calls, "
        f"{len(stack.activity.rejected)} answered 429"
    )

    # Nothing twice, ever; nothing lost unless the engine said it could not tell.
    assert sb.duplicates() == {}
    assert max(arrived.values()) == 1
    assert set(arrived) <= expected
    assert expected - set(arrived) <= unknown, sorted(expected - set(arrived) - unknown)[:5]
    # The account's cap held across eight parts on two workers.
    assert rate <= CAP, rate
    assert stack.activity.rejected == []
    # The lost parts were retried, on the survivor, from what the dead try left behind.
    assert set(lost_parts) <= set(retried)
    for part in lost_parts:
        last = tries[part][1]
        worker, text = logs[(part, last)]
        assert worker == SURVIVOR, (part, last, worker)
        if ledger == "local_ledger":
            assert "holds no ledger" in text, text[-3000:]
        else:
            assert "resuming from" in text, text[-3000:]
    if not unknown:
        assert state == "success", f"{tries}\n{stack.diagnostics()}"
        assert set(arrived) == expected
