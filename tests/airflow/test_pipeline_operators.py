"""Cancel-scheduled and suppression operators in a real DAG run against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import AirflowFailException
from airflow_provider_smtp2go.operators.scheduled import Smtp2goCancelScheduledOperator
from airflow_provider_smtp2go.operators.suppressions import Smtp2goAddSuppressionOperator

CANCEL_DAG = Path(__file__).parent / "dags" / "smtp2go_test_cancel_scheduled.py"


def test_a_dag_cancels_what_it_scheduled_and_manages_suppressions(run_dag: Any, smtp2go_conn: Any) -> None:
    sb = smtp2go_conn.sandbox
    result = run_dag(CANCEL_DAG)
    assert result.state == "success", result
    schedule_id = result.xcom["schedule_reminder"]["schedule_id"]
    assert result.xcom["cancel_reminder"] == {"cancelled": [schedule_id], "not_pending": []}
    [message] = sb.messages()
    assert message.cancelled and message.schedule_id == schedule_id
    assert sb.state.scheduled(sb.clock.now()) == []
    assert result.xcom["suppress"] == {"added": ["gone@example.com", "bounced.example"]}
    assert result.xcom["unsuppress"] == {"removed": ["gone@example.com"], "not_found": ["never@example.com"]}
    assert [s.email_address for s in sb.state.suppressions()] == ["bounced.example"]


def test_cancelling_an_id_that_is_no_longer_pending(smtp2go_conn: Any) -> None:
    op = Smtp2goCancelScheduledOperator(task_id="cancel", schedule_ids=["gone-already"])
    assert op.execute({}) == {"cancelled": [], "not_pending": ["gone-already"]}
    strict = Smtp2goCancelScheduledOperator(task_id="cancel", schedule_ids="gone-already", missing_ok=False)
    with pytest.raises(AirflowFailException, match="schedule_id"):
        strict.execute({})


def test_a_refused_suppression_fails_without_airflow_retries(smtp2go_conn: Any) -> None:
    op = Smtp2goAddSuppressionOperator(task_id="suppress", email_addresses=["not an address"])
    with pytest.raises(AirflowFailException, match="email_address"):
        op.execute({})


SENDER_DAG = Path(__file__).parent / "dags" / "smtp2go_test_bulk_unverified_sender.py"


def test_bulk_refuses_an_unverified_sender_unless_told_otherwise(run_dag: Any, smtp2go_conn: Any) -> None:
    sb = smtp2go_conn.sandbox
    sb.add_sender_domain("unverified.example", verified=False)
    result = run_dag(SENDER_DAG)
    assert result.task_states == {"refused": "failed", "forced": "success"}, result
    subjects = sorted(m.subject for m in sb.messages())
    assert subjects == ["forced 0", "forced 1", "forced 2"]  # the refused task sent nothing
    assert sb.request_count("domain/view") == 1  # the forced one did not even ask


def test_bulk_accepts_a_verified_single_sender(run_dag: Any, smtp2go_conn: Any) -> None:
    sb = smtp2go_conn.sandbox
    sb.add_single_sender("news@unverified.example", verified=True)
    result = run_dag(SENDER_DAG)
    assert result.task_states == {"refused": "success", "forced": "success"}, result


def test_connection_test_lists_the_verified_senders(smtp2go_conn: Any) -> None:
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook

    sb = smtp2go_conn.sandbox
    sb.add_sender_domain("pending.example", verified=False)
    sb.add_single_sender("solo@elsewhere.example")
    ok, message = Smtp2goHook().test_connection()
    assert ok, message
    assert message.endswith("verified senders: example.com, solo@elsewhere.example")
    assert sb.messages() == []
