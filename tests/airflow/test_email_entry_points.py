"""The operator, the notifier and the email backend build their email one way (``email_fields``).

So they refuse the same input with the same error, before any request, and agree on the
sender: the given one, else the connection's ``sender`` extra, else one "no sender" error.
The bulk operator (whose rows are validated per row, so not in the first test) agrees on the
sender too.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import TEST_SENDER

from airflow_provider_smtp2go._compat import AirflowFailException
from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier
from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator
from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.utils.emailer import send_email


def via_operator(**fields: Any) -> None:
    Smtp2goSendEmailOperator(task_id="send", **fields).execute({})


def _context() -> dict[str, Any]:
    # Airflow 2.11's notifier renders with the DAG's template environment: it needs one.
    from airflow_provider_smtp2go._compat import DAG

    return {"dag": DAG(dag_id="email_entry_points", schedule=None, start_date=datetime(2026, 1, 1))}


def via_notifier(**fields: Any) -> None:
    notifier = Smtp2goNotifier(**fields)
    notifier.render_template_fields(_context())
    notifier.notify({})


def via_async_notifier(**fields: Any) -> None:
    notifier = Smtp2goNotifier(**fields)
    notifier.render_template_fields(_context())
    asyncio.run(notifier.async_notify({}))


def via_backend(**fields: Any) -> None:
    send_email(
        fields.pop("to"),
        fields.pop("subject"),
        fields.pop("html_body"),
        from_email=fields.pop("sender", None),
        **fields,
    )


def via_bulk(**fields: Any) -> None:
    with tempfile.TemporaryDirectory() as ledger:
        operator = Smtp2goBulkSendOperator(
            task_id="send",
            rows=[{"email": "r@example.com"}],
            progress_store="directory",
            ledger_path=ledger,
            **fields,
        )
        ti = SimpleNamespace(dag_id="d", task_id="send", run_id="r", map_index=-1, try_number=1, xcom_push=print)
        operator.execute({"ti": ti})  # type: ignore[arg-type]


ENTRY_POINTS = [via_operator, via_notifier, via_async_notifier, via_backend]
SENDER_ENTRY_POINTS = [*ENTRY_POINTS, via_bulk]
BASE = {"to": "oncall@example.com", "subject": "Load failed", "html_body": "<p>See the log</p>"}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"custom_headers": {"Bcc": "everyone@example.com"}}, "custom_headers: set 'Bcc' with bcc="),
        ({"custom_headers": {"X-Run": None}}, "custom_headers[X-Run]: expected a string, got NoneType"),
        ({"subject": "Load\x00failed"}, "subject: must not contain U+0000"),
        ({"to": ["ok@example.com", 7]}, "to[1]: expected an address string, got int"),
        ({"to": "jürgen@example.com"}, "to[0]: 'jürgen@example.com' has non-ASCII characters before the @"),
    ],
)
def test_every_entry_point_refuses_the_same_input_the_same_way(
    smtp2go_conn, entry: Callable[..., None], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(AirflowFailException) as info:
        entry(**{**BASE, **overrides})
    assert str(info.value).startswith(f"Smtp2goValidationError: {message}")
    assert smtp2go_conn.sandbox.request_count() == 0


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_every_entry_point_sends_an_idn_recipient_idna_encoded(smtp2go_conn, entry: Callable[..., None]) -> None:
    entry(**{**BASE, "to": "user@bücher.example"})
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["user@xn--bcher-kva.example"]


@pytest.mark.parametrize("entry", SENDER_ENTRY_POINTS)
@pytest.mark.parametrize("unset", [None, "airflow@airflow", "   "])
def test_without_any_sender_every_entry_point_gives_the_one_no_sender_error(
    smtp2go_conn, monkeypatch: pytest.MonkeyPatch, entry: Callable[..., None], unset: str | None
) -> None:
    extra = {k: v for k, v in smtp2go_conn.extra.items() if k != "sender"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_DEFAULT",
        json.dumps({"conn_type": "smtp2go", "password": smtp2go_conn.api_key, "extra": extra}),
    )
    # Airflow's placeholder sender and a blank one count as none.
    fields = BASE if unset is None else {**BASE, "sender": unset}
    with pytest.raises(AirflowFailException, match=r"^Smtp2goValidationError: sender: no sender is set: ") as info:
        entry(**fields)
    if entry in (via_operator, via_bulk):
        assert str(info.value).endswith(
            "no sender is set: pass sender= to 'send' or set the 'sender' extra of connection 'smtp2go_default'"
        )
    assert "'sender' extra" in str(info.value)
    assert smtp2go_conn.sandbox.request_count() == 0


@pytest.mark.parametrize("entry", SENDER_ENTRY_POINTS)
def test_a_given_sender_wins_over_the_connection(smtp2go_conn, entry: Callable[..., None]) -> None:
    entry(**{**BASE, "sender": "Team <team@example.com>"})
    assert smtp2go_conn.sandbox.messages()[0].sender_address == "team@example.com"


@pytest.mark.parametrize("entry", SENDER_ENTRY_POINTS)
@pytest.mark.parametrize("unset", ["airflow@airflow", "   "])
def test_a_blank_or_placeholder_sender_falls_back_to_the_connection(
    smtp2go_conn, entry: Callable[..., None], unset: str
) -> None:
    entry(**{**BASE, "sender": unset})
    assert smtp2go_conn.sandbox.messages()[0].sender_address == TEST_SENDER


def test_the_notifier_does_not_import_the_operators_module() -> None:
    code = (
        "import sys\n"
        "from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier\n"
        "Smtp2goNotifier(to='a@example.com', sender='b@example.com', subject='s').build_email(None)\n"
        "print('airflow_provider_smtp2go.operators.smtp2go' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
