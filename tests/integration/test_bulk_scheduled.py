"""Scheduled bulk sends against the sandbox: the report keeps each row's schedule id, and an
ambiguous scheduled row is never resent on the strength of an activity log that cannot show it."""

from __future__ import annotations

import csv
import dataclasses
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_smtp2go.bulk import DirectoryLedgerStore, Ledger, Outcome, run_bulk_send
from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

sys.path.insert(0, str(Path(__file__).parent))
import bulk_job_child

pytestmark = pytest.mark.timeout(120)


def scheduled_run(sb: Smtp2goSandbox, tmp_path: Path, count: int) -> object:
    template = dataclasses.replace(bulk_job_child.TEMPLATE, schedule=sb.clock.now() + timedelta(hours=1))
    with Smtp2goClient(sb.api_key, base_url=sb.base_url, retry=RetryPolicy.no_retries(), pool_maxsize=4) as client:
        return run_bulk_send(
            client,
            bulk_job_child.rows(count),
            template,
            namespace=bulk_job_child.NAMESPACE,
            ledger_store=DirectoryLedgerStore(tmp_path / "ledger"),
            concurrency=4,
            reconcile_settle_seconds=0.0,
            report_path=tmp_path / "report.csv",
        )


def test_a_scheduled_bulk_run_reports_every_schedule_id(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    scheduled_run(sb, tmp_path, 12)
    report = list(csv.DictReader((tmp_path / "report.csv").open()))
    assert {r["outcome"] for r in report} == {"sent"}
    ids = {r["schedule_id"] for r in report}
    assert len(ids) == 12 and "" not in ids
    assert ids == {m.schedule_id for m in sb.messages()}
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        assert {s["schedule_id"] for s in client.search_scheduled()} == ids
    # The ledger keeps them too, so a later try's report still has them.
    entries = Ledger(DirectoryLedgerStore(tmp_path / "ledger")).load().entries()
    assert {e.schedule_id for e in entries} == ids


def test_an_ambiguous_scheduled_row_is_unknown_not_resent(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.inject_fault("email/send", kind="drop_after", count=1)  # accepted, then no answer
    result = scheduled_run(sb, tmp_path, 6)
    assert sb.duplicates() == {}
    assert len(sb.messages()) == 6  # the dropped row was accepted once and not sent again
    unknown = [r for r in result.records if r.outcome is Outcome.UNKNOWN]  # type: ignore[attr-defined]
    assert len(unknown) == 1 and "scheduled" in (unknown[0].reason or "")
