"""Durable progress (ledger stores), progress cadence, the per-row report and the XCom summary."""

from __future__ import annotations

import csv
import io
import json
import logging

import pytest

from airflow_provider_smtp2go.bulk import (
    DirectoryLedgerStore,
    KeyValueLedgerStore,
    Ledger,
    ProgressReporter,
    RowReport,
    RowState,
    summarize,
    write_report,
)


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
    first.record("a", RowState.SENT, email_id="1abc")
    first.record("b", RowState.AMBIGUOUS, reason="timeout")
    first.flush()
    first.record("c", RowState.FAILED, reason="never flushed")  # lost in a crash: c stays pending

    again = Ledger(store()).load()
    assert again.get("a").state is RowState.SENT and again.get("a").email_id == "1abc"  # type: ignore[union-attr]
    assert again.get("b").state is RowState.AMBIGUOUS  # type: ignore[union-attr]
    c = again.get("c")
    assert c is not None and c.state is RowState.PENDING and c.index == 2 and c.pending_since is not None
    # a second writer appends after the existing segments instead of overwriting them
    again.record("c", RowState.SENT, email_id="1def")
    again.flush()
    third = Ledger(store()).load()
    assert third.get("c").state is RowState.SENT and third.get("a").state is RowState.SENT  # type: ignore[union-attr]
    assert third.get("b").pending_since == first.get("b").pending_since  # type: ignore[union-attr]


def test_directory_store_leaves_only_complete_segments(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = Ledger(DirectoryLedgerStore(tmp_path))
    for i in range(3):
        ledger.mark_pending({f"k{i}": i})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
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
    ledger.record("x", RowState.SENT, email_id="e")
    ledger.flush()
    assert sorted(kv.data) == ["p/0", "p/1"]
    assert [r["s"] for r in kv.data["p/0"]] == ["pending", "pending"]  # type: ignore[index]


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
        RowReport(2, "k2", "c@example.com", "failed", reason='rejected, "quoted"', attempts=1),
        RowReport(0, "k0", "a@example.com", "sent", email_id="1a", attempts=1),
        RowReport(1, "k1", "b@example.com", "already_sent", email_id="1b"),
        RowReport(3, None, None, "invalid", reason="row 3: to[0] (address): bad"),
    ]


def test_report_csv_and_jsonl_in_input_order(tmp_path) -> None:  # type: ignore[no-untyped-def]
    where = write_report(_records(), tmp_path / "out" / "report.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out" / "report.csv").read_text())))
    assert where.endswith("report.csv")
    assert [r["index"] for r in rows] == ["0", "1", "2", "3"]
    assert rows[2]["reason"] == 'rejected, "quoted"' and rows[3]["idempotency_key"] == ""
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
    }
    with pytest.raises(ValueError, match="report format"):
        write_report(_records(), tmp_path / "report.xlsx")


def test_summary_is_compact_and_lists_failures_without_addresses() -> None:
    records = [RowReport(i, f"k{i}", f"u{i}@example.com", "failed", reason="x" * 1000) for i in range(50)]
    records += [RowReport(50 + i, f"s{i}", f"s{i}@example.com", "sent", email_id=f"e{i}") for i in range(5000)]
    summary = summarize(records, total_rows=5050, report_location="/tmp/r.csv", max_listed=20)
    assert summary["counts"] == {
        "sent": 5000,
        "already_sent": 0,
        "failed": 50,
        "retryable": 0,
        "unknown": 0,
        "invalid": 0,
    }
    assert len(summary["failures"]) == 20 and summary["failures_truncated"] == 30
    assert summary["failures"][0]["index"] == 0 and len(summary["failures"][0]["reason"]) == 300
    text = json.dumps(summary)
    assert "@example.com" not in text and len(text) < 10_000
