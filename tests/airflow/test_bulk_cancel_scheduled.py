"""A bulk send that scheduled its rows is called off from its XCom, with no glue (issue 13, part 1)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.bulk.outcome import Outcome
from airflow_provider_smtp2go.bulk.report import SCHEDULE_IDS_IN_SUMMARY, RowReport, summarize, write_report
from airflow_provider_smtp2go.operators.scheduled import Smtp2goCancelScheduledOperator

DAG_FILE = Path(__file__).parent / "dags" / "smtp2go_test_bulk_cancel_scheduled.py"


def test_a_scheduled_bulk_send_is_cancelled_from_its_xcom(run_dag: Any, smtp2go_conn: Any) -> None:
    sb = smtp2go_conn.sandbox
    sb.suppress("blocked@example.com")  # makes the "partial" bulk task fail after scheduling two rows
    result = run_dag(DAG_FILE)
    assert result.task_states == {
        "campaign": "success",
        "call_off": "success",
        "partial": "failed",
        "call_off_partial": "success",
    }, result
    summary = result.xcom["campaign"]
    assert summary["scheduled"] == 5 and summary["schedule_ids_complete"] is True
    assert sorted(result.xcom["call_off"]["cancelled"]) == sorted(summary["schedule_ids"])
    assert len(result.xcom["call_off_partial"]["cancelled"]) == 2
    # The refused row arrived too (suppressed: nobody to deliver to); the 7 others were cancelled.
    scheduled = [m for m in sb.messages() if m.schedule_id and not m.failed_recipients]
    assert len(scheduled) == 7 and all(m.cancelled for m in scheduled)
    assert [m for m in sb.state.scheduled(sb.clock.now()) if not m.failed_recipients] == []
    past_the_schedule = timedelta(hours=3).total_seconds()
    sb.clock.advance(past_the_schedule)  # nothing goes out
    try:
        assert [e for m in sb.messages() for e in sb.events(m.email_id) if e["event"] == "delivered"] == []
    finally:
        sb.clock.advance(-past_the_schedule)  # the session's sandbox keeps its clock across tests


def test_a_big_run_is_cancelled_from_its_report(smtp2go_conn: Any, tmp_path: Path) -> None:
    sb = smtp2go_conn.sandbox
    count = SCHEDULE_IDS_IN_SUMMARY + 1
    records = [RowReport(i, None, None, Outcome.SENT, schedule_id=f"sched-{i}") for i in range(count)]
    report = write_report(records, tmp_path / "report.jsonl")
    summary = summarize(records, total_rows=count, report_location=report)
    assert summary["schedule_ids_complete"] is False and len(summary["schedule_ids"]) == SCHEDULE_IDS_IN_SUMMARY
    op = Smtp2goCancelScheduledOperator(task_id="call_off", schedule_ids=summary)
    ids = op.collect_ids({})  # type: ignore[arg-type]
    assert ids == [f"sched-{i}" for i in range(count)]
    assert sb.request_count("email/scheduled/remove") == 0


def test_a_cut_summary_without_a_report_cancels_nothing_and_says_why(smtp2go_conn: Any) -> None:
    from airflow_provider_smtp2go._compat import AirflowFailException

    summary = {"scheduled": 1500, "schedule_ids": ["s1"], "schedule_ids_complete": False, "report": None}
    op = Smtp2goCancelScheduledOperator(task_id="call_off", schedule_ids=summary)
    with pytest.raises(AirflowFailException, match="report_path"):
        op.execute({})  # type: ignore[arg-type]
    assert smtp2go_conn.sandbox.request_count("email/scheduled/remove") == 0
