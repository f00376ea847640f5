"""``Smtp2goHandler(airflow_conn_id=...)`` reads key, base URL and sender from an Airflow
connection.  Runs in a child process: importing Airflow reconfigures logging process-wide."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

pytest.importorskip("airflow")
pytestmark = pytest.mark.airflow

CHILD = textwrap.dedent(
    """
    import logging, sys
    import airflow  # inside Airflow: already imported and configured when the handler is made
    from logging_handler import Smtp2goHandler

    handler = Smtp2goHandler("ops@example.com", airflow_conn_id="alerts_smtp2go", flush_timeout=5)
    log = logging.getLogger("from.airflow")
    log.addHandler(handler)
    log.propagate = False
    log.error("sent with the connection's key")
    handler.close()
    print(repr(handler))
    """
)


def test_key_region_and_sender_come_from_the_airflow_connection(tmp_path: Path) -> None:
    with Smtp2goSandbox() as sandbox:
        conn = {
            "conn_type": "smtp2go",
            "password": sandbox.api_key,
            "extra": {"base_url": sandbox.base_url, "sender": "airflow-alerts@example.com"},
        }
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "AIRFLOW_CONN_ALERTS_SMTP2GO": json.dumps(conn),
        }
        env.pop("SMTP2GO_API_KEY", None)
        result = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        [message] = sandbox.messages()
    assert message.sender == "airflow-alerts@example.com"
    assert message.subject.endswith("ERROR from.airflow: sent with the connection's key")
    assert sandbox.api_key not in result.stdout + result.stderr


MASKED_CHILD = textwrap.dedent(
    """
    import logging, os
    import airflow
    try:
        from airflow.sdk.log import mask_secret  # Airflow 3
    except ImportError:
        from airflow.utils.log.secrets_masker import mask_secret  # Airflow 2.11
    from logging_handler import Smtp2goHandler

    secret = os.environ["MASKED_SECRET"]
    mask_secret(secret)  # what Airflow does with connection passwords and sensitive variables
    handler = Smtp2goHandler("ops@example.com", "alerts@example.com", base_url=os.environ["SANDBOX_URL"],
                             flush_timeout=5)
    log = logging.getLogger("masked.task")
    log.addHandler(handler)
    log.propagate = False
    try:
        raise ConnectionError(f"login with {secret} refused")
    except ConnectionError:
        log.exception("db password %s rejected", secret)
    handler.close()
    """
)


def test_secrets_airflow_masks_are_scrubbed_from_the_email(tmp_path: Path) -> None:
    secret = "pw-" + os.urandom(12).hex()
    with Smtp2goSandbox() as sandbox:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(tmp_path),
            "SMTP2GO_API_KEY": sandbox.api_key,
            "SANDBOX_URL": sandbox.base_url,
            "MASKED_SECRET": secret,
        }
        result = subprocess.run(
            [sys.executable, "-c", MASKED_CHILD], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        [message] = sandbox.messages()
    assert message.subject.endswith("ERROR masked.task: db password *** rejected")
    for text in (message.subject, message.text_body, message.html_body):
        assert secret not in text
    assert "ConnectionError: login with *** refused" in message.text_body
