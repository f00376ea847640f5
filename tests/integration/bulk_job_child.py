"""A bulk send run in its own process, so a test can SIGKILL it mid-run and then retry.

Usage: python bulk_job_child.py <rows> <ledger_dir> <report_path>
The sandbox URL and key come from the environment (BULK_BASE_URL, BULK_API_KEY): keys never go
on a command line, where ``ps`` would show them.
"""

from __future__ import annotations

import logging
import os
import sys

from airflow_provider_smtp2go.bulk import DirectoryLedgerStore, MessageTemplate, run_bulk_send
from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient

TEMPLATE = MessageTemplate(
    sender="Billing <billing@example.com>",
    to="{{ email }}",
    subject="Invoice {{ n }}",
    text_body="Hello {{ name }}, invoice {{ n }} is ready.",
)
NAMESPACE = "example_dag/bulk_send/manual__kill-test/-1"


def rows(count: int) -> list[dict[str, object]]:
    return [{"email": f"user{i}@example.com", "name": f"User {i}", "n": i} for i in range(count)]


def run(
    count: int, ledger_dir: str, report_path: str, *, base_url: str, api_key: str, **kwargs: object
) -> dict[str, object]:
    with Smtp2goClient(
        api_key,
        base_url=base_url,
        retry=RetryPolicy.no_retries(),
        pool_maxsize=4,
    ) as client:
        result = run_bulk_send(
            client,
            rows(count),
            TEMPLATE,
            namespace=NAMESPACE,
            ledger_store=DirectoryLedgerStore(ledger_dir),
            concurrency=4,
            report_path=report_path,
            reconcile_settle_seconds=0.0,
            progress_interval=1.0,
            **kwargs,  # type: ignore[arg-type]
        )
    return result.summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = run(
        int(sys.argv[1]),
        sys.argv[2],
        sys.argv[3],
        base_url=os.environ["BULK_BASE_URL"],
        api_key=os.environ["BULK_API_KEY"],
    )
    print(summary)
