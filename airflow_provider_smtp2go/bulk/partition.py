"""Split one bulk send into parts for dynamic task mapping, with the account's rate cap divided.

One ``Smtp2goBulkSendOperator`` task sends thousands of rows from one worker. To spread a
mailing over several workers (CeleryExecutor, KubernetesExecutor), map the operator over parts
of the rows: ``partition_rows`` returns one ``expand_kwargs`` entry per part, and divides
``max_per_second`` / ``max_per_hour`` evenly between them, so the parts together never exceed
the cap you would have given one task, however many of them run at once.

>>> parts = partition_rows([{"email": f"u{i}@example.com"} for i in range(10)], 4, max_per_second=40)
>>> [len(p["rows"]) for p in parts], [p["max_per_second"] for p in parts]
([3, 3, 2, 2], [10.0, 10.0, 10.0, 10.0])

In a DAG (each part is its own task instance: its own try number, idempotency keys and ledger)::

    @task
    def split(rows):
        return partition_rows(rows, 8, max_per_second=40, by="email")

    Smtp2goBulkSendOperator.partial(task_id="send", subject="Hi {{ name }}", text_body="...",
                                    retries=3).expand_kwargs(split(fetch_recipients()))

**Keep the split stable.** A row's idempotency key includes its part (the map index), so a row
that moved to another part between two runs of the *upstream* task (a cleared split, a source
that returns rows in a new order) would no longer be recognised as sent. Retries of the send
tasks are always safe: they read the split that the upstream task already pushed. When the
upstream may run again, pass ``by`` (a field such as the address): each row's part then
depends on that value alone, not on the order of the rows.

**Headroom.** Each part spaces its own requests (``RateCap``, one token of burst), so SMTP2GO
sees the parts' sum on average, but within one second it can see up to ``concurrency`` more per
part: a part whose requests were held up (a slow answer, a busy worker) sends the ones it has
in flight together. In any 1-second window at most ``max_per_second + parts * concurrency``
arrive; under a hard limit ``L``, pass ``max_per_second=L - parts * concurrency``
(``tests/e2e_distributed`` measures this on two Celery workers).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any


def partition_rows(
    rows: Sequence[Mapping[str, Any]],
    parts: int,
    *,
    max_per_second: float | None = None,
    max_per_hour: float | None = None,
    by: str | None = None,
) -> list[dict[str, Any]]:
    """Split ``rows`` into at most ``parts`` parts, each with its share of the rate caps.

    :param rows: the rows of the whole mailing (mappings, as ``Smtp2goBulkSendOperator`` takes them).
    :param parts: how many parts (mapped tasks). Without ``by``, fewer when there are fewer rows
        (no part is empty); with ``by``, exactly ``parts`` (a row's part is its map index, so
        none is dropped, and a part may be empty).
    :param max_per_second: the cap for the whole mailing, divided evenly between the parts.
    :param max_per_hour: likewise, per hour (SMTP2GO's default account limit is 200,000).
    :param by: a field whose value alone decides a row's part (stable whatever the row order);
        without it, the rows are cut into contiguous slices in their given order.
    :return: one dict per part for ``.expand_kwargs()``: ``rows`` and, when given, the caps.

    >>> rows = [{"email": "a@example.com"}, {"email": "b@example.com"}, {"email": "c@example.com"}]
    >>> def emails(parts): return [sorted(r["email"] for r in p["rows"]) for p in parts]
    >>> emails(partition_rows(rows, 2, by="email")) == emails(partition_rows(rows[::-1], 2, by="email"))
    True
    >>> [p["max_per_hour"] for p in partition_rows(rows, 8, max_per_hour=3600)]  # three rows, three parts
    [1200.0, 1200.0, 1200.0]
    >>> len(partition_rows(rows, 8, by="email"))
    8
    """
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
        raise ValueError(f"parts must be a positive integer, not {parts!r}")
    for name, cap in (("max_per_second", max_per_second), ("max_per_hour", max_per_hour)):
        if cap is not None and not cap > 0:
            raise ValueError(f"{name} must be positive, not {cap!r}")
    rows = list(rows)
    chunks = _slices(rows, min(parts, len(rows)) or 1) if by is None else _hashed(rows, parts, by)
    count = len(chunks)
    result = []
    for chunk in chunks:
        part: dict[str, Any] = {"rows": chunk}
        if max_per_second is not None:
            part["max_per_second"] = max_per_second / count
        if max_per_hour is not None:
            part["max_per_hour"] = max_per_hour / count
        result.append(part)
    return result


def _slices(rows: list[Mapping[str, Any]], parts: int) -> list[list[Mapping[str, Any]]]:
    """``parts`` contiguous slices whose sizes differ by at most one."""
    size, extra = divmod(len(rows), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(rows[start:end])
        start = end
    return out


def _hashed(rows: list[Mapping[str, Any]], parts: int, by: str) -> list[list[Mapping[str, Any]]]:
    out: list[list[Mapping[str, Any]]] = [[] for _ in range(parts)]
    for index, row in enumerate(rows):
        if by not in row:
            raise ValueError(f"row {index} has no field {by!r} to partition by")
        digest = hashlib.sha256(str(row[by]).encode("utf-8")).digest()
        out[int.from_bytes(digest[:8], "big") % parts].append(row)
    return out
