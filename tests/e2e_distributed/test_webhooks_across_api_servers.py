"""Two api-servers on one PostgreSQL receive the same webhooks at the same moment: each event is recorded once.

README promises that the dedupe holds "even across several api-server replicas (the
database's primary key decides)".  Here two more ``airflow api-server`` processes, each with
its own home and the provider's plugin, share the stack's PostgreSQL.  Every one of 300 hard
bounces is posted to both at once (SMTP2GO retrying on a timeout while the first attempt is
still being recorded looks like this behind a load balancer), then once more to each as a late
retry.  An answer that is not 2xx is posted again, as SMTP2GO would.

What must hold: exactly 300 asset events and 300 receipts, one per bounce; every post answered
(``created`` summing to 300 over both servers, the rest duplicates); both servers recorded some
(else one replica did all the work and nothing raced); the secret in neither log.
"""

from __future__ import annotations

import http.client
import json
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from e2e_stack import api_healthy, free_port, stop_groups

from airflow_provider_smtp2go.sandbox.webhook_payloads import encode

from .conftest import STARTUP_TIMEOUT, DistributedStack

BOUNCES = 300
PREFIX = "/smtp2go/webhooks"
URI = "smtp2go://default/hard-bounced"
REPLICAS = ("api-webhooks-a", "api-webhooks-b")
#: How often a post is sent again after a non-2xx answer (SMTP2GO retries for ~48 h).
RETRIES = 20


def bounce(i: int) -> tuple[str, bytes]:
    """(Content-Type, body) of hard bounce ``i`` as SMTP2GO form-posts it (the sandbox's encoder)."""
    return encode(
        [
            ("event", "bounce"),
            ("bounce", "hard"),
            ("time", "2026-11-26T10:00:00Z"),
            ("sendtime", "2026-11-26T09:59:59.000000+00:00"),
            ("email_id", f"replicas-{i:05d}"),
            ("id", secrets.token_hex(16)),
            ("rcpt", f"user{i}@example.com"),
            ("sender", "ops@example.com"),
            ("subject", "Invoice"),
        ],
        "form",
    )


@pytest.fixture
def replicas(dist_stack: DistributedStack) -> Iterator[tuple[str, dict[str, int]]]:
    """Two extra api-servers with the webhook secret; stopped (and forgotten) afterwards."""
    token = "whk-" + secrets.token_hex(16)
    conn = {"AIRFLOW_CONN_SMTP2GO_WEBHOOK": json.dumps({"conn_type": "generic", "password": token})}
    ports = {name: free_port() for name in REPLICAS}
    try:
        for name, port in ports.items():
            dist_stack.start(name, ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"], conn)
        for name, port in ports.items():
            healthy = partial(api_healthy, f"http://127.0.0.1:{port}")  # plugins are mounted before it answers
            dist_stack.wait_for(f"{name} to be healthy", healthy, timeout=STARTUP_TIMEOUT)
        yield token, ports
    finally:
        stopped = [c for c in (dist_stack.components.pop(name, None) for name in REPLICAS) if c is not None]
        stop_groups((c.process for c in stopped), (c.home for c in stopped))


def test_two_api_servers_record_each_event_once(
    dist_stack: DistributedStack, replicas: tuple[str, dict[str, int]]
) -> None:
    token, ports = replicas
    posts_of = [bounce(i) for i in range(BOUNCES)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": posts_of[0][0]}
    bodies = [body for _, body in posts_of]
    local = threading.local()
    answers: dict[str, list[int]] = {"created": [], "duplicates": [], "retried": []}
    created_by = dict.fromkeys(REPLICAS, 0)
    lock = threading.Lock()

    def post(name: str, i: int) -> None:
        connections = local.__dict__.setdefault("connections", {})
        for attempt in range(RETRIES + 1):
            if name not in connections:
                connections[name] = http.client.HTTPConnection("127.0.0.1", ports[name], timeout=30)
            try:
                connections[name].request("POST", f"{PREFIX}/", body=bodies[i], headers=headers)
                response = connections[name].getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                connections.pop(name).close()  # SMTP2GO treats a dropped answer as a failure
                status, payload = 0, b""
            else:
                status = response.status
            if status == 200:
                answer = json.loads(payload)
                with lock:
                    answers["created"].append(answer["created"])
                    answers["duplicates"].append(answer["duplicates"])
                    answers["retried"].append(attempt)
                    created_by[name] += answer["created"]
                return
            time.sleep(0.2 * (attempt + 1))
        raise AssertionError(f"{name} never took bounce {i}: last answer {status} {payload[:200]!r}")

    # Each bounce to both replicas at the same moment, then once more to each (a late retry).
    jobs = [(name, i) for i in range(BOUNCES) for name in REPLICAS]
    jobs += [(name, i) for i in reversed(range(BOUNCES)) for name in REPLICAS]
    with ThreadPoolExecutor(max_workers=32) as pool:
        for future in [pool.submit(post, name, i) for name, i in jobs]:
            future.result(timeout=600)

    posts = len(jobs)
    stored = dist_stack.query(
        "SELECT count(*), count(DISTINCT e.extra->>'email_id') FROM asset_event e "
        "JOIN asset a ON a.id = e.asset_id WHERE a.uri = %s",
        (URI,),
    )[0]
    receipts = dist_stack.query("SELECT count(*) FROM smtp2go_webhook_receipt WHERE email_id LIKE 'replicas-%%'")[0]
    retried = sum(1 for attempts in answers["retried"] if attempts)
    # How often the replicas really raced: PostgreSQL logs each refused duplicate receipt.
    raced = (dist_stack.root / "postgres.log").read_text(errors="replace").count("smtp2go_webhook_receipt_pkey")
    print(
        f"\n{posts} posts to 2 api-servers: created per server {created_by}; {raced} receipt claims lost a race "
        f"and were retried; {retried} posts needed a second post"
    )
    assert len(answers["created"]) == posts
    assert sum(answers["created"]) == BOUNCES and sum(answers["duplicates"]) == posts - BOUNCES
    assert tuple(stored) == (BOUNCES, BOUNCES)
    assert receipts == (BOUNCES,)
    assert all(created_by[name] > 0 for name in REPLICAS), created_by
    for name in REPLICAS:
        log = dist_stack.components[name].log_path.read_text(errors="replace")
        assert token not in log
