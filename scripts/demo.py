"""Run the example report DAG end to end with real Airflow and print what happened.

    python scripts/demo.py                 # against the embedded SMTP2GO sandbox (no account needed)
    python scripts/demo.py --with-failure  # ... and make SMTP2GO reject the report once: see the alert
    SMTP2GO_API_KEY=... SMTP2GO_SENDER=you@verified.example SMTP2GO_TO=you@example.com \\
        python scripts/demo.py             # against the real API (SMTP2GO_REGION=global|us|eu|au)

Airflow gets a throw-away AIRFLOW_HOME with a sqlite DB (``airflow db migrate``); the DAG runs
with ``dag.test()`` in a child process whose output goes to a log file, so this prints a short
summary instead of Airflow's log wall.
"""

# ruff: noqa: PLC0415  (Airflow must only be imported once AIRFLOW_HOME is set)

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
REPORT_DAG = EXAMPLE_DAGS / "example_smtp2go_report.py"
DAG_ID = "example_smtp2go_report"
SANDBOX_SENDER = "Airflow demo <airflow-demo@example.com>"


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


# -- child process: runs the DAG inside Airflow ---------------------------------------------------
def run_dag_child(result_path: Path, run_conf: dict[str, Any]) -> None:
    """Run the report DAG with dag.test() and write states and XCom to ``result_path``."""
    spec = importlib.util.spec_from_file_location("example_smtp2go_report", REPORT_DAG)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    started = time.monotonic()
    dag_run = dag.test(run_conf=run_conf)
    elapsed = time.monotonic() - started

    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    try:
        from airflow.models.xcom import XComModel as XComRow
    except ImportError:  # Airflow 2
        from airflow.models.xcom import XCom as XComRow

    def name(state: Any) -> str | None:
        return None if state is None else str(getattr(state, "value", state))

    with create_session() as session:
        tasks = {
            ti.task_id: name(ti.state)
            for ti in session.query(TaskInstance)
            .filter(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == dag_run.run_id)
            .order_by(TaskInstance.start_date)
        }
        xcom = {}
        for row in session.query(XComRow).filter(
            XComRow.dag_id == DAG_ID, XComRow.run_id == dag_run.run_id, XComRow.key == "return_value"
        ):
            value = row.value
            if isinstance(value, (str, bytes)):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            xcom[row.task_id] = value
    result_path.write_text(
        json.dumps(
            {"run_id": dag_run.run_id, "state": name(dag_run.state), "tasks": tasks, "xcom": xcom, "seconds": elapsed},
            default=str,
        )
    )


# -- parent process: sets up Airflow, the target, and reports ------------------------------------
def airflow_env(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "SMTP2GO_EXAMPLE_STORAGE": f"file://{home}/reports",
        # The example DAG retries once; the default 5-minute wait would stall the demo.
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "10",
    }


def connection_json(api_key: str, extra: dict[str, Any]) -> str:
    return json.dumps({"conn_type": "smtp2go", "password": api_key, "extra": extra})


def run_logged(command: list[str], env: dict[str, str], log_path: Path, title: str) -> float:
    started = time.monotonic()
    with log_path.open("a") as log:
        log.write(f"\n===== {title}: {' '.join(command)}\n")
        log.flush()
        code = subprocess.run(  # noqa: S603 (our own interpreter and script)
            command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        ).returncode
    if code != 0:
        say(f"  {title} failed (exit {code}); see {log_path}")
        raise SystemExit(code)
    return time.monotonic() - started


# An exception line in Airflow's task log: "airflow_provider_smtp2go...Smtp2goApiError: SMTP2GO ..."
_CAUSE = re.compile(r"^(?:[\w.]+\.)?((?:Smtp2go|Airflow)\w*(?:Error|Exception|Failed)): (.+)$")


def failure_causes(log_path: Path) -> list[str]:
    """The distinct exception lines of failed tasks in Airflow's log, in order (the "why")."""
    causes: list[str] = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = _CAUSE.match(line.strip())
        # Airflow wraps our error ("AirflowFailException: Smtp2goApiError: ..."): say it once.
        if match and not any(match.group(2).endswith(cause) or cause.endswith(match.group(2)) for cause in causes):
            causes.append(f"{match.group(1)}: {match.group(2)}")
    return causes


def describe_message(index: int, message: Any) -> list[str]:
    lines = [f"  {index}. to {', '.join(message.to)}   from {message.sender_address}"]
    if message.cc:
        lines.append(f"     cc {', '.join(message.cc)}")
    lines.append(f"     subject: {message.subject}")
    for attachment in message.attachments:
        size = f"{attachment.size} bytes" if attachment.size is not None else attachment.url
        lines.append(f"     attachment: {attachment.filename} ({attachment.mimetype}, {size})")
    headers = {k: v for k, v in message.custom_headers.items() if k.lower().startswith("x-")}
    if headers:
        lines.append("     headers: " + ", ".join(f"{k}={v}" for k, v in headers.items()))
    text = " ".join((message.text_body or "").split())
    if text:
        lines.append(f"     text: {text[:110]}{'...' if len(text) > 110 else ''}")
    lines.append(f"     email_id: {message.email_id}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--with-failure", action="store_true", help="sandbox only: reject the report once")
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME and its logs")
    parser.add_argument("--_child", nargs=2, metavar=("RESULT", "CONF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        run_dag_child(Path(args._child[0]), json.loads(args._child[1]))
        return 0

    api_key = os.environ.get("SMTP2GO_API_KEY", "").strip()
    sender = os.environ.get("SMTP2GO_SENDER", "").strip()
    if api_key:
        # Fail in seconds, before Airflow starts, when the key or the network is wrong.
        if not sender:
            say("SMTP2GO_SENDER is required with SMTP2GO_API_KEY (a sender verified in your SMTP2GO account)")
            return 2
        from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient, Smtp2goError

        region = os.environ.get("SMTP2GO_REGION", "").strip() or None
        try:
            with Smtp2goClient(api_key, region=region, retry=RetryPolicy(max_attempts=2, deadline=20)) as client:
                permissions = client.api_key_permissions()
        except Smtp2goError as exc:
            say(f"Cannot use the SMTP2GO API: {exc}")
            return 2
        if "/email/send" not in permissions:
            say("This API key may not call /email/send; enable it for the key in SMTP2GO's dashboard")
            return 2
    home = Path(tempfile.mkdtemp(prefix="smtp2go-demo-"))
    log_path = home / "airflow-demo.log"
    env = {**os.environ, **airflow_env(home)}
    from importlib.metadata import version

    say(f"Airflow {version('apache-airflow')} in a temporary AIRFLOW_HOME: {home}")
    seconds = run_logged([sys.executable, "-m", "airflow", "db", "migrate"], env, log_path, "airflow db migrate")
    say(f"  metadata DB migrated (sqlite) in {seconds:.1f} s")

    sandbox = None
    if api_key:
        if args.with_failure:
            say("--with-failure only works with the sandbox; ignoring it")
        to = os.environ.get("SMTP2GO_TO", "").strip() or sender
        extra: dict[str, Any] = {"sender": sender}
        if os.environ.get("SMTP2GO_REGION"):
            extra["region"] = os.environ["SMTP2GO_REGION"].strip()
        env["AIRFLOW_CONN_SMTP2GO_DEFAULT"] = connection_json(api_key, extra)
        run_conf = {"recipients": to, "alerts_to": to}
        say(f"Target: the real SMTP2GO API (region {extra.get('region', 'global')}), sending to {to}")
    else:
        from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

        sandbox = Smtp2goSandbox().start()
        env["AIRFLOW_CONN_SMTP2GO_DEFAULT"] = connection_json(
            sandbox.api_key, {"base_url": sandbox.base_url, "sender": SANDBOX_SENDER, "max_attempts": 2}
        )
        run_conf = {"recipients": "reports@example.com", "alerts_to": "oncall@example.com"}
        say(f"Target: the embedded SMTP2GO sandbox at {sandbox.base_url} (set SMTP2GO_API_KEY for the real API)")
        if args.with_failure:
            sandbox.inject_fault("email/send", status=400, count=1)
            say("  scripted fault: SMTP2GO answers the first email/send with HTTP 400")

    try:
        result_path = home / "result.json"
        run_logged(
            [sys.executable, str(Path(__file__).resolve()), "--_child", str(result_path), json.dumps(run_conf)],
            env,
            log_path,
            f"dag.test() of {DAG_ID}",
        )
        result = json.loads(result_path.read_text())
        messages = sandbox.messages() if sandbox is not None else None
    finally:
        if sandbox is not None:
            sandbox.stop()

    say()
    say(f"DAG run {DAG_ID} / {result['run_id']}: {result['state'].upper()} in {result['seconds']:.1f} s")
    for task_id, state in result["tasks"].items():
        say(f"  {task_id:<14} {state}")
    if "send_report" in result["xcom"]:
        say(f"XCom of send_report: {json.dumps(result['xcom']['send_report'])}")
    if messages is not None:
        say()
        say(f"The sandbox received {len(messages)} email(s):")
        for index, message in enumerate(messages, 1):
            for line in describe_message(index, message):
                say(line)
        say("  (the sandbox stopped; nothing left this machine)")
    else:
        say("Check the email in your inbox, or SMTP2GO's activity log, with the email_id above.")
    failed = [task_id for task_id, state in result["tasks"].items() if state in ("failed", "upstream_failed")]
    if failed:
        say()
        say(f"Why {', '.join(failed)} failed (from Airflow's log):")
        for cause in failure_causes(log_path)[:3] or ["no exception line found; see the log"]:
            say(f"  {cause[:300]}")
    say()
    expected = "failed" if args.with_failure and sandbox is not None else "success"
    ok = result["state"] == expected
    if args.keep or not ok:
        say(f"Airflow's own log (kept): {log_path}")
    else:
        shutil.rmtree(home, ignore_errors=True)
        say(f"Removed the temporary AIRFLOW_HOME {home} (run with --keep to keep it and Airflow's log)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
