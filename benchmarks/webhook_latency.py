"""Webhooks vs polling: event-to-DAG-run latency, and the receiver's ingest rate on one api-server worker.

    python benchmarks/webhook_latency.py [--events 3000] [--posters 4x16] [--latency-events 20]
        [--baseline-src /work/baseline] [--baseline-setting SECTION.KEY=VALUE ...]
        [--db sqlite,postgres] [--skip-ingest] [--skip-latency]

Everything is real and on 127.0.0.1: ``airflow api-server --workers 1`` serving the provider's
plugin at ``/smtp2go/webhooks``, a fresh sqlite metadata DB per server, HTTP over loopback.

**(b) ingest** (first, on an otherwise idle deployment): form-encoded hard bounces posted by
``--posters`` = P processes x T threads, each thread on one keep-alive connection (SMTP2GO
posts in parallel; Python client threads in one process would measure the client's GIL).
Phases: ``health`` (``GET /health``: the HTTP floor of one worker, Airflow's middlewares
included), ``refused`` (wrong token: 401), ``new`` (each post a new event: asset event + dedupe
receipt, committed before the answer), ``duplicate`` (each post already recorded), ``mixed``
(half and half).  Every answer is checked, and the DB must hold exactly one asset event per
distinct event.  With ``--baseline-src`` the same phases run first against a second server
importing the provider from that checkout (``PYTHONPATH``), so the ratio is measured in one
command; ``--baseline-setting`` runs the baseline with Airflow settings of its own instead (or as
well), e.g. ``smtp2go.webhook_freeze_startup_heap=False`` for this tree without the receiver's
startup-heap freeze.  Besides posts/s (wall clock, which a shared machine distorts) it reports the
server's CPU per post (``/proc``, the api-server's process group), whose inverse is what one
worker does with a core to itself.  ``--db postgres`` runs the phases on a throw-away
PostgreSQL (loopback, default durability).  Target: >= 500 new events/s.

**(a) latency**: api-server + scheduler + dag-processor and a DAG scheduled on the
hard-bounce asset; a sandbox with the webhook registered (bearer auth) sends one email at a time
to ``b<i>+hard-bounce@example.com``; latency = the DAG run's ``queued_at`` minus the send.
Polling at the default 60 s is **modelled**, not run (20 events would take 20 minutes): an event
lands at a uniformly random point of the poll cycle, so it waits U(0, 60 s), plus one measured
``/activity/search`` round trip, plus the same asset-event-to-run step the scheduler takes
(measured here as the webhook latency minus the receiver's part).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

from webhook_ingest import TOKEN, URI, airflow_env, body, declare_asset, free_port, wait_up

POLL_INTERVAL = 60.0  # Smtp2goActivitySensor's default poke_interval
PREFIX = "/smtp2go/webhooks"
DAG_ID = "bench_webhook_bounces"
CONSUMER_DAG = f'''
from datetime import datetime
from airflow.sdk import DAG, task
from airflow_provider_smtp2go.webhooks.assets import webhook_asset

with DAG("{DAG_ID}", schedule=[webhook_asset("hard-bounced")], start_date=datetime(2025, 1, 1),
         catchup=False, is_paused_upon_creation=False, max_active_runs=1):
    @task
    def noop():
        pass

    noop()
'''


@dataclass
class Server:
    home: Path
    port: int
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}{PREFIX}"

    @property
    def db(self) -> Path:
        return self.home / "airflow.db"


@contextlib.contextmanager
def deployment(
    components: tuple[str, ...],
    *,
    src: str | None = None,
    dag: str | None = None,
    db_url: str | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[Server]:
    """A fresh AIRFLOW_HOME, migrated DB (sqlite unless ``db_url``) and ``components``; all killed on exit."""
    home = Path(tempfile.mkdtemp(prefix="smtp2go-webhook-latency-"))
    (home / "dags").mkdir()
    if dag:
        (home / "dags" / f"{DAG_ID}.py").write_text(dag)
    port = free_port()
    env = airflow_env(home, port)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "2",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        }
    )
    if db_url:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
    for name, value in (settings or {}).items():  # "section.key"
        section, _, key = name.partition(".")
        env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = value
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    airflow = str(Path(sys.executable).with_name("airflow"))
    server = Server(home, port, env)
    args = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
    }
    try:
        subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True, timeout=600)
        for name in components:
            log = (home / f"{name}.log").open("wb")
            server.processes.append(
                subprocess.Popen(
                    [airflow, *args[name]], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
        wait_up(server.base, server.processes[0], time.monotonic() + 180)
        yield server
    finally:
        for process in server.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in server.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


# -- (b) ingest -----------------------------------------------------------------------------------


def _poster(
    job: tuple[int, str, list[int], int, float], out: multiprocessing.Queue[tuple[float, int, int, int]]
) -> None:
    """One poster process: ``threads`` keep-alive connections; puts (end time, created, dups, bad answers)."""
    port, phase, indexes, threads, start_at = job
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    token = "wrong-token" if phase == "refused" else TOKEN
    headers["Authorization"] = f"Bearer {token}"
    bodies = [body(i) for i in indexes]
    totals = [0, 0, 0]  # created, duplicates, unexpected answers
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                n = next(cursor, None)
            if n is None:
                conn.close()
                return
            if phase == "health":
                conn.request("GET", f"{PREFIX}/health")
            else:
                conn.request("POST", f"{PREFIX}/", body=bodies[n], headers=headers)
            response = conn.getresponse()
            payload = response.read()
            ok = response.status == (401 if phase == "refused" else 200)
            answer = json.loads(payload) if ok and phase not in ("health", "refused") else {}
            with lock:
                totals[0] += answer.get("created", 0)
                totals[1] += answer.get("duplicates", 0)
                totals[2] += 0 if ok else 1

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    time.sleep(max(0.0, start_at - time.time()))
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    out.put((time.time(), *totals))


def run_phase(port: int, phase: str, indexes: list[int], procs: int, threads: int) -> tuple[float, int, int, int]:
    """Post ``indexes`` from ``procs`` x ``threads`` keep-alive connections; (seconds, created, dups, errors)."""
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue[tuple[float, int, int, int]] = ctx.Queue()
    start_at = time.time() + 0.5
    slices = [indexes[k::procs] for k in range(procs)]
    children = [ctx.Process(target=_poster, args=((port, phase, s, threads, start_at), out)) for s in slices]
    for child in children:
        child.start()
    results = [out.get(timeout=900) for _ in children]
    for child in children:
        child.join()
    return (
        max(r[0] for r in results) - start_at,
        sum(r[1] for r in results),
        sum(r[2] for r in results),
        sum(r[3] for r in results),
    )


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in process group ``pgid`` (the api-server and its worker)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # fields after "(comm)": state ppid pgrp ... utime(11) stime(12)
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def ingest(
    n: int,
    procs: int,
    threads: int,
    src: str | None,
    *,
    db_url: str | None = None,
    settings: dict[str, str] | None = None,
) -> dict[str, tuple[float, float]]:
    """Per phase: (posts/s, server CPU ms per post) against one api-server worker running ``src``'s provider."""
    rates: dict[str, tuple[float, float]] = {}
    with deployment(("api-server",), src=src, db_url=db_url, settings=settings) as server:
        if db_url:
            _pg_declare_asset(db_url)
        else:
            declare_asset(server.db)
        run_phase(server.port, "new", [-1 - i for i in range(100)], procs, threads)  # warm up
        phases = (
            ("health", list(range(n))),
            ("refused", list(range(n))),
            ("new", list(range(n))),
            ("duplicate", list(range(n))),
            ("mixed", [i for pair in zip(range(n, n + n // 2), range(n // 2), strict=True) for i in pair]),
        )
        for phase, indexes in phases:
            cpu = group_cpu_seconds(server.processes[0].pid)
            seconds, created, duplicates, errors = run_phase(server.port, phase, indexes, procs, threads)
            cpu = group_cpu_seconds(server.processes[0].pid) - cpu
            expected = {"new": (len(indexes), 0), "duplicate": (0, len(indexes)), "mixed": (n // 2, n // 2)}
            if errors or (phase in expected and (created, duplicates) != expected[phase]):
                raise SystemExit(f"{phase}: {errors} unexpected answers, created {created}, duplicates {duplicates}")
            rates[phase] = (len(indexes) / seconds, cpu * 1000 / len(indexes))
        stored = _pg_stored(db_url) if db_url else _sqlite_stored(server.db)
        expected_events = n + n // 2 + 100
        if tuple(stored) != (expected_events, expected_events):
            raise SystemExit(f"dedupe failed: {stored} asset events stored, {expected_events} distinct posted")
    return rates


def _sqlite_stored(db: Path) -> tuple[int, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT json_extract(e.extra, '$.email_id')) FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id WHERE a.uri = ?",
            (URI,),
        ).fetchone()
    return int(row[0]), int(row[1])


def _pg_connect(url: str) -> Any:
    import psycopg2  # the postgres extra of Airflow

    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))


def _pg_declare_asset(url: str) -> None:
    with contextlib.closing(_pg_connect(url)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            'INSERT INTO asset (name, uri, "group", extra, created_at, updated_at) '
            "VALUES (%s, %s, '', '{}', now(), now())",
            (URI, URI),
        )
        cur.execute("INSERT INTO asset_active (name, uri) VALUES (%s, %s)", (URI, URI))


def _pg_stored(url: str) -> tuple[int, int]:
    with contextlib.closing(_pg_connect(url)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(DISTINCT e.extra->>'email_id') FROM asset_event e "
            "JOIN asset a ON a.id = e.asset_id WHERE a.uri = %s",
            (URI,),
        )
        row = cur.fetchone()
    return int(row[0]), int(row[1])


@contextlib.contextmanager
def postgres() -> Iterator[Callable[[str], str]]:
    """A throw-away PostgreSQL on a loopback port, with its default durability (fsync, synchronous
    commit: what "2xx only once durably recorded" pays); yields ``new_database(name) -> URL``."""
    initdbs = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not initdbs:
        raise SystemExit("--postgres needs PostgreSQL: bash scripts/install_system_packages.sh")
    pg_bin = initdbs[-1].parent
    user = "postgres" if os.geteuid() == 0 else None  # initdb refuses to run as root
    root = Path(tempfile.mkdtemp(prefix="smtp2go-webhook-pg-"))
    if user:
        shutil.chown(root, user, user)
    port = free_port()
    subprocess.run(
        [str(pg_bin / "initdb"), "-D", str(root / "data"), "-U", "airflow", "-A", "trust", "--no-sync"],
        check=True, capture_output=True, timeout=120, user=user, cwd=root,
    )  # fmt: skip
    argv = [str(pg_bin / "postgres"), "-D", str(root / "data"), "-c", "listen_addresses=127.0.0.1"]
    argv += ["-c", f"port={port}", "-c", f"unix_socket_directories={root}", "-c", "max_connections=200"]
    log = (root / "postgres.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, user=user, cwd=root, start_new_session=True)
    base = f"postgresql+psycopg2://airflow@127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                admin = _pg_connect(f"{base}/postgres")
                break
            except Exception:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("PostgreSQL did not start") from None
                time.sleep(0.3)
        admin.autocommit = True

        def new_database(name: str) -> str:
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE {name}")
            return f"{base}/{name}"

        yield new_database
        admin.close()
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


# -- (a) latency ----------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _queued_ats(db: Path) -> list[float]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT queued_at FROM dag_run WHERE dag_id = ? AND run_type = 'asset_triggered' ORDER BY id", (DAG_ID,)
        ).fetchall()
    return [datetime.fromisoformat(r[0]).replace(tzinfo=timezone.utc).timestamp() for r in rows]


def _recorded_at(db: Path, n: int) -> float | None:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute(
            "SELECT e.timestamp FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ? ORDER BY e.id",
            (URI,),
        ).fetchall()
    if len(rows) <= n:
        return None
    return datetime.fromisoformat(rows[n][0]).replace(tzinfo=timezone.utc).timestamp()


def latency(count: int) -> dict[str, list[float]]:
    """Per event: send -> DAG run queued (webhook path), its receiver share, and one poll's cost."""
    from airflow_provider_smtp2go.client import Email, Smtp2goClient
    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    out: dict[str, list[float]] = {"webhook": [], "receiver": [], "poll_call": []}
    with (
        deployment(("api-server", "scheduler", "dag-processor"), dag=CONSUMER_DAG) as server,
        Smtp2goSandbox() as sb,
        Smtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as smtp2go,
    ):
        deadline = time.monotonic() + 180
        while not _asset_active(server.db):
            if time.monotonic() > deadline:
                raise SystemExit("the dag-processor did not parse the consumer DAG")
            time.sleep(0.5)
        smtp2go.add_webhook(f"{server.base}/", events=["bounce"], auth_header_type="bearer", auth_header_value=TOKEN)
        for i in range(count):
            sent = time.time()
            smtp2go.send(
                Email(sender="ops@example.com", to=[f"b{i}+hard-bounce@example.com"], subject="x", text_body="x")
            )
            deadline = time.monotonic() + 120
            while len(queued := _queued_ats(server.db)) <= i:
                if time.monotonic() > deadline:
                    raise SystemExit(f"no DAG run for bounce {i}")
                time.sleep(0.01)
            recorded = _recorded_at(server.db, i) or queued[i]
            out["webhook"].append(queued[i] - sent)
            out["receiver"].append(recorded - sent)
            started = time.perf_counter()
            smtp2go.search_activity(event_types=["hard-bounced"])
            out["poll_call"].append(time.perf_counter() - started)
            time.sleep(random.uniform(0.0, 1.0))  # de-correlate the sends from the scheduler's loop
    return out


def _asset_active(db: Path) -> bool:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
            return bool(conn.execute("SELECT 1 FROM asset_active WHERE uri = ?", (URI,)).fetchall())
    except sqlite3.Error:
        return False


def polling_model(poll_call: list[float], to_run: list[float], samples: int = 20000) -> list[float]:
    """Latency of a 60 s poller: U(0, interval) + a measured poll call + a measured asset-event-to-run step."""
    rng = random.Random(7)
    return [rng.uniform(0.0, POLL_INTERVAL) + rng.choice(poll_call) + rng.choice(to_run) for _ in range(samples)]


# -- output ---------------------------------------------------------------------------------------


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(
            "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths, strict=True)))
        )


def print_ingest(runs: dict[str, dict[str, tuple[float, float]]], procs: int, threads: int, db: str) -> None:
    """Posts/s (wall, on this shared machine) and server CPU per post (what one worker's core can do)."""
    names = list(runs)
    print(f"\n(b) ingest, one api-server worker, {db}, {procs}x{threads} keep-alive posters")
    header: list[str] = ["phase"]
    for name in names:
        header += [f"{name} posts/s", f"{name} cpu ms/post", f"{name} posts/cpu-s"]
    if len(names) == 2:
        header += ["ratio posts/s", "ratio posts/cpu-s"]
    rows: list[tuple[str, ...]] = [tuple(header)]
    for phase in ("health", "refused", "new", "duplicate", "mixed"):
        cells = [phase]
        for name in names:
            rate, cpu_ms = runs[name][phase]
            cells += [f"{rate:.0f}", f"{cpu_ms:.2f}", f"{1000 / cpu_ms:.0f}" if cpu_ms else "-"]
        if len(names) == 2:
            (r0, c0), (r1, c1) = runs[names[0]][phase], runs[names[1]][phase]
            cells += [f"{r1 / r0:.2f}x", f"{c0 / c1:.2f}x" if c1 else "-"]
        rows.append(tuple(cells))
    print_table(rows)
    rate, cpu_ms = runs[names[-1]]["new"]
    health = runs[names[-1]]["health"][0]
    print(
        f"{names[-1]}: new events {rate:.0f}/s = {rate / 500:.2f}x the 500/s target "
        f"({1000 / cpu_ms:.0f}/s per CPU-second of the worker = {1000 / cpu_ms / 500:.2f}x); "
        f"the HTTP floor (GET /health) here is {health:.0f}/s"
    )


def run_ingest(
    db: str, events: int, procs: int, threads: int, *, baseline_src: str | None, baseline_settings: dict[str, str]
) -> None:
    """The ingest phases on ``db`` (``sqlite`` or ``postgres``), for the baseline (if any) then this tree."""
    if db not in ("sqlite", "postgres"):
        raise SystemExit(f"--db takes sqlite and/or postgres, not {db!r}")
    with contextlib.ExitStack() as stack:
        new_database = stack.enter_context(postgres()) if db == "postgres" else None
        runs = {}
        for name, src, settings in (("baseline", baseline_src, baseline_settings), ("this tree", None, {})):
            if name == "baseline" and not (src or settings):
                continue
            described = ", ".join([src or "this checkout", *(f"{k}={v}" for k, v in settings.items())])
            print(f"ingest on {db}: {name} ({described}) ...", flush=True)
            url = new_database(name.replace(" ", "_")) if new_database else None
            runs[name] = ingest(events, procs, threads, src, db_url=url, settings=settings)
    print_ingest(runs, procs, threads, "PostgreSQL (fsync and synchronous_commit on)" if db == "postgres" else "sqlite")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=3000, help="posts per ingest phase")
    parser.add_argument("--posters", default="4x16", help="poster processes x threads (default 4x16)")
    parser.add_argument("--latency-events", type=int, default=20)
    parser.add_argument("--baseline-src", help="a checkout whose provider to measure first (e.g. /work/baseline)")
    parser.add_argument(
        "--baseline-setting",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="an Airflow setting for the baseline's api-server (repeatable); without --baseline-src, "
        "the baseline is this tree with these settings",
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--db", default="sqlite", help="ingest databases, comma-separated: sqlite,postgres")
    args = parser.parse_args()
    procs, threads = (int(x) for x in args.posters.split("x"))
    if any("=" not in setting or "." not in setting.split("=", 1)[0] for setting in args.baseline_setting):
        raise SystemExit("--baseline-setting takes SECTION.KEY=VALUE, e.g. smtp2go.webhook_freeze_startup_heap=False")
    baseline_settings = dict(setting.split("=", 1) for setting in args.baseline_setting)

    if not args.skip_ingest:
        for db in args.db.split(","):
            run_ingest(
                db.strip(),
                args.events,
                procs,
                threads,
                baseline_src=args.baseline_src,
                baseline_settings=baseline_settings,
            )

    if not args.skip_latency:
        print(f"\nlatency: {args.latency_events} hard bounces, one at a time ...", flush=True)
        measured = latency(args.latency_events)
        to_run = [w - r for w, r in zip(measured["webhook"], measured["receiver"], strict=True)]
        modelled = polling_model(measured["poll_call"], to_run)
        print(f"\n(a) event -> DAG run queued, seconds ({args.latency_events} events)")
        rows = [("path", "p50", "p95", "how")]
        for name, values, how in (
            ("webhook", measured["webhook"], "measured: send -> sandbox POST -> receiver -> scheduler"),
            ("  of which receiver", measured["receiver"], "measured: send -> asset event committed"),
            (
                f"polling {POLL_INTERVAL:.0f} s",
                modelled,
                "modelled: U(0,60) + measured poll call + measured event->run",
            ),
        ):
            rows.append((name, f"{_pct(values, 0.5):.3f}", f"{_pct(values, 0.95):.3f}", how))
        print_table(rows)
        p50 = _pct(modelled, 0.5) / _pct(measured["webhook"], 0.5)
        p95 = _pct(modelled, 0.95) / _pct(measured["webhook"], 0.95)
        call_ms = statistics.median(measured["poll_call"]) * 1000
        print(f"ratio polling/webhook: p50 {p50:.0f}x, p95 {p95:.0f}x (one poll call: p50 {call_ms:.1f} ms)")


if __name__ == "__main__":
    main()
