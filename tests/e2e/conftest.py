"""A real Airflow 3 deployment on this machine, for end-to-end tests.

The ``airflow_stack`` fixture (module scope) starts, each in its own process group and its own
temporary ``AIRFLOW_HOME``:

* ``airflow api-server`` (``--workers 1``, 127.0.0.1, a free port): Airflow 3 tasks talk to
  the metadata DB only through its Execution API, so nothing runs without it;
* ``airflow scheduler`` with the ``LocalExecutor``;
* ``airflow dag-processor`` parsing ``tests/e2e/dags/``;
* ``airflow triggerer``, where deferred sensors wait;

plus an in-process :class:`~airflow_provider_smtp2go.sandbox.Smtp2goSandbox` on loopback that
``AIRFLOW_CONN_SMTP2GO_DEFAULT`` points at.

Why these four and not ``airflow standalone``: standalone would do the same (it forces the
``LocalExecutor`` on sqlite too) but binds its own ports, creates users and mixes every log in
one stream; starting the components ourselves gives each a free port on 127.0.0.1, one log
file each for failure reports, and one process group each to kill. sqlite works here because
on Airflow 3 only the scheduler, dag-processor, triggerer and API server open the DB (tasks
go through the API server) and each keeps its transactions short; the ``SequentialExecutor``
that Airflow 2 needed for sqlite no longer exists. ``parallelism`` is kept at 4 so the
LocalExecutor does not fork more task processes than a 2-core machine can start quickly.

Nothing listens on anything but loopback: the scheduler's and triggerer's log servers (which
bind every interface) are turned off with ``--skip-serve-logs``.

Cleanup is guaranteed by the fixture's finalizer: every process group gets SIGTERM, then
SIGKILL, and any stray process whose environment carries this stack's unique ``AIRFLOW_HOME``
(a task process that left the group) is killed by pid. The direct children also get SIGTERM
from the kernel if pytest itself dies (``PR_SET_PDEATHSIG``).

Set ``SMTP2GO_E2E_KEEP_HOME=1`` to keep the temporary home (DB, component and task logs)
for a post-mortem.

The test process never imports Airflow: it triggers the DAG with the CLI, as an operator
would, and follows the run by reading the sqlite DB read-only with the standard library
rather than through ``airflow dags list-runs`` (every CLI call costs ~7 s of CPU here).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from e2e_stack import ComponentStack, free_port, log_tail, popen, run_cli, stop_groups
from e2e_stack import airflow_bin as _airflow_bin
from e2e_stack import airflow_major as _airflow_major
from e2e_stack import api_healthy as _api_healthy

E2E_DAGS = Path(__file__).resolve().parent / "dags"
TEST_SENDER = "airflow-e2e@example.com"
#: Hard ceiling for bringing the stack up (migrate + four components + first parse).
STARTUP_TIMEOUT = 150.0

AIRFLOW_INSTALLED = importlib.util.find_spec("airflow") is not None


if not AIRFLOW_INSTALLED or _airflow_major() < 3:
    # Airflow 2 has no api-server/dag-processor split; the e2e tier targets the primary (3.x).
    collect_ignore_glob = ["test_*.py"]


@dataclass
class Component:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, chars: int = 4000) -> str:
        return log_tail(self.log_path, chars)


@dataclass
class AirflowStack(ComponentStack):
    """A running Airflow deployment and the sandbox it sends to."""

    home: Path
    env: dict[str, str]
    sandbox: Any  # airflow_provider_smtp2go.sandbox.Smtp2goSandbox
    api_url: str
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.home / "airflow.db"

    # -- driving Airflow ------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` against this deployment; raises with its output on failure."""
        return run_cli(args, env=self.env, timeout=timeout)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the metadata DB (read-only, short-lived connection: never holds a lock)."""
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def log_text(self, name: str) -> str:
        return self.components[name].log_path.read_text(errors="replace")

    def diagnostics(self) -> str:
        """The components' log tails, then those of every task try that failed (the home is gone
        after the test, so this is all a CI failure leaves behind)."""
        return "\n".join([super().diagnostics(), *self._failed_task_logs()])

    def _failed_task_logs(self, chars: int = 3000) -> list[str]:
        try:
            failed = self.query(
                "SELECT dag_id, run_id, task_id, map_index FROM task_instance "
                "WHERE state IN ('failed', 'up_for_retry') ORDER BY end_date DESC LIMIT 3"
            )
        except sqlite3.Error as exc:
            return [f"----- failed tasks: the DB could not be read ({exc}) -----"]
        tails = []
        for dag_id, run_id, task_id, map_index in failed:
            folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
            if map_index >= 0:
                folder /= f"map_index={map_index}"
            for path in sorted(folder.glob("attempt=*.log")):
                tails.append(f"----- task log {path.relative_to(self.home)} (tail) -----\n{log_tail(path, chars)}")
        return tails


def _stack_env(home: Path, sandbox: Any, api_port: int) -> dict[str, str]:
    # Start from a clean slate: no AIRFLOW__*/AIRFLOW_CONN_* of the caller (or of another test
    # tier in the same session) may leak into this deployment.
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{api_port}"
    return {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(E2E_DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        # The connection form's Test button (off by default since Airflow 2.7).
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW_CONN_SMTP2GO_DEFAULT": json.dumps(
            {
                "conn_type": "smtp2go",
                "password": sandbox.api_key,
                "extra": {"base_url": sandbox.base_url, "sender": TEST_SENDER},
            }
        ),
        "PYTHONUNBUFFERED": "1",
    }


def _start(stack: AirflowStack, name: str, args: list[str]) -> None:
    log_path = stack.home / f"{name}.log"
    process = popen([_airflow_bin(), *args], env=stack.env, cwd=stack.home, log_path=log_path)
    stack.components[name] = Component(name, process, log_path)


def _stop_all(stack: AirflowStack) -> None:
    """SIGTERM every group, give them 15 s, SIGKILL what is left, then hunt strays by AIRFLOW_HOME."""
    stop_groups((c.process for c in stack.components.values()), [stack.home])


def _job_running(stack: AirflowStack, job_type: str) -> bool:
    return bool(stack.query("SELECT 1 FROM job WHERE job_type = ? AND state = 'running'", (job_type,)))


@contextlib.contextmanager
def _deployment(components: tuple[str, ...], extra_env: dict[str, str] | None = None) -> Iterator[AirflowStack]:
    """Migrate a fresh sqlite DB, start ``components`` (api-server first) and wait until they work."""
    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    home = Path(tempfile.mkdtemp(prefix="smtp2go-e2e-home-"))
    api_port = free_port()
    with Smtp2goSandbox() as sandbox:
        stack = AirflowStack(
            home=home,
            env={**_stack_env(home, sandbox, api_port), **(extra_env or {})},
            sandbox=sandbox,
            api_url=f"http://127.0.0.1:{api_port}",
        )
        try:
            stack.cli("db", "migrate", timeout=STARTUP_TIMEOUT)
            deadline = time.monotonic() + STARTUP_TIMEOUT
            for name in components:
                _start(stack, name, COMPONENT_ARGS[name](api_port))
            stack.wait_for("the API server", partial(_api_healthy, stack.api_url), timeout=deadline - time.monotonic())
            for name, job_type in (("scheduler", "SchedulerJob"), ("triggerer", "TriggererJob")):
                if name in components:
                    stack.wait_for(
                        f"a running {job_type}",
                        partial(_job_running, stack, job_type),
                        timeout=deadline - time.monotonic(),
                    )
            yield stack
        finally:
            _stop_all(stack)
            if os.environ.get("SMTP2GO_E2E_KEEP_HOME"):
                print(f"\nkept the e2e AIRFLOW_HOME: {home}")
            else:
                shutil.rmtree(home, ignore_errors=True)


COMPONENT_ARGS: dict[str, Callable[[int], list[str]]] = {
    "api-server": lambda port: ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
    "scheduler": lambda _: ["scheduler", "--skip-serve-logs"],
    "dag-processor": lambda _: ["dag-processor"],
    "triggerer": lambda _: ["triggerer", "--skip-serve-logs"],
}


@pytest.fixture(scope="module")
def airflow_stack() -> Iterator[AirflowStack]:
    """Migrate a fresh sqlite DB and start api-server, scheduler, dag-processor and triggerer."""
    with _deployment(("api-server", "scheduler", "dag-processor", "triggerer")) as stack:
        yield stack


@pytest.fixture(scope="module")
def airflow_api_server() -> Iterator[AirflowStack]:
    """Only the API server (and its UI) on a fresh DB: enough for the connection form and its Test button."""
    with _deployment(("api-server",)) as stack:
        yield stack


#: Where the provider's plugin mounts the webhook receiver in the api-server.
WEBHOOK_PREFIX = "/smtp2go/webhooks"


def webhook_secret(stack: AirflowStack) -> str:
    """The bearer token the receiver of ``airflow_webhook_stack`` accepts (connection ``smtp2go_webhook``)."""
    return str(json.loads(stack.env["AIRFLOW_CONN_SMTP2GO_WEBHOOK"])["password"])


@pytest.fixture(scope="module")
def airflow_webhook_stack() -> Iterator[AirflowStack]:
    """``airflow_stack`` plus the webhook secret: connection ``smtp2go_webhook`` (a fresh bearer token).

    The api-server serves the receiver at ``stack.api_url + WEBHOOK_PREFIX + "/"``; tasks see
    the same connection, so ``Smtp2goEnsureWebhookOperator`` registers that secret.
    """
    conn = json.dumps({"conn_type": "generic", "password": "whk-" + secrets.token_hex(16)})
    with _deployment(
        ("api-server", "scheduler", "dag-processor", "triggerer"), {"AIRFLOW_CONN_SMTP2GO_WEBHOOK": conn}
    ) as stack:
        yield stack
