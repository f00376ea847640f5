"""A distributed Airflow 3 on this machine: CeleryExecutor, PostgreSQL, Redis, two workers, two triggerers.

The ``dist_stack`` fixture (package scope) starts, each in its own process group:

* PostgreSQL from Debian's package (``initdb`` in a temporary directory, a free port on
  127.0.0.1; as the ``postgres`` user when run as root, which ``initdb`` requires): the
  metadata DB and the Celery result backend. The CeleryExecutor needs a real database;
* ``redis-server`` from Debian's package (127.0.0.1, a free port, no persistence): the broker;
* ``airflow api-server``, ``scheduler`` and ``dag-processor``;
* two ``airflow celery worker``\\ s (concurrency 4 each) and two ``airflow triggerer``\\ s
  (capacity 60 triggers each).

Every Airflow component has its own ``AIRFLOW_HOME`` (config, logs), as separate machines
would: they share only the database, the broker and a copy of ``dags/``. Each worker also
has a private directory (``SMTP2GO_DIST_LOCAL_DIR``) that no other component sees, and all of
them see ``SMTP2GO_DIST_SHARED_DIR``, which stands in for object storage (reached as a
``file://`` URL, the way an ``s3://`` ledger would be).

What is lowered so that failures are noticed in seconds instead of minutes:
``[scheduler] task_instance_heartbeat_timeout`` 20 s (a task whose worker died is failed and
retried after that), ``[triggerer] triggerer_health_check_threshold`` 10 s with a 2 s
heartbeat (a dead triggerer's triggers are claimed by the other one after that). The Celery
visibility timeout keeps its default (a day): a killed worker's unacknowledged messages are
not redelivered during the test, so every retry comes from Airflow's heartbeat timeout.

Nothing listens on anything but loopback: the workers' and triggerers' log servers (which
bind every interface) are off (``--skip-serve-logs``), and ``assert_loopback_only`` checks
every listening socket of the stack after start-up.

If PostgreSQL or redis-server is missing the fixture fails (never skips) with the command that
installs them: ``bash scripts/install_system_packages.sh``. Cleanup (also on failure): every
process group gets SIGTERM, then SIGKILL, then any process whose environment carries one of the
stack's homes is killed by pid. ``SMTP2GO_E2E_KEEP_HOME=1`` keeps the temporary tree.

The test process never imports Airflow; it triggers DAGs with the CLI and reads the metadata
DB with psycopg2.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from e2e_stack import ComponentStack, free_port, kill_strays, log_tail, run_cli, stop_groups
from e2e_stack import airflow_bin as _airflow_bin
from e2e_stack import airflow_major as _airflow_major
from e2e_stack import api_healthy as _api_healthy
from e2e_stack import kill_group as _kill_group
from e2e_stack import pids_with_env as _pids_with_env
from e2e_stack import popen as _popen

DAGS = Path(__file__).resolve().parent / "dags"
TEST_SENDER = "airflow-dist@example.com"
STARTUP_TIMEOUT = 240.0
WORKERS = ("worker1", "worker2")
TRIGGERERS = ("triggerer1", "triggerer2")
WORKER_CONCURRENCY = 4
#: README's rule for sharing the account's 60 activity calls a minute: 60 / N per triggerer.
TRIGGERER_ACTIVITY_BUDGET = 60 // len(TRIGGERERS)
HEARTBEAT_TIMEOUT = 20
TRIGGERER_HEALTH_THRESHOLD = 10
#: Triggers one triggerer may hold: 100 sensors cannot all land on one of the two.
TRIGGERER_CAPACITY = 60
INSTALL_SYSTEM = (
    "bash scripts/install_system_packages.sh  (as root: apt-get update && apt-get install -y postgresql redis-server)"
)
INSTALL_PYTHON = "bash scripts/bootstrap.sh .venv  (its e2e extra: the Celery provider, psycopg2-binary, asyncpg)"


if importlib.util.find_spec("airflow") is None or _airflow_major() < 3:
    # The distributed tier targets Airflow 3 (api-server, dag-processor, task state store).
    collect_ignore_glob = ["test_*.py"]


# -- what the machine must have -------------------------------------------------------------------
@dataclass(frozen=True)
class SystemBinaries:
    pg_bin: Path
    redis_server: str


def system_binaries() -> SystemBinaries:
    """Debian's PostgreSQL and Redis, or a loud failure naming the command that installs them."""
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    redis = shutil.which("redis-server")
    missing = [name for name, found in (("postgresql", initdbs), ("redis-server", redis)) if not found]
    if missing:
        pytest.fail(f"the distributed e2e tier needs {' and '.join(missing)}; install with: {INSTALL_SYSTEM}")
    absent = [m for m in ("airflow.providers.celery", "psycopg2", "asyncpg") if importlib.util.find_spec(m) is None]
    if absent:
        pytest.fail(f"the distributed e2e tier needs {', '.join(absent)}; install with: {INSTALL_PYTHON}")
    return SystemBinaries(Path(initdbs[-1]).parent, str(redis))


# -- processes ------------------------------------------------------------------------------------
@dataclass
class Component:
    name: str
    args: list[str]
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int = 0  # where this start's output begins (a restart appends to the same file)
    ready: bool = False

    def log_tail(self, chars: int = 3000) -> str:
        return log_tail(self.log_path, chars, offset=self.log_offset)


@dataclass
class ActivityLog:
    """What the sandbox answered, with times: every request per path, and every 429 of the activity limit."""

    requests: list[tuple[float, str]] = field(default_factory=list)
    rejected: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def times(self, path: str, since: float = 0.0, until: float = float("inf")) -> list[float]:
        with self.lock:
            return [t for t, p in self.requests if p == path and since <= t < until]

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()
            self.rejected.clear()


def _instrument(sandbox: Any) -> ActivityLog:
    """Record when each request reached the sandbox and when its activity limit answered 429."""
    from airflow_provider_smtp2go.sandbox.state import normalize_path

    log = ActivityLog()
    record, allow = sandbox.state.record_request, sandbox.activity_limiter.allow

    def record_request(path: str, api_key: str | None) -> None:
        with log.lock:
            log.requests.append((time.time(), normalize_path(path)))
        record(path, api_key)

    def limiter_allow(api_key: str, now: float) -> bool:
        allowed = bool(allow(api_key, now))
        if not allowed:
            with log.lock:
                log.rejected.append(time.time())
        return allowed

    sandbox.state.record_request = record_request
    sandbox.activity_limiter.allow = limiter_allow
    return log


@dataclass
class DistributedStack(ComponentStack):
    """The running deployment, the sandbox it sends to, and the means to break it."""

    root: Path
    env: dict[str, str]
    sandbox: Any  # Smtp2goSandbox
    activity: ActivityLog
    api_url: str
    dsn: str
    shared_dir: Path
    components: dict[str, Component] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)
    poll_interval = 0.5

    # -- components ---------------------------------------------------------------------------
    def start(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Component:
        home = self.root / name
        (home / "logs").mkdir(parents=True, exist_ok=True)
        env = {
            **self.env,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            **(extra_env or {}),
        }
        log_path = home / f"{name}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        process = _popen([_airflow_bin(), *args], env=env, cwd=home, log_path=log_path)
        self.components[name] = Component(name, args, home, env, process, log_path, offset)
        self.killed.discard(name)
        return self.components[name]

    def kill(self, name: str) -> float:
        """SIGKILL a component and everything it started, as if its machine lost power; returns when."""
        component = self.components[name]
        self.killed.add(name)
        _kill_group(component.process, signal.SIGKILL)
        kill_strays(component.home)
        at = time.time()
        with contextlib.suppress(subprocess.TimeoutExpired):
            component.process.wait(timeout=10)
        return at

    def restart(self, name: str) -> Component:
        """Start a killed component again, on the same home (the machine came back)."""
        old = self.components[name]
        extra = {k: v for k, v in old.env.items() if self.env.get(k) != v}
        return self.start(name, old.args, extra)

    def stop_all(self) -> None:
        components = list(self.components.values())
        stop_groups((c.process for c in components), (c.home for c in components))

    # -- driving and reading ------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``airflow <args>`` from an operator's machine (its own home); raises with its output on failure."""
        env = {**self.env, "AIRFLOW_HOME": str(self.root / "cli")}
        return run_cli(args, env=env, timeout=timeout)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read the metadata DB (one short autocommit connection: never holds a lock)."""
        import psycopg2

        conn = psycopg2.connect(self.dsn, connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()

    def stopped_on_purpose(self) -> set[str]:
        return self.killed

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any]) -> None:
        self.wait_for(
            f"the dag-processor to parse {dag_id}",
            lambda: self.query("SELECT 1 FROM serialized_dag WHERE dag_id = %s", (dag_id,)),
            timeout=120,
        )
        self.cli("dags", "trigger", dag_id, "--run-id", run_id, "--conf", json.dumps(conf))

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (dag_id, run_id))
        return rows[0][0] if rows else None

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout: float) -> str:
        return str(
            self.wait_for(
                f"DAG run {dag_id}/{run_id} to finish",
                lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
                timeout=timeout,
                interval=1.0,
            )
        )

    def task_states(self, dag_id: str, run_id: str, task_id: str) -> dict[int, tuple[str | None, int]]:
        """``map_index -> (state, try_number)``."""
        rows = self.query(
            "SELECT map_index, state, try_number FROM task_instance WHERE dag_id = %s AND run_id = %s "
            "AND task_id = %s ORDER BY map_index",
            (dag_id, run_id, task_id),
        )
        return {int(m): (s, int(t)) for m, s, t in rows}

    def task_logs(self, dag_id: str, run_id: str, task_id: str) -> dict[tuple[int, int], tuple[str, str]]:
        """``(map_index, attempt) -> (component, log text)``: where each try ran, read from the workers' own disks."""
        found = {}
        for name in WORKERS:
            folder = self.root / name / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
            for path in folder.glob("map_index=*/attempt=*.log"):
                map_index = int(path.parent.name.split("=", 1)[1])
                attempt = int(path.name.split("=", 1)[1].split(".", 1)[0])
                found[(map_index, attempt)] = (name, path.read_text(errors="replace"))
        return found

    def triggerer_job_ids(self) -> dict[str, int]:
        """Each live triggerer's newest running job id (its ``hostname`` is its home: see ``_airflow_env``)."""
        rows = self.query("SELECT id, hostname FROM job WHERE job_type = 'TriggererJob' AND state = 'running'")
        out: dict[str, int] = {}
        for job_id, hostname in rows:
            for name in TRIGGERERS:
                if name not in self.killed and hostname == str(self.components[name].home):
                    out[name] = max(out.get(name, 0), int(job_id))
        return out

    def assert_loopback_only(self) -> None:
        """Every socket that any process of the stack listens on is bound to loopback."""
        pids = [pid for c in self.components.values() for pid in _pids_with_env("AIRFLOW_HOME", str(c.home))]
        pids += [int(p) for p in (self.root / "pids").read_text().split()]
        exposed = [addr for addr in _listening(pids) if not addr.startswith(("127.", "[::1]"))]
        assert not exposed, f"the stack listens beyond loopback: {exposed}"


def _listening(pids: list[int]) -> list[str]:
    """``host:port`` of every listening TCP socket owned by ``pids``."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                    continue
                host_hex, port_hex = cols[1].split(":")
                raw = bytes.fromhex(host_hex)
                if v6:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    host = f"[{socket.inet_ntop(socket.AF_INET6, words)}]"
                else:
                    host = socket.inet_ntoa(raw[::-1])
                found.append(f"{host}:{int(port_hex, 16)}")
    return found


# -- PostgreSQL and Redis -------------------------------------------------------------------------
def _start_postgres(binaries: SystemBinaries, root: Path) -> tuple[Any, str]:
    """initdb + postgres on a free loopback port; returns the process and the DSN of database ``airflow``."""
    user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    pg_root = Path(tempfile.mkdtemp(prefix="smtp2go-dist-pg-"))
    if user:
        shutil.chown(pg_root, user, user)
    data, port = pg_root / "data", free_port()
    initdb = subprocess.run(
        [str(binaries.pg_bin / "initdb"), "-D", str(data), "-U", "airflow", "-A", "trust", "-E", "UTF8", "--no-sync"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        user=user,
        cwd=pg_root,
    )
    if initdb.returncode != 0:
        raise AssertionError(f"initdb failed:\n{initdb.stdout[-2000:]}\n{initdb.stderr[-2000:]}")
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": str(port),
        "unix_socket_directories": str(pg_root),
        "max_connections": "300",
        "fsync": "off",  # a throw-away DB: durability across a power cut is not under test
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    argv = [str(binaries.pg_bin / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    process = _popen(argv, env=dict(os.environ), cwd=pg_root, log_path=root / "postgres.log", user=user)
    (root / "pg_root").write_text(str(pg_root))
    dsn = f"host=127.0.0.1 port={port} user=airflow dbname=postgres"
    _wait(lambda: _pg_ready(dsn), "PostgreSQL", 60, process, root / "postgres.log")
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE airflow")
    conn.close()
    return process, f"host=127.0.0.1 port={port} user=airflow dbname=airflow"


def _pg_ready(dsn: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(dsn, connect_timeout=2).close()
        return True
    except psycopg2.OperationalError:
        return False


def _start_redis(binaries: SystemBinaries, root: Path) -> tuple[Any, int]:
    port = free_port()
    argv = [binaries.redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(root), "--protected-mode", "yes"]
    process = _popen(argv, env=dict(os.environ), cwd=root, log_path=root / "redis.log")
    _wait(partial(_redis_ready, port), "Redis", 30, process, root / "redis.log")
    return process, port


def _redis_ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait(check: Callable[[], bool], what: str, timeout: float, process: Any, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


# -- Airflow --------------------------------------------------------------------------------------
def _airflow_env(root: Path, sandbox: Any, dsn_parts: dict[str, str], redis_port: int, api_port: int) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    api_url = f"http://127.0.0.1:{api_port}"
    db = f"postgresql+psycopg2://airflow@127.0.0.1:{dsn_parts['port']}/airflow"
    return {
        **base,
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": "32",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Every component runs in its own home on one machine: reporting that home as the
        # hostname tells the job rows (triggerers) and task instances (workers) apart.
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "os.getcwd",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        "AIRFLOW__CELERY__OPERATION_TIMEOUT": "15",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_THRESHOLD),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": api_url,
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        # One Fernet key for every component, as a real deployment shares it (otherwise each
        # home generates its own): workers open what the triggerers sealed in trigger events.
        "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "AIRFLOW_CONN_SMTP2GO_DEFAULT": json.dumps(
            {
                "conn_type": "smtp2go",
                "password": sandbox.api_key,
                "extra": {"base_url": sandbox.base_url, "sender": TEST_SENDER},
            }
        ),
        "SMTP2GO_DIST_SHARED_DIR": str(root / "shared"),
        "PYTHONUNBUFFERED": "1",
    }


def _worker_ready(stack: DistributedStack, name: str) -> bool:
    component = stack.components[name]
    # Celery prints " ready." once, and task output soon pushes it out of any tail: remember it.
    component.ready = component.ready or " ready." in component.log_tail(1_000_000)
    return component.ready


def _jobs_running(stack: DistributedStack, job_type: str, count: int) -> bool:
    rows = stack.query("SELECT count(*) FROM job WHERE job_type = %s AND state = 'running'", (job_type,))
    return int(rows[0][0]) >= count


def start_worker(stack: DistributedStack, name: str) -> Component:
    local = stack.root / name / "local"
    local.mkdir(parents=True, exist_ok=True)
    args = ["celery", "worker", "--skip-serve-logs", "--without-mingle", "--without-gossip"]
    args += ["--celery-hostname", f"{name}@%h", "--concurrency", str(WORKER_CONCURRENCY)]
    return stack.start(name, args, {"SMTP2GO_DIST_LOCAL_DIR": str(local)})


def start_triggerer(stack: DistributedStack, name: str) -> Component:
    budget = {"AIRFLOW__SMTP2GO__ACTIVITY_REQUESTS_PER_MINUTE": str(TRIGGERER_ACTIVITY_BUDGET)}
    return stack.start(name, ["triggerer", "--skip-serve-logs", "--capacity", str(TRIGGERER_CAPACITY)], budget)


def wait_until_ready(stack: DistributedStack, *, timeout: float) -> None:
    """API healthy, a scheduler, every live triggerer heartbeating and every live worker consuming."""
    deadline = time.monotonic() + timeout
    stack.wait_for("the API server", partial(_api_healthy, stack.api_url), timeout=deadline - time.monotonic())
    stack.wait_for(
        "a running scheduler",
        partial(_jobs_running, stack, "SchedulerJob", 1),
        timeout=deadline - time.monotonic(),
    )
    live_triggerers = [t for t in TRIGGERERS if t not in stack.killed]
    stack.wait_for(
        "every triggerer",
        lambda: len(stack.triggerer_job_ids()) == len(live_triggerers),
        timeout=deadline - time.monotonic(),
    )
    for name in WORKERS:
        if name not in stack.killed:
            stack.wait_for(
                f"{name} to be ready", partial(_worker_ready, stack, name), timeout=deadline - time.monotonic()
            )


def revive(stack: DistributedStack) -> None:
    """Start again what an earlier test killed, and wait until the whole stack is ready."""
    for name in sorted(stack.killed):
        if name in WORKERS:
            start_worker(stack, name)
        elif name in TRIGGERERS:
            start_triggerer(stack, name)
        else:
            stack.restart(name)
    wait_until_ready(stack, timeout=STARTUP_TIMEOUT)


@pytest.fixture(scope="package")
def dist_stack() -> Iterator[DistributedStack]:
    """PostgreSQL, Redis and a CeleryExecutor Airflow with two workers and two triggerers."""
    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    binaries = system_binaries()
    root = Path(tempfile.mkdtemp(prefix="smtp2go-dist-"))
    (root / "shared").mkdir()
    services: list[Any] = []
    with Smtp2goSandbox(enforce_activity_limit=True) as sandbox:
        activity = _instrument(sandbox)
        stack: DistributedStack | None = None
        try:
            postgres, dsn = _start_postgres(binaries, root)
            services.append(postgres)
            redis, redis_port = _start_redis(binaries, root)
            services.append(redis)
            (root / "pids").write_text(f"{postgres.pid} {redis.pid}")
            dsn_parts = dict(part.split("=", 1) for part in dsn.split())
            api_port = free_port()
            env = _airflow_env(root, sandbox, dsn_parts, redis_port, api_port)
            stack = DistributedStack(root, env, sandbox, activity, f"http://127.0.0.1:{api_port}", dsn, root / "shared")
            stack.cli("db", "migrate", timeout=STARTUP_TIMEOUT)
            stack.start("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"])
            stack.start("scheduler", ["scheduler", "--skip-serve-logs"])
            stack.start("dag-processor", ["dag-processor"])
            for name in WORKERS:
                start_worker(stack, name)
            for name in TRIGGERERS:
                start_triggerer(stack, name)
            wait_until_ready(stack, timeout=STARTUP_TIMEOUT)
            stack.assert_loopback_only()
            yield stack
        finally:
            if stack is not None:
                stack.stop_all()
            for process in services:
                _kill_group(process, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)
                _kill_group(process, signal.SIGKILL)
            pg_root = root / "pg_root"
            if os.environ.get("SMTP2GO_E2E_KEEP_HOME"):
                print(f"\nkept the distributed stack's files: {root}")
            else:
                if pg_root.exists():
                    shutil.rmtree(pg_root.read_text(), ignore_errors=True)
                shutil.rmtree(root, ignore_errors=True)
