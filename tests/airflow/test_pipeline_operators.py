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
