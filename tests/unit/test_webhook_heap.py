"""The receiver's startup-heap freeze against the real garbage collector, in a child process.

A child, because freezing pytest's own heap would outlive the test.  The receiver's side (first
post only, the plugin's setting) is in ``tests/airflow/test_webhook_receiver.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import gc, json, sys
    from airflow_provider_smtp2go.webhooks.heap import StartupHeap

    setup = sys.argv[1]
    if setup == "disabled":
        gc.disable()
    elif setup == "frozen":
        gc.freeze()
    before = gc.get_freeze_count()
    startup = [[n] for n in range(50_000)]  # objects the collector tracks, as start-up makes
    heap = StartupHeap()
    first, second = heap.freeze_once(), heap.freeze_once()
    print(json.dumps({"before": before, "first": first, "second": second, "after": gc.get_freeze_count(),
                      "in_gen2": len(gc.get_objects(generation=2))}))
    """
)


def run_child(setup: str) -> dict[str, int | None]:
    done = subprocess.run([sys.executable, "-c", CHILD, setup], capture_output=True, text=True, check=True)
    result: dict[str, int | None] = json.loads(done.stdout)
    return result


def test_the_first_call_freezes_everything_alive_and_later_calls_do_nothing() -> None:
    result = run_child("plain")
    assert result["before"] == 0
    first, after = result["first"] or 0, result["after"] or 0
    assert first > 50_000  # the start-up lists and everything imported
    assert abs(after - first) < 100  # frozen objects stay frozen (reference counting may free a few)
    assert result["second"] is None
    assert (result["in_gen2"] or 0) < 1_000  # full collections now walk almost nothing


@pytest.mark.parametrize("setup", ["disabled", "frozen"])
def test_a_process_that_manages_its_collector_is_left_as_it_is(setup: str) -> None:
    result = run_child(setup)
    assert result["first"] is None and result["second"] is None
    assert result["after"] == result["before"]
