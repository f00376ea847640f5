"""Bulk sending against the sandbox: faults mid-run, a killed and retried run, and proof from the
sandbox's inspection API that every row arrived exactly once."""

from __future__ import annotations

import csv
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.bulk import (
    IDEMPOTENCY_HEADER,
    DirectoryLedgerStore,
    InvalidRowsError,
    Ledger,
    Outcome,
    Smtp2goLedgerError,
    run_bulk_send,
)
from airflow_provider_smtp2go.bulk.sender import BulkSender
from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goAuthError, Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

sys.path.insert(0, str(Path(__file__).parent))
import bulk_job_child

pytestmark = pytest.mark.timeout(120)

TEMPLATE = bulk_job_child.TEMPLATE


def client_for(sb: Smtp2goSandbox, concurrency: int = 8, key: str | None = None) -> Smtp2goClient:
    return Smtp2goClient(
        key or sb.api_key, base_url=sb.base_url, retry=RetryPolicy.no_retries(), pool_maxsize=concurrency
    )


def keys_received(sb: Smtp2goSandbox) -> list[str]:
    return [m.custom_headers[IDEMPOTENCY_HEADER] for m in sb.messages()]


def assert_each_row_arrived_once(sb: Smtp2goSandbox, count: int) -> None:
    received = keys_received(sb)
    assert sb.duplicates() == {}
    assert len(received) == len(set(received)) == count
    subjects = sorted(int(m.subject.split()[-1]) for m in sb.messages())
    assert subjects == list(range(count))


def run(sb: Smtp2goSandbox, tmp_path: Path, count: int, **kwargs: Any) -> Any:
    concurrency = kwargs.pop("concurrency", 8)
    with client_for(sb, concurrency) as client:
        return run_bulk_send(
            client,
            kwargs.pop("rows", bulk_job_child.rows(count)),
            kwargs.pop("template", TEMPLATE),
            namespace=kwargs.pop("namespace", bulk_job_child.NAMESPACE),
            ledger_store=DirectoryLedgerStore(tmp_path / "ledger"),
            concurrency=concurrency,
            reconcile_settle_seconds=0.0,
            report_path=kwargs.pop("report_path", tmp_path / "report.csv"),
            **kwargs,
        )


def test_faults_mid_run_every_row_arrives_exactly_once(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.inject_fault("email/send", status=429, retry_after=0.05, rate=0.1, count=15)
    sb.inject_fault("email/send", status=503, count=5)
    sb.inject_fault("email/send", kind="drop_after", count=4)  # accepted, then no answer: ambiguous
    sb.inject_fault("email/send", status=502, count=3)  # 5xx after the request left: ambiguous
    result = run(sb, tmp_path, 200)
    assert result.counts == {
        "sent": 200,
        "already_sent": 0,
        "failed": 0,
        "retryable": 0,
        "unknown": 0,
        "invalid": 0,
        "suppressed": 0,
    }
    assert_each_row_arrived_once(sb, 200)
    # The drop_after rows were proven sent by the activity log; the 502 rows proven unsent and resent.
    report = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert len(report) == 200 and all(r["email_id"] for r in report)
    assert sb.request_count("activity/search") >= 1
    # Every accepted email_id in the report is a real message in the sandbox.
    assert {r["email_id"] for r in report} == {m.email_id for m in sb.messages()}


def test_rerun_after_success_sends_nothing(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    first = run(sb, tmp_path, 50)
    sends = sb.request_count("email/send")
    again = run(sb, tmp_path, 50)
    assert first.counts["sent"] == 50 and again.counts["already_sent"] == 50 and again.counts["sent"] == 0
    assert sb.request_count("email/send") == sends
    assert_each_row_arrived_once(sb, 50)


def crash_first_try(sb: Smtp2goSandbox, tmp_path: Path, count: int, *, segments: int = 1) -> int:
    """Run a bulk send in a child process and SIGKILL it mid-run (no cleanup, no final ledger
    flush: a worker lost mid-run) once 60 % of the rows arrived and the ledger has ``segments``
    segments. Returns how many emails arrived."""
    sb.inject_fault("email/send", kind="latency", status=None, latency=0.02, rate=1.0)
    env = {**os.environ, "BULK_BASE_URL": sb.base_url, "BULK_API_KEY": sb.api_key}
    ledger = tmp_path / "ledger"
    child = subprocess.Popen(
        [sys.executable, str(Path(bulk_job_child.__file__)), str(count), str(ledger), str(tmp_path / "report.csv")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if len(sb.messages()) >= count * 0.6 and len(list(ledger.glob("segment-*"))) >= segments:
            break
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    output = child.communicate(timeout=10)[0].decode()
    assert child.returncode == -signal.SIGKILL, output
    time.sleep(0.5)  # requests already on the wire still land (the server finishes them)
    sb.clear_faults()
    arrived = len(sb.messages())
    assert 0 < arrived < count
    return arrived


def second_try(sb: Smtp2goSandbox, tmp_path: Path, count: int, **kwargs: Any) -> dict[str, Any]:
    return bulk_job_child.run(
        count,
        str(tmp_path / "ledger"),
        str(tmp_path / "report.csv"),
        base_url=sb.base_url,
        api_key=sb.api_key,
        **kwargs,
    )


def test_killed_run_retried_never_sends_a_row_twice(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    count = 300
    before = crash_first_try(sb, tmp_path, count)
    crashed = Ledger(DirectoryLedgerStore(tmp_path / "ledger")).load()
    assert any(e.outcome is Outcome.PENDING for e in crashed.entries())  # rows in flight at the kill

    counts = second_try(sb, tmp_path, count, attempt=2)["counts"]
    assert counts["already_sent"] == before
    assert counts["sent"] == count - before
    assert counts["unknown"] == counts["failed"] == counts["retryable"] == 0
    assert_each_row_arrived_once(sb, count)


def _delete_middle_segment(ledger: Path) -> None:
    segments = sorted(ledger.glob("segment-*"))
    assert len(segments) >= 3
    segments[len(segments) // 2].unlink()


def _empty_segments(ledger: Path) -> None:
    for segment in ledger.glob("segment-*"):
        segment.write_text("[]")


@pytest.mark.parametrize("damage", [_delete_middle_segment, _empty_segments], ids=["middle-deleted", "emptied"])
def test_a_damaged_ledger_is_refused_and_recovery_sends_nothing_twice(
    smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path, damage: Any
) -> None:
    sb = smtp2go_sandbox
    count = 500
    before = crash_first_try(sb, tmp_path, count, segments=3)
    damage(tmp_path / "ledger")
    sends = sb.request_count("email/send")

    with pytest.raises(Smtp2goLedgerError) as info:
        second_try(sb, tmp_path, count, attempt=2)
    assert str(tmp_path / "ledger") in str(info.value) and "segment-" in info.value.item
    assert sb.request_count("email/send") == sends  # refused before anything was sent

    # What the error says to do: move the ledger aside and run again; every row is looked up first.
    (tmp_path / "ledger").rename(tmp_path / "ledger.damaged")
    counts = second_try(sb, tmp_path, count, attempt=3)["counts"]
    assert counts["already_sent"] == before and counts["sent"] == count - before
    assert counts["unknown"] == counts["failed"] == counts["retryable"] == 0
    assert_each_row_arrived_once(sb, count)


def test_a_retry_that_finds_no_ledger_looks_every_row_up_before_sending(
    smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path
) -> None:
    sb = smtp2go_sandbox
    count = 500
    before = crash_first_try(sb, tmp_path, count)
    shutil.rmtree(tmp_path / "ledger")  # the retry landed on a worker that cannot see the first try's disk

    counts = second_try(sb, tmp_path, count, attempt=2)["counts"]
    assert counts["already_sent"] == before and counts["sent"] == count - before
    assert counts["unknown"] == counts["failed"] == counts["retryable"] == 0
    assert_each_row_arrived_once(sb, count)
    # The doubt was written down first: a third try (this ledger, say) still sends nothing twice.
    again = second_try(sb, tmp_path, count, attempt=3)["counts"]
    assert again["already_sent"] == count and again["sent"] == 0
    assert_each_row_arrived_once(sb, count)


def test_a_retry_whose_lookups_fail_reports_unknown_and_sends_nothing(
    smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path
) -> None:
    sb = smtp2go_sandbox
    count = 100
    crash_first_try(sb, tmp_path, count)
    shutil.rmtree(tmp_path / "ledger")
    sends = sb.request_count("email/send")
    sb.inject_fault("activity/search", status=403, count=1000)  # the activity log cannot be read

    counts = second_try(sb, tmp_path, count, attempt=2)["counts"]
    assert counts["unknown"] == count and counts["sent"] == 0
    assert sb.request_count("email/send") == sends  # nothing resent blindly
    assert sb.duplicates() == {}


def test_unprovable_rows_are_reported_unknown_and_not_resent(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.inject_fault("email/send", kind="drop_after", count=2)
    sb.inject_fault("activity/search", status=403, count=50)  # the lookup itself is refused
    result = run(sb, tmp_path, 20, concurrency=1)
    assert result.counts["unknown"] == 2 and result.counts["sent"] == 18
    assert not result.complete
    unknown = [r for r in result.records if r.outcome is Outcome.UNKNOWN]
    assert all("activity lookup failed" in (r.reason or "") for r in unknown)
    assert_each_row_arrived_once(sb, 20)  # the two ambiguous rows arrived once and were not resent

    sb.clear_faults()
    again = run(sb, tmp_path, 20, concurrency=1)  # the next try can look them up: proven sent
    assert again.counts["already_sent"] == 20 and again.counts["unknown"] == 0
    assert_each_row_arrived_once(sb, 20)


def test_ambiguous_sends_proven_unsent_are_resent_once(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.inject_fault("email/send", kind="drop_before", count=3)  # closed before processing
    result = run(sb, tmp_path, 30, concurrency=2)
    assert result.counts["sent"] == 30
    assert sb.request_count("email/send") == 33
    assert_each_row_arrived_once(sb, 30)


def test_invalid_rows_fail_before_any_send_or_are_skipped(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    rows: list[dict[str, Any]] = bulk_job_child.rows(10)
    rows[3]["email"] = "broken@"
    rows[7] = {"email": "x@example.com"}  # name and n missing
    with pytest.raises(InvalidRowsError) as info:
        run(sb, tmp_path, 0, rows=rows)
    assert [(e.index, e.field) for e in info.value.errors] == [(3, "to[0]"), (7, "subject")]
    assert sb.request_count("email/send") == 0

    result = run(sb, tmp_path, 0, rows=rows, on_invalid="skip")
    assert result.counts["sent"] == 8 and result.counts["invalid"] == 2
    assert [f["index"] for f in result.summary["failures"]] == [3, 7]
    assert len(sb.messages()) == 8


def test_permanent_rejections_fail_their_row_only(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.suppress("user4@example.com")
    result = run(sb, tmp_path, 10)
    failed = [r for r in result.records if r.outcome is Outcome.FAILED]
    # A suppressed recipient gets SMTP2GO's "200 with failures": permanent, not retried.
    assert [r.index for r in failed] == [4] and "suppressed" in (failed[0].reason or "")
    assert sb.request_count("email/send") == 10
    assert result.counts["sent"] == 9 and not result.complete


def test_auth_error_stops_the_whole_run(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    limited = "api-" + "L" * 8 + os.urandom(12).hex().upper()
    sb.add_api_key(limited, permissions=["/activity/search"])
    with client_for(sb, 4, key=limited) as client:
        result = run_bulk_send(
            client,
            bulk_job_child.rows(100),
            TEMPLATE,
            namespace="n",
            ledger_store=DirectoryLedgerStore(tmp_path / "l"),
            concurrency=4,
            reconcile_settle_seconds=0,
        )
    assert isinstance(result.abort_error, Smtp2goAuthError)
    assert sb.request_count("email/send") <= 8  # stopped at once, not 100 errors feeding an IP ban
    assert result.counts["sent"] == 0 and result.counts["failed"] >= 1
    assert result.counts["failed"] + result.counts["retryable"] == 100
    assert limited not in repr(result.summary) and limited not in str(result.abort_error)


def test_adaptive_limit_backs_off_together_on_429(
    smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sb = smtp2go_sandbox
    sb.inject_fault("email/send", status=429, retry_after=0.2, count=8)
    from airflow_provider_smtp2go.bulk.rows import prepare_rows

    batch = prepare_rows(bulk_job_child.rows(64), TEMPLATE, namespace="n")
    caplog.set_level(logging.INFO, logger="airflow_provider_smtp2go.bulk")
    with client_for(sb, 16) as client:
        sender = BulkSender(client, concurrency=16, progress_interval=0.0)
        outcomes = sender.send(batch.valid, Ledger(DirectoryLedgerStore(tmp_path / "l")))
    assert all(o.outcome is Outcome.SENT for o in outcomes)
    assert sender.limit.rate_limited_count == 8
    assert sender.limit.decreases < 8  # simultaneous 429s count as one congestion event
    assert sender.limit.max_in_flight_seen <= 16
    assert any("emails/s" in r.getMessage() and "ETA" in r.getMessage() for r in caplog.records)
    assert_each_row_arrived_once(sb, 64)
