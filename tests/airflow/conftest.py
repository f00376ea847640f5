"""Shared fixtures for tests that need a real Apache Airflow (2.11 or 3.x).

Everything under ``tests/airflow/`` is skipped when Airflow is not installed.

Airflow reads ``AIRFLOW_HOME`` and its configuration when it is first imported, so this
module points it at a throw-away home *before* any test module imports Airflow:

* ``AIRFLOW_HOME`` is a fresh temp dir per pytest session, with a sqlite DB in it;
* ``airflow_db`` (session) runs ``airflow db migrate`` once, in a subprocess;
* ``smtp2go_conn`` starts one sandbox per session, resets it for each test, and points
  ``AIRFLOW_CONN_SMTP2GO_DEFAULT`` (JSON form) at it;
* ``run_dag(path_or_dag, ...)`` runs a DAG with ``dag.test()`` and returns a ``DagRunResult``
  with the run state, each task's state and the XCom return values.

Example::

    def test_report(run_dag, smtp2go_conn):
        result = run_dag(EXAMPLE_DAGS / "example_smtp2go_report.py")
        assert result.state == "success"
        assert smtp2go_conn.sandbox.messages()[0].subject.startswith("Daily report")
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
#: DAGs that exist only for tests (Airflow 3's dag.test() runs only DAGs from a configured bundle).
TEST_DAGS = Path(__file__).resolve().parent / "dags"
#: The sender the test connection configures as its default ``sender`` extra.
TEST_SENDER = "airflow@example.com"

AIRFLOW_INSTALLED = importlib.util.find_spec("airflow") is not None

if not AIRFLOW_INSTALLED:
    collect_ignore_glob = ["test_*.py"]
else:
    if "airflow" in sys.modules:  # pragma: no cover - a plugin imported Airflow before us
        raise RuntimeError(
            "airflow was imported before tests/airflow/conftest.py could set AIRFLOW_HOME; "
            "run these tests in their own pytest process"
        )
    AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="smtp2go-airflow-home-"))
    AIRFLOW_ENV: dict[str, str] = {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(AIRFLOW_HOME / "logs"),
        # Airflow 3: two local bundles, the shipped examples and the test-only DAGs.
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": name,
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(path), "refresh_interval": 0},
                }
                for name, path in (("dags-folder", EXAMPLE_DAGS), ("smtp2go-test-dags", TEST_DAGS))
            ]
        ),
    }
    os.environ.update(AIRFLOW_ENV)


def airflow_version() -> tuple[int, int]:
    """``(major, minor)`` of the installed Airflow."""
    from importlib.metadata import version

    major, minor = version("apache-airflow").split(".")[:2]
    return int(major), int(minor)


def airflow_cli() -> list[str]:
    """The ``airflow`` command of the running interpreter's environment."""
    return [str(Path(sys.executable).with_name("airflow"))]


def run_airflow_cli(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` in a subprocess against the test AIRFLOW_HOME."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*airflow_cli(), *args], capture_output=True, text=True, timeout=timeout, env=full_env, check=False
    )


@pytest.fixture(scope="session")
def airflow_home() -> Iterator[Path]:
    """The session's temporary AIRFLOW_HOME (removed at the end of the session)."""
    yield AIRFLOW_HOME
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow_db(airflow_home: Path) -> Path:
    """A migrated sqlite metadata DB, shared by the whole session."""
    result = run_airflow_cli("db", "migrate", timeout=300)
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return airflow_home / "airflow.db"


@dataclass
class SandboxConnection:
    """The sandbox a test talks to and the connection that points at it."""

    sandbox: Any  # airflow_provider_smtp2go.sandbox.Smtp2goSandbox
    conn_id: str
    api_key: str
    extra: dict[str, Any]

    @property
    def uri_json(self) -> str:
        return connection_json(self.api_key, self.extra)


def connection_json(api_key: str, extra: dict[str, Any]) -> str:
    """``AIRFLOW_CONN_*`` JSON for an ``smtp2go`` connection."""
    return json.dumps({"conn_type": "smtp2go", "password": api_key, "extra": extra})


@pytest.fixture(scope="session")
def _session_sandbox() -> Iterator[Any]:
    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    with Smtp2goSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def smtp2go_conn(_session_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxConnection]:
    """A clean sandbox and ``AIRFLOW_CONN_SMTP2GO_DEFAULT`` pointing at it.

    Retries are kept short (2 attempts, 10 s budget) so a fault-injection test stays fast.
    """
    sandbox = _session_sandbox
    sandbox.reset()
    extra = {"base_url": sandbox.base_url, "sender": TEST_SENDER, "max_attempts": 2, "deadline": 10}
    conn = SandboxConnection(sandbox=sandbox, conn_id="smtp2go_default", api_key=sandbox.api_key, extra=extra)
    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_DEFAULT", conn.uri_json)
    yield conn
    sandbox.reset()


@dataclass
class DagRunResult:
    """What a ``dag.test()`` run left behind."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str | None] = field(default_factory=dict)
    xcom: dict[str, Any] = field(default_factory=dict)  # task_id -> return_value


def load_dag(path: Path, dag_id: str | None = None) -> Any:
    """Import a DAG file as a fresh module and return its DAG (the only one, or ``dag_id``)."""
    module_name = f"_smtp2go_test_dag_{path.stem}_{len(sys.modules)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow_provider_smtp2go._compat import DAG

    dags = {obj.dag_id: obj for obj in vars(module).values() if isinstance(obj, DAG)}
    if dag_id is not None:
        return dags[dag_id]
    if len(dags) != 1:
        raise ValueError(f"{path} defines {sorted(dags)}; pass dag_id")
    return next(iter(dags.values()))


@contextlib.contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Serve an ASGI app (e.g. the webhook receiver) with uvicorn on a free loopback port; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def no_webhook_events(airflow_db: Path) -> Iterator[None]:
    """No asset events, queued asset runs or webhook receipts before and after the test (3.1+).

    The session shares one metadata DB, and a test that counts what the receiver recorded must
    not count what an earlier test's sandbox delivered.
    """

    def forget() -> None:
        from airflow.models.asset import AssetDagRunQueue, AssetEvent
        from airflow.utils.session import create_session
        from sqlalchemy import delete

        from airflow_provider_smtp2go.webhooks.dedupe import ensure_table, receipts

        with create_session() as session:
            ensure_table(session)
            session.execute(delete(AssetEvent))
            session.execute(delete(AssetDagRunQueue))
            session.execute(delete(receipts))

    forget()
    yield
    forget()


def activate_assets(*uris: str) -> None:
    """What the dag-processor does for a sensor's inlets: mark the assets active (Airflow's
    state-store read route answers only for active assets)."""
    import sqlalchemy as sa
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        for uri in uris:
            if session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == uri)) is None:
                session.add(AssetModel(name=uri, uri=uri, group="smtp2go"))
            if session.scalar(sa.select(AssetActive.uri).where(AssetActive.uri == uri)) is None:
                session.add(AssetActive(name=uri, uri=uri))


@contextlib.contextmanager
def sql_statements(rows: list[tuple[str, list[Any]]] | None = None) -> Iterator[list[str]]:
    """Every SQL statement sent to the metadata DB meanwhile (an executemany counts once).

    With ``rows``, each statement's parameter rows are appended to it too, as ``(statement, rows)``.
    """
    from airflow import settings
    from sqlalchemy import event

    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append(statement)
        if rows is not None:  # args: (context, executemany)
            rows.append((statement, list(parameters) if args[-1] else [parameters]))

    assert settings.engine is not None
    event.listen(settings.engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(settings.engine, "before_cursor_execute", note)


def sync_test_dag(dag_id: str) -> None:
    """Parse ``tests/airflow/dags/<dag_id>.py`` into the metadata DB as the scheduler would, unpaused (3.1+)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    try:
        from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    except ImportError:  # Airflow 3.1 keeps them under models
        from airflow.models.dagbag import BundleDagBag, sync_bag_to_db  # type: ignore[no-redef]
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    where = {"dag_folder": str(TEST_DAGS / f"{dag_id}.py"), "bundle_path": TEST_DAGS}
    try:
        dagbag = BundleDagBag(**where, bundle_name="smtp2go-test-dags")
    except TypeError:  # Airflow 3.1 takes no bundle_name here
        dagbag = BundleDagBag(**where)
    assert dag_id in dagbag.dags, dagbag.import_errors
    sync_bag_to_db(dagbag, "smtp2go-test-dags", None)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(is_paused=False))


def collect_result(dag_id: str, run_id: str, state: str) -> DagRunResult:
    """Read task states and return values of one run from the metadata DB."""
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XComRow
    except ImportError:  # Airflow 2
        from airflow.models.xcom import XCom as XComRow

    result = DagRunResult(dag_id=dag_id, run_id=run_id, state=state_name(state))
    with create_session() as session:
        for ti in session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id):
            result.task_states[ti.task_id] = None if ti.state is None else state_name(ti.state)
        rows = session.query(XComRow).filter(
            XComRow.dag_id == dag_id, XComRow.run_id == run_id, XComRow.key == "return_value"
        )
        for row in rows:
            value = row.value
            if isinstance(value, (str, bytes)):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            result.xcom[row.task_id] = value
    return result


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., DagRunResult]:
    """Run a DAG with ``dag.test()``; returns a ``DagRunResult``.

    Give a file path (in ``example_dags/`` or ``tests/airflow/dags/``: on Airflow 3 only DAGs
    of a configured bundle can run) or a DAG object loaded from such a file.
    """

    def run(dag_or_path: Any, *, dag_id: str | None = None, run_conf: dict[str, Any] | None = None) -> DagRunResult:
        dag = load_dag(Path(dag_or_path), dag_id) if isinstance(dag_or_path, (str, Path)) else dag_or_path
        dag_run = dag.test(run_conf=run_conf) if run_conf else dag.test()
        return collect_result(dag.dag_id, dag_run.run_id, dag_run.state)

    return run


def state_name(state: Any) -> str:
    """``"success"`` for ``TaskInstanceState.SUCCESS`` or ``"success"``."""
    return str(getattr(state, "value", state))
