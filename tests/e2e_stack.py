"""Running Airflow components as local processes: the helpers both end-to-end tiers share.

``tests/e2e`` (sqlite, LocalExecutor) and ``tests/e2e_distributed`` (PostgreSQL, Celery) each
start Airflow's components as child processes and must leave nothing behind. What they have in
common lives here: free loopback ports, one process group per component that dies with pytest,
stopping groups (SIGTERM, then SIGKILL) and strays found by their environment, log tails for
failure reports, running the CLI, and polling until a condition holds.

It is a plain module, not a conftest: ``tests/`` is on ``sys.path`` because ``tests/conftest.py``
has no package around it (pytest's default ``prepend`` import mode).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Container, Iterable
from pathlib import Path
from typing import Any

#: How long stopped components get between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 15.0


def airflow_major() -> int:
    """The installed Airflow's major version (the e2e tiers need 3)."""
    from importlib.metadata import version

    return int(version("apache-airflow").split(".")[0])


def airflow_bin() -> str:
    """The ``airflow`` command of this interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def popen(argv: list[str], *, env: dict[str, str], cwd: Path, log_path: Path, user: str | None = None) -> Any:
    """Start ``argv`` in its own process group, output appended to ``log_path``; SIGTERMed if pytest dies."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as a whole
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl, no locks taken
            user=user,
        )


def pids_with_env(name: str, value: str) -> list[int]:
    """Processes whose environment has ``name=value`` (each stack's homes are unique)."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def kill_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def kill_strays(home: Path) -> None:
    """SIGKILL every process whose ``AIRFLOW_HOME`` is ``home`` (a task process that left its group)."""
    for pid in pids_with_env("AIRFLOW_HOME", str(home)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def stop_groups(processes: Iterable[subprocess.Popen[bytes]], homes: Iterable[Path]) -> None:
    """SIGTERM every group, give them ``STOP_GRACE_SECONDS``, SIGKILL what is left, then the strays of ``homes``."""
    processes = list(processes)
    for process in processes:
        kill_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        kill_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    for home in homes:
        kill_strays(home)


def log_tail(path: Path, chars: int, *, offset: int = 0) -> str:
    """The last ``chars`` of ``path`` written after ``offset`` ("" when it cannot be read)."""
    try:
        with path.open("rb") as log:
            log.seek(max(offset, path.stat().st_size - chars))
            return log.read().decode(errors="replace")
    except OSError:
        return ""


def api_healthy(url: str) -> bool:
    """True when the API server at ``url`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def run_cli(args: tuple[str, ...], *, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """``airflow <args>`` with ``env``; raises with its output on failure."""
    result = subprocess.run(
        [airflow_bin(), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


class ComponentStack:
    """Waiting on a deployment and reporting its failures, over ``components``.

    Each component has a ``process`` (``Popen``) and a ``log_tail()``; the stacks that mix this
    in are dataclasses declaring ``components`` themselves.
    """

    components: dict[str, Any]
    #: How often ``wait_for`` polls by default.
    poll_interval: float = 0.25

    def stopped_on_purpose(self) -> Container[str]:
        """Components a test stopped: their exit is not a failure."""
        return ()

    def wait_for(self, what: str, check: Callable[[], Any], *, timeout: float, interval: float | None = None) -> Any:
        """Poll ``check`` until it returns something truthy; fail with every component's log tail."""
        deadline = time.monotonic() + timeout
        while True:
            self.assert_alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}")
            time.sleep(self.poll_interval if interval is None else interval)

    def assert_alive(self) -> None:
        stopped = self.stopped_on_purpose()
        dead = {
            name: c.process.returncode
            for name, c in self.components.items()
            if name not in stopped and c.process.poll() is not None
        }
        if dead:
            raise AssertionError(f"Airflow components exited: {dead}\n{self.diagnostics()}")

    def diagnostics(self) -> str:
        return "\n".join(f"----- {name} log (tail) -----\n{c.log_tail()}" for name, c in self.components.items())
