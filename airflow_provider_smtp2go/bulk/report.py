"""The per-row report (every row, written where the user points) and the compact XCom summary.

The report holds one record per input row: its index, idempotency key, recipient, outcome,
``email_id`` and reason. It is written as CSV or JSON Lines (by suffix, or ``fmt``) to a local
path or an ``ObjectStoragePath``. XCom gets only counts and the first few failures, so 10,000
rows never land in the metadata database.

Each record's ``outcome`` is one of ``outcome.REPORTED``:

``sent``          accepted by SMTP2GO in this run (or proven accepted by the activity log)
``already_sent``  accepted in an earlier try of the task; not sent again
``failed``        permanently rejected (bad address, 4xx, 200-with-failure)
``retryable``     proven not accepted (429, 503, network, or absent from the activity log); a retry sends it
``unknown``       may or may not have been accepted, and the activity log could not tell: never resent blindly
``invalid``       failed validation and was skipped (``on_invalid="skip"``)
``suppressed``    every recipient is on SMTP2GO's suppression list; not sent (``skip_suppressed``)

>>> summarize([RowReport(0, "k", "a@example.com", Outcome.SENT, email_id="1x")], total_rows=1)["counts"]["sent"]
1

A scheduled run's summary also carries its ``schedule_ids`` (all of them up to
``SCHEDULE_IDS_IN_SUMMARY``; past that ``schedule_ids_complete`` is false and the full list is in
the report), so ``Smtp2goCancelScheduledOperator`` can take the bulk task's XCom as it is:

>>> rows = [RowReport(i, None, None, Outcome.SENT, schedule_id=f"s{i}") for i in range(2)]
>>> summary = summarize(rows, total_rows=2)
>>> summary["scheduled"], summary["schedule_ids"], summary["schedule_ids_complete"]
(2, ['s0', 's1'], True)
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from airflow_provider_smtp2go.bulk.outcome import REPORTED, Outcome

REPORT_FIELDS = ("index", "idempotency_key", "recipient", "outcome", "email_id", "reason", "attempts", "schedule_id")
REPORT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
# Enough failures for a human to see what went wrong; the rest are in the report.
FAILURES_IN_SUMMARY = 20
# About 40 KB of ids: enough for most scheduled campaigns; a bigger one is cancelled from its report.
SCHEDULE_IDS_IN_SUMMARY = 1000
REASON_CHARS = 300


@dataclass(frozen=True)
class RowReport:
    """The final word on one input row."""

    index: int
    idempotency_key: str | None
    recipient: str | None
    outcome: Outcome
    email_id: str | None = None
    reason: str | None = None
    attempts: int = 0
    schedule_id: str | None = None

    def __post_init__(self) -> None:
        if not self.outcome.final:
            raise ValueError(f"row {self.index}: a report cannot end on {self.outcome}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "outcome": self.outcome.value}


def render_report(records: Sequence[RowReport], fmt: str) -> str:
    """The report as text (``csv`` or ``jsonl``), rows in input order."""
    ordered = sorted(records, key=lambda r: r.index)
    if fmt == "jsonl":
        return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in ordered)
    if fmt != "csv":
        raise ValueError(f"unknown report format {fmt!r}; use 'csv' or 'jsonl'")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=REPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in ordered:
        writer.writerow({k: ("" if v is None else v) for k, v in record.to_dict().items()})
    return buffer.getvalue()


def report_format(path: Any, fmt: str | None = None) -> str:
    if fmt is not None:
        return fmt
    suffix = (getattr(path, "suffix", None) or os.path.splitext(str(path))[1]).lower()
    if suffix not in REPORT_FORMATS:
        raise ValueError(f"cannot tell the report format of {str(path)!r}: use .csv or .jsonl (or pass fmt)")
    return REPORT_FORMATS[suffix]


def write_report(records: Sequence[RowReport], path: Any, *, fmt: str | None = None) -> str:
    """Write the report to ``path`` (local ``str``/``Path`` or ``ObjectStoragePath``); return where."""
    text = render_report(records, report_format(path, fmt))
    data = text.encode("utf-8")
    if isinstance(path, str) or type(path) is type(Path()):
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return str(target)
    parent = getattr(path, "parent", None)
    if parent is not None and hasattr(parent, "mkdir"):
        parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)
    return str(path)


def summarize(
    records: Sequence[RowReport],
    *,
    total_rows: int,
    report_location: str | None = None,
    duration_seconds: float | None = None,
    max_listed: int = FAILURES_IN_SUMMARY,
) -> dict[str, Any]:
    """The small JSON dict for XCom: counts by outcome and the first failures with reasons.

    Failures are listed by row index and idempotency key (not address: XCom is visible to
    anyone who can read the DAG run, the report is where the user chose to put it).
    """
    counts = Counter(r.outcome for r in records)
    accepted = (Outcome.SENT, Outcome.ALREADY_SENT, Outcome.SUPPRESSED)
    problems = sorted((r for r in records if r.outcome not in accepted), key=lambda r: r.index)
    summary: dict[str, Any] = {
        "total_rows": total_rows,
        "counts": {outcome.value: counts.get(outcome, 0) for outcome in REPORTED},
        "failures": [
            {
                "index": r.index,
                "idempotency_key": r.idempotency_key,
                "outcome": r.outcome.value,
                "reason": (r.reason or "")[:REASON_CHARS],
            }
            for r in problems[:max_listed]
        ],
        "failures_truncated": max(0, len(problems) - max_listed),
        "report": report_location,
    }
    if duration_seconds is not None:
        summary["duration_seconds"] = round(duration_seconds, 3)
    schedule_ids = [r.schedule_id for r in sorted(records, key=lambda r: r.index) if r.schedule_id]
    if schedule_ids:
        summary["scheduled"] = len(schedule_ids)
        summary["schedule_ids"] = schedule_ids[:SCHEDULE_IDS_IN_SUMMARY]
        summary["schedule_ids_complete"] = len(schedule_ids) <= SCHEDULE_IDS_IN_SUMMARY
    return summary


def read_schedule_ids(path: Any, *, fmt: str | None = None) -> list[str]:
    """The ``schedule_id`` of every row of a written report, in row order (local path or
    ``ObjectStoragePath``).

    >>> import tempfile, os
    >>> target = os.path.join(tempfile.mkdtemp(), "report.csv")
    >>> _ = write_report([RowReport(0, None, None, Outcome.SENT, schedule_id="s0"),
    ...                   RowReport(1, None, None, Outcome.FAILED)], target)
    >>> read_schedule_ids(target)
    ['s0']
    """
    kind = report_format(path, fmt)
    source = Path(path) if isinstance(path, str) else path
    with source.open("rb") as handle:
        text = handle.read().decode("utf-8")
    if kind == "jsonl":
        records = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    return [str(r["schedule_id"]) for r in records if r.get("schedule_id")]
