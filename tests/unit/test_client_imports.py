"""Importing the client is cheap: triggers load it inside the triggerer's event loop."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_client_loads_no_transport_or_retry_library() -> None:
    code = (
        "import sys, airflow_provider_smtp2go.client as c\n"
        "from airflow_provider_smtp2go.client import Email, RetryPolicy, Smtp2goValidationError\n"
        "print(sorted(m for m in ('requests', 'urllib3', 'httpx', 'tenacity', 'airflow') if m in sys.modules))\n"
        "c.Smtp2goClient\n"
        "print('requests' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "True"  # the transport arrives on first use
