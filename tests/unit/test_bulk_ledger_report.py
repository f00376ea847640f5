"""Durable progress (ledger stores and their damage checks), outcome rules, progress cadence,
the per-row report and the XCom summary."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.bulk import (
    DirectoryLedgerStore,
    KeyValueLedgerStore,
    Ledger,
    Outcome,
    OutcomeTransitionError,
    ProgressReporter,
    RowReport,
    Smtp2goLedgerError,
    summarize,
    write_report,
)
from airflow_provider_smtp2go.client import Smtp2goError


class DictKV:
    """The shape of Airflow's task_state_store accessor: get(key, default) / set(key, value)."""

    def __init__(self) -> None:
        self.data: dict[str, object] = {}

    def get(self, key: str, default: object = None) -> object:
        return json.loads(json.dumps(self.data[key])) if key in self.data else default

    def set(self, key: str, value: object) -> None:
        self.data[key] = json.loads(json.dumps(value))  # must be JSON, as the real store requires


@pytest.mark.parametrize("kind", ["directory", "kv"])
def test_ledger_survives_a_new_process_and_latest_record_wins(tmp_path, kind) -> None:  # type: ignore[no-untyped-def]
    kv = DictKV()

    def store():  # type: ignore[no-untyped-def]
        return DirectoryLedgerStore(tmp_path / "ledger") if kind == "directory" else KeyValueLedgerStore(kv)

    first = Ledger(store())
    first.mark_pending({"a": 0, "b": 1, "c": 2})
    first.record("a", Outcome.SENT, email_id="1abc")
    first.record("b", Outcome.AMBIGUOUS, reason="timeout")
    first.flush()
    first.record("c", Outcome.FAILED, reason="never flushed")  # lost in a crash: c stays pending

    again = Ledger(store()).load()
    assert again.get("a").outcome is Outcome.SENT and again.get("a").email_id == "1abc"  # type: ignore[union-attr]
    assert again.get("b").outcome is Outcome.AMBIGUOUS  # type: ignore[union-attr]
    c = again.get("c")
    assert c is not None and c.outcome is Outcome.PENDING and c.index == 2 and c.pending_since is not None
    # a second writer appends after the existing segments instead of overwriting them
    again.record("c", Outcome.SENT, email_id="1def")
    again.flush()
    third = Ledger(store()).load()
    assert third.get("c").outcome is Outcome.SENT and third.get("a").outcome is Outcome.SENT  # type: ignore[union-attr]
    assert third.get("b").pending_since == first.get("b").pending_since  # type: ignore[union-attr]


def test_directory_store_leaves_only_complete_segments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger(DirectoryLedgerStore(tmp_path))
    for i in range(3):
        ledger.mark_pending({f"k{i}": i})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "head.json",
        "segment-00000001.json",
        "segment-00000002.json",
        "segment-00000003.json",
    ]
    assert ledger.segments_written == 3
    ledger.flush()  # nothing buffered: no empty segment
    assert ledger.segments_written == 3


def test_kv_store_uses_one_key_per_segment() -> None:
    kv = DictKV()
    ledger = Ledger(KeyValueLedgerStore(kv, prefix="p"))
    ledger.mark_pending({"x": 0, "y": 1})
    ledger.record("x", Outcome.SENT, email_id="e")
    ledger.flush()
    assert sorted(kv.data) == ["p/1", "p/2", "p/head"]
    assert [r["s"] for r in kv.data["p/1"]["records"]] == ["pending", "pending"]  # type: ignore[index]
    assert kv.data["p/head"]["seq"] == 2 and kv.data["p/head"]["count"] == 3  # type: ignore[index]


# Damage: anything short of the whole ledger is refused, naming the store and the item.


def _written(store: Any, segments: int = 4) -> Ledger:
    ledger = Ledger(store).load()
    ledger.begin()
    for i in range(segments):
        ledger.mark_pending({f"k{i}": i})
    return ledger


def _dir_damage(name: str) -> Callable[[Path], None]:
    def segment(n: int) -> Path:
        return Path(f"segment-{n:08d}.json")

    actions: dict[str, Callable[[Path], None]] = {
        "middle segment deleted": lambda d: (d / segment(2)).unlink(),
        "newest segment deleted": lambda d: (d / segment(4)).unlink(),
        "every segment deleted": lambda d: [p.unlink() for p in d.glob("segment-*")] and None,
        "segments emptied to []": lambda d: [p.write_text("[]") for p in d.glob("segment-*")] and None,
        "segment truncated": lambda d: (d / segment(3)).write_bytes((d / segment(3)).read_bytes()[:25]),
        "segment garbage": lambda d: (d / segment(3)).write_bytes(b"\xff\xfe\x00garbage"),
        "segment a JSON number": lambda d: (d / segment(3)).write_text("7"),
        "record edited": lambda d: (d / segment(2)).write_text((d / segment(2)).read_text().replace("k1", "kX")),
        "segments swapped": lambda d: _swap(d / segment(2), d / segment(3)),
        "head deleted": lambda d: (d / "head.json").unlink(),
        "head garbage": lambda d: (d / "head.json").write_text('{"seq": "x"'),
    }
    return actions[name]


def _swap(a: Path, b: Path) -> None:
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)


@pytest.mark.parametrize(
    "damage",
    [
        "middle segment deleted",
        "newest segment deleted",
        "every segment deleted",
        "segments emptied to []",
        "segment truncated",
        "segment garbage",
        "segment a JSON number",
        "record edited",
        "segments swapped",
        "head deleted",
        "head garbage",
    ],
)
def test_directory_ledger_refuses_any_damage_naming_the_store_and_the_file(tmp_path: Path, damage: str) -> None:
    _written(DirectoryLedgerStore(tmp_path))
    _dir_damage(damage)(tmp_path)
    with pytest.raises(Smtp2goLedgerError) as info:
        Ledger(DirectoryLedgerStore(tmp_path)).load()
    error = info.value
    assert isinstance(error, Smtp2goError)
    assert error.store == f"ledger directory {tmp_path}" and error.store in str(error)
    assert error.item.startswith(str(tmp_path)) and error.item in str(error)
    assert "Nothing was sent" in str(error)


def test_every_damaged_item_is_the_one_named(tmp_path: Path) -> None:
    _written(DirectoryLedgerStore(tmp_path))
    (tmp_path / "segment-00000002.json").unlink()
    with pytest.raises(Smtp2goLedgerError, match=r"segment-00000002\.json: is missing"):
        Ledger(DirectoryLedgerStore(tmp_path)).load()


@pytest.mark.parametrize("damage", ["middle key deleted", "newest key deleted", "emptied", "head deleted", "edited"])
def test_task_state_store_ledger_refuses_gaps_and_damage(damage: str) -> None:
    kv = DictKV()
    _written(KeyValueLedgerStore(kv, prefix="p"))
    if damage == "middle key deleted":
        del kv.data["p/2"]
    elif damage == "newest key deleted":
        del kv.data["p/4"]
    elif damage == "emptied":
        kv.data["p/3"] = []
    elif damage == "head deleted":
        del kv.data["p/head"]
    else:
        kv.data["p/1"]["records"][0]["s"] = "retryable"  # type: ignore[index]
    with pytest.raises(Smtp2goLedgerError) as info:
        Ledger(KeyValueLedgerStore(kv, prefix="p")).load()
    assert info.value.store == "task state store keys p/*" and "key p/" in info.value.item


def test_a_started_run_and_a_crash_before_the_head_update_are_not_damage(tmp_path: Path) -> None:
    fresh = Ledger(DirectoryLedgerStore(tmp_path / "l")).load()
    assert not fresh.found
    fresh.begin()  # written before anything is sent: the store now records that a run started
    assert sorted(p.name for p in (tmp_path / "l").iterdir()) == ["head.json"]
    again = Ledger(DirectoryLedgerStore(tmp_path / "l"), attempt=2).load()
    assert again.found and again.last_attempt == 1 and len(again) == 0

    ledger = _written(DirectoryLedgerStore(tmp_path / "m"), segments=2)
    head = (tmp_path / "m" / "head.json").read_bytes()
    ledger.mark_pending({"k9": 9})  # segment 3 written; the crash comes before the new head
    (tmp_path / "m" / "head.json").write_bytes(head)
    resumed = Ledger(DirectoryLedgerStore(tmp_path / "m")).load()
    assert resumed.get("k9") is not None and len(resumed) == 3
    resumed.mark_pending({"k10": 10})  # the chain continues after the unheaded segment
    assert len(Ledger(DirectoryLedgerStore(tmp_path / "m")).load()) == 4


def test_a_sent_row_can_never_become_pending_again(tmp_path: Path) -> None:
    ledger = Ledger(DirectoryLedgerStore(tmp_path)).load()
    ledger.mark_pending({"a": 0})
    ledger.record("a", Outcome.SENT, email_id="1")
    with pytest.raises(OutcomeTransitionError, match="from sent to pending"):
        ledger.mark_pending({"a": 0})
    with pytest.raises(OutcomeTransitionError, match="from no record to sent"):
        ledger.record("b", Outcome.SENT)  # nothing is "sent" without having been pending first


def test_progress_logs_at_a_steady_cadence_with_rate_and_eta(caplog) -> None:  # type: ignore[no-untyped-def]
    now = [0.0]
    progress = ProgressReporter(1000, interval=5, clock=lambda: now[0], logger=logging.getLogger("t.bulk"))
    caplog.set_level(logging.INFO, logger="t.bulk")
    lines = 0
    for step in range(1, 101):  # 100 ticks, 0.5 s apart, 5 rows each
        now[0] = step * 0.5
        progress.add(sent=4, failed=1)
        lines += progress.tick()
    assert lines == 10  # one line per 5 s, not one per tick
    last = caplog.records[-1].getMessage()
    assert "500/1000 done (sent 400, failed 100, ambiguous 0), 500 remaining, 10.0 emails/s, ETA 50s" in last


def _records() -> list[RowReport]:
    return [
        RowReport(2, "k2", "c@example.com", Outcome.FAILED, reason='rejected, "quoted"', attempts=1),
        RowReport(0, "k0", "a@example.com", Outcome.SENT, email_id="1a", attempts=1),
        RowReport(1, "k1", "b@example.com", Outcome.ALREADY_SENT, email_id="1b"),
        RowReport(3, None, None, Outcome.INVALID, reason="row 3: to[0] (address): bad"),
    ]


def test_report_csv_and_jsonl_in_input_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = write_report(_records(), tmp_path / "out" / "report.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "report.csv").read_text())))
    assert where.endswith("report.csv")
    assert [r["index"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[2]["reason"] == 'rejected, "quoted"' and rows[3]["idempotency_key"] == ""
    assert [r["outcome"] for r in rows] == ["sent", "already_sent", "failed", "invalid"]
    write_report(_records(), str(tmp_path / "report.jsonl"))
    lines = [json.loads(x) for x in (tmp_path / "report.jsonl").read_text().splitlines()]
    assert lines[0] == {
        "index": 0,
        "idempotency_key": "k0",
        "recipient": "a@example.com",
        "outcome": "sent",
        "email_id": "1a",
        "reason": None,
        "attempts": 1,
        "schedule_id": None,
    }
    with pytest.raises(ValueError, match="report format"):
        write_report(_records(), tmp_path / "report.xlsx")


def test_summary_is_compact_and_lists_failures_without_addresses() -> None:
    records = [RowReport(i, f"k{i}", f"u{i}@example.com", Outcome.FAILED, reason="x" * 1000) for i in range(50)]
    records += [RowReport(50 + i, f"s{i}", f"s{i}@example.com", Outcome.SENT, email_id=f"e{i}") for i in range(5000)]
    summary = summarize(records, total_rows=5050, report_location="/tmp/r.csv", max_listed=20)
    assert summary["counts"] == {
        "sent": 5000,
        "already_sent": 0,
        "failed": 50,
        "retryable": 0,
        "unknown": 0,
        "invalid": 0,
        "suppressed": 0,
    }
    assert len(summary["failures"]) == 20 and summary["failures_truncated"] == 30
    assert summary["failures"][0]["index"] == 0 and len(summary["failures"][0]["reason"]) == 300
    text = json.dumps(summary)
    assert "@example.com" not in text and len(text) < 10_000


def test_a_report_never_ends_on_an_unsettled_outcome() -> None:
    for unsettled in (Outcome.PENDING, Outcome.AMBIGUOUS):
        with pytest.raises(ValueError, match="cannot end on"):
            RowReport(0, "k", "a@example.com", unsettled)
