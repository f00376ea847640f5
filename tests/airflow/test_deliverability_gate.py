"""The deliverability gate and its example campaign DAG, against the sandbox."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import AirflowFailException
from airflow_provider_smtp2go.client import Email, Smtp2goClient
from airflow_provider_smtp2go.sensors.deliverability import Smtp2goDeliverabilitySensor

CAMPAIGN_DAG = Path(__file__).resolve().parents[2] / "example_dags" / "example_smtp2go_campaign_gate.py"


@pytest.fixture
def campaign_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP2GO_EXAMPLE_STORAGE", f"file://{tmp_path}/reports")
    monkeypatch.setenv("SMTP2GO_EXAMPLE_SUBSCRIBERS", "20")
    monkeypatch.setenv("SMTP2GO_EXAMPLE_WAIT_SECONDS", "0")
    monkeypatch.setenv("SMTP2GO_EXAMPLE_SETTLE_SECONDS", "0")


def history(sb: Any, sent: int, bounced: int) -> None:
    """Earlier sends, ``bounced`` of them hard bounces, visible in the stats."""
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        for i in range(sent):
            to = f"old{i}+hard-bounce@example.com" if i < bounced else f"old{i}@example.com"
            client.send(Email(sender="news@example.com", to=[to], subject="old", text_body="x"))
    sb.clock.advance(120)


def test_a_healthy_account_runs_the_whole_campaign(run_dag: Any, smtp2go_conn: Any, campaign_env: None) -> None:
    sb = smtp2go_conn.sandbox
    history(sb, sent=60, bounced=1)
    result = run_dag(CAMPAIGN_DAG)
    assert result.state == "success", result
    assert set(result.task_states.values()) == {"success"}
    assert len(sb.messages()) == 80
    assert result.xcom["deliverability_gate"]["emails"] == 60
    assert result.xcom["campaign_report"]["emails"] >= 60


def test_a_high_bounce_rate_skips_the_campaign(run_dag: Any, smtp2go_conn: Any, campaign_env: None) -> None:
    sb = smtp2go_conn.sandbox
    history(sb, sent=60, bounced=10)
    result = run_dag(CAMPAIGN_DAG)
    assert result.task_states["deliverability_gate"] == "skipped"
    assert result.task_states["send_newsletter"] == "skipped"
    assert len(sb.messages()) == 60  # nothing new went out


def test_the_gate_fails_without_retries_by_default_and_ignores_tiny_samples(smtp2go_conn: Any) -> None:
    sb = smtp2go_conn.sandbox
    history(sb, sent=4, bounced=2)  # 50 %, but only four emails
    assert Smtp2goDeliverabilitySensor(task_id="gate").poke({}).is_done  # type: ignore[union-attr]
    history(sb, sent=100, bounced=0)
    strict = Smtp2goDeliverabilitySensor(task_id="gate", min_emails=0, max_bounce_percent=1.0)
    with pytest.raises(AirflowFailException, match=r"bounce rate 1\.92% is above 1\.00%"):
        strict.poke({})
    quota = Smtp2goDeliverabilitySensor(task_id="gate", min_cycle_remaining=10**9)
    with pytest.raises(AirflowFailException, match="left this cycle"):
        quota.poke({})
