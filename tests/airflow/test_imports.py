"""Importing the provider: no deprecation warnings on Airflow 3, nothing heavy at parse time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_0_PLUS

MODULES = [
    "airflow_provider_smtp2go",
    "airflow_provider_smtp2go._compat",
    "airflow_provider_smtp2go.hooks.smtp2go",
    "airflow_provider_smtp2go.operators.smtp2go",
    "airflow_provider_smtp2go.operators.bulk",
    "airflow_provider_smtp2go.operators.webhooks",
    "airflow_provider_smtp2go.sensors.smtp2go",
    "airflow_provider_smtp2go.notifications.smtp2go",
    "airflow_provider_smtp2go.utils.emailer",
    "airflow_provider_smtp2go.utils.attachments",
]


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 itself warns on import; the check is for 3.x")
def test_no_deprecation_warnings_from_our_imports() -> None:
    # Airflow is imported first with default filters, so only warnings our modules trigger
    # (e.g. a legacy import path) become errors.
    code = (
        "import warnings, importlib, airflow.sdk\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        "warnings.simplefilter('error', PendingDeprecationWarning)\n"
        f"for name in {MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook\n"
        "from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator\n"
        "from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier\n"
        "Smtp2goHook(); Smtp2goSendEmailOperator(task_id='t', to='a@example.com', subject='s', text_body='b')\n"
        "Smtp2goNotifier(to='a@example.com')\n"
        "print('ok')\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


@pytest.mark.skipif(not AIRFLOW_V_3_0_PLUS, reason="Airflow 2 itself warns on import")
def test_no_deprecation_warnings_even_as_the_first_import() -> None:
    result = run_python(
        "-W",
        "error::DeprecationWarning",
        # Not ours: opentelemetry-api 1.42 (in Airflow 3.2's constraints) uses this deprecated
        # importlib.metadata interface while Airflow imports it.
        "-W",
        "ignore:SelectableGroups dict interface is deprecated:DeprecationWarning",
        "-c",
        "import airflow_provider_smtp2go.operators.smtp2go",
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_dag_parsing_does_not_load_the_http_client_or_sandbox() -> None:
    # Whatever Airflow itself loads (Airflow 2 imports requests) is not our cost: compare with
    # the modules present once Airflow and our compat layer are in.
    code = (
        "import sys, airflow, airflow_provider_smtp2go._compat\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_smtp2go.operators.smtp2go, airflow_provider_smtp2go.notifications.smtp2go\n"
        "import airflow_provider_smtp2go.hooks.smtp2go, airflow_provider_smtp2go.utils.emailer\n"
        "import airflow_provider_smtp2go.operators.bulk, airflow_provider_smtp2go.sensors.smtp2go\n"
        "import airflow_provider_smtp2go.operators.webhooks, airflow_provider_smtp2go.webhooks.assets\n"
        "heavy = ['airflow_provider_smtp2go.client.sync', 'airflow_provider_smtp2go.client.aio',\n"
        "         'airflow_provider_smtp2go.triggers.smtp2go', 'airflow.triggers.base',\n"
        "         'airflow_provider_smtp2go.sandbox', 'requests', 'httpx', 'tenacity', 'fsspec', 'jinja2.sandbox']\n"
        "print(sorted(m for m in heavy if m in set(sys.modules) - before))\n"
    )
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
