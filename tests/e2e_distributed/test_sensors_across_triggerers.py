"""Scenarios 2 and 3: deferred sensors on two triggerers, within the account's activity budget; one triggerer dies.

``dags/smtp2go_dist_wait_for_opens.py`` sends N emails from one task and waits for each to be
opened with a mapped, deferrable ``Smtp2goActivitySensor`` (poll interval 5 s) that defers
without a worker poke (why: see the DAG). The recipients open 600 s (sandbox time) after
delivery, so every sensor waits in a triggerer until the test advances the sandbox clock.

The sandbox enforces SMTP2GO's 60 ``/activity/search`` calls a minute per account. Each
triggerer gets README's share, ``[smtp2go] activity_requests_per_minute = 60 / 2``.

2. 100 sensors spread over both triggerers: while they wait, each triggerer makes one search
   per interval per chunk of 100 ids (so at most chunks x triggerers per interval), no call is
   answered 429, and every sensor completes with its email's full ``opened`` event. Resuming
   costs no call (the trigger event carries the full events, sealed with the shared Fernet
   key), so no call is answered 429 after the opens either.
3. With 30 sensors deferred, the triggerer holding more of them is SIGKILLed; the other claims
   its triggers after ``triggerer_health_check_threshold`` and every sensor completes with the
   right event.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from .conftest import TRIGGERER_HEALTH_THRESHOLD, TRIGGERERS, DistributedStack, revive

DAG_ID = "smtp2go_dist_wait_for_opens"
POLL_INTERVAL = 5.0  # the DAG's poke_interval
CHUNK = 100  # email ids per search (the sensor's default chunk_size)
OPEN_DELAY = 600
HOLD_INTERVALS = 4


def _deferred(stack: DistributedStack, run_id: str) -> dict[int, int | None]:
    """``map_index -> triggerer job id`` of this run's deferred sensors (None: not claimed yet)."""
    if stack.run_state(DAG_ID, run_id) == "failed":
        raise AssertionError(f"the run failed\n{stack.diagnostics()}")
    rows = stack.query(
        'SELECT ti.map_index, t.triggerer_id FROM task_instance ti JOIN "trigger" t ON ti.trigger_id = t.id '
        "WHERE ti.dag_id = %s AND ti.run_id = %s AND ti.task_id = 'wait_opened' AND ti.state = 'deferred'",
        (DAG_ID, run_id),
    )
    return {int(m): (None if t is None else int(t)) for m, t in rows}


def _all_claimed(stack: DistributedStack, run_id: str, count: int, by: set[int] | None = None) -> dict[int, int]:
    held = _deferred(stack, run_id)
    if len(held) != count or any(t is None for t in held.values()):
        return {}
    if by is not None and not set(held.values()) <= by:
        return {}
    return {m: int(t) for m, t in held.items() if t is not None}


def most_in_any_window(times: list[float], width: float) -> int:
    """The most of ``times`` in any half-open window of ``width`` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def _xcom(stack: DistributedStack, run_id: str, task_id: str) -> dict[int, Any]:
    rows = stack.query(
        "SELECT map_index, value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = 'return_value'",
        (DAG_ID, run_id, task_id),
    )
    return {int(m): v for m, v in rows}


def _start_run(stack: DistributedStack, emails: int, tag: str) -> tuple[str, list[str]]:
    revive(stack)
    stack.sandbox.reset()
    stack.activity.clear()
    run_id = f"dist_{tag}_{int(time.time())}"
    stack.trigger(DAG_ID, run_id, {"emails": emails, "tag": tag})
    ids = stack.wait_for("the emails to be sent", lambda: _xcom(stack, run_id, "send_all").get(-1), timeout=180)
    assert len(ids) == emails
    return run_id, list(ids)


def _finish_and_check(stack: DistributedStack, run_id: str, ids: list[str]) -> float:
    """Bring the opens forward; every sensor must succeed with its own email's ``opened`` event.

    Returns when the opens became visible (the sensors' resumption starts then).
    """
    opened_at = time.time()
    stack.sandbox.clock.advance(OPEN_DELAY + 1)
    state = stack.wait_for_run(DAG_ID, run_id, timeout=300)
    states = Counter(s for s, _ in stack.task_states(DAG_ID, run_id, "wait_opened").values())
    assert state == "success", f"{states}\n{stack.diagnostics()}"
    assert states == {"success": len(ids)}
    results = _xcom(stack, run_id, "wait_opened")
    assert sorted(results) == list(range(len(ids)))
    for map_index, result in results.items():
        assert result["status"] == "success", result
        assert result["email_ids"] == [ids[map_index]], (map_index, result)
        assert [e["event"] for e in result["events"]] == ["opened"], result
        assert result["events"][0]["email_id"] == ids[map_index]
    assert stack.sandbox.duplicates() == {}
    return opened_at


@pytest.mark.e2e
@pytest.mark.distributed
@pytest.mark.timeout(600)
def test_sensors_across_two_triggerers_stay_within_the_budget(dist_stack: DistributedStack) -> None:
    stack, emails, tag = dist_stack, 100, "s2-"
    run_id, ids = _start_run(stack, emails, tag)
    triggered = time.time()
    held = stack.wait_for(
        f"all {emails} sensors to be deferred and claimed",
        lambda: _all_claimed(stack, run_id, emails),
        timeout=400,
        interval=1.0,
    )
    deferred_at = time.time()
    per_triggerer = Counter(held.values())
    jobs = stack.triggerer_job_ids()
    # Both hold sensors (each may hold at most TRIGGERER_CAPACITY).
    assert set(per_triggerer) == set(jobs.values()), (per_triggerer, jobs)

    time.sleep(HOLD_INTERVALS * POLL_INTERVAL)
    hold_end = time.time()
    assert len(_deferred(stack, run_id)) == emails, "a sensor stopped waiting before anything was opened"
    during_hold = stack.activity.times("activity/search", deferred_at, hold_end)
    pokes = stack.activity.times("activity/search", triggered, deferred_at)
    opened_at = _finish_and_check(stack, run_id, ids)

    chunks = {job: -(-n // CHUNK) for job, n in per_triggerer.items()}
    per_interval = most_in_any_window(during_hold, POLL_INTERVAL)
    waiting_minute = most_in_any_window(stack.activity.times("activity/search", triggered, opened_at), 60.0)
    rejected_waiting = [t for t in stack.activity.rejected if t < opened_at]
    resume_calls = stack.activity.times("activity/search", opened_at)
    rejected_resuming = [t for t in stack.activity.rejected if t >= opened_at]
    print(
        f"\nscenario 2: {emails} sensors held {dict(per_triggerer)} by triggerer job; {len(pokes)} calls while they "
        f"deferred ({deferred_at - triggered:.0f} s), {len(during_hold)} calls in {hold_end - deferred_at:.0f} s of "
        f"waiting (at most {per_interval} in any {POLL_INTERVAL:.0f} s), busiest minute before the opens "
        f"{waiting_minute} calls, {len(rejected_waiting)} answered 429; after the opens {len(resume_calls)} calls "
        f"(busiest minute {most_in_any_window(resume_calls, 60.0)}), {len(rejected_resuming)} answered 429"
    )
    # What README's 60 / N split governs: the triggerers' shared polls.
    assert rejected_waiting == []
    assert per_interval <= sum(chunks.values()), (per_interval, chunks)
    assert len(during_hold) <= sum(chunks.values()) * ((hold_end - deferred_at) / POLL_INTERVAL + 1)
    assert waiting_minute <= 60
    # Resuming costs nothing: before issue 15 each resumed sensor read its full events again
    # from its worker, outside every share, and 100 resuming together got 429s.
    assert rejected_resuming == [], f"{len(rejected_resuming)} of {len(resume_calls)} calls after the opens got 429"
    polling_after = max(resume_calls, default=opened_at) - opened_at
    assert len(resume_calls) <= sum(chunks.values()) * (polling_after / POLL_INTERVAL + 1)


@pytest.mark.e2e
@pytest.mark.distributed
@pytest.mark.timeout(600)
def test_a_dead_triggerers_sensors_complete_on_the_other(dist_stack: DistributedStack) -> None:
    stack, emails, tag = dist_stack, 30, "s3-"
    run_id, ids = _start_run(stack, emails, tag)
    jobs = stack.triggerer_job_ids()
    held = stack.wait_for(
        f"all {emails} sensors to be deferred and claimed",
        lambda: _all_claimed(stack, run_id, emails),
        timeout=300,
        interval=1.0,
    )
    # Kill the one holding more of them (they may all have landed on one).
    per_job = Counter(held.values())
    victim = max(TRIGGERERS, key=lambda name: per_job.get(jobs[name], 0))
    survivor = next(name for name in TRIGGERERS if name != victim)
    lost = sorted(m for m, job in held.items() if job == jobs[victim])

    killed_at = stack.kill(victim)
    taken_over = stack.wait_for(
        f"{survivor} to claim {victim}'s triggers",
        lambda: _all_claimed(stack, run_id, emails, by={jobs[survivor]}),
        timeout=TRIGGERER_HEALTH_THRESHOLD + 90,
        interval=1.0,
    )
    takeover = time.time() - killed_at
    _finish_and_check(stack, run_id, ids)
    print(
        f"\nscenario 3: killed {victim} holding {len(lost)} of {emails} sensors; {survivor} held all "
        f"{len(taken_over)} {takeover:.0f} s later; every sensor succeeded with its own 'opened' event; "
        f"{len(stack.activity.rejected)} answered 429"
    )
    assert stack.activity.rejected == []
