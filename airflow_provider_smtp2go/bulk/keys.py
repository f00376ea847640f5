"""Stable per-row idempotency keys: the identity of "this email, for this row, from this task".

A key is a hash of three things, so it survives an Airflow retry (a new process, a new try
number) but changes when anything that shapes the email changes:

- the task identity (``namespace``: dag, task, run and map index; never the try number);
- the message template (its fingerprint: sender, subject, bodies, template id...);
- the row's content (canonical JSON: key order and whitespace do not matter).

The key is sent with the email as the custom header ``X-Smtp2go-Idempotency-Key``; SMTP2GO
has no idempotency of its own, but the header shows up in activity events, which is how an
ambiguous send is later proven sent.

>>> a = idempotency_key("dag/task/run/-1", "tpl", {"email": "a@example.com", "n": 1})
>>> a == idempotency_key("dag/task/run/-1", "tpl", {"n": 1, "email": "a@example.com"})
True
>>> len(a)
32
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

IDEMPOTENCY_HEADER = "X-Smtp2go-Idempotency-Key"
KEY_LENGTH = 32  # 128 bits of sha256: collisions are not a practical concern at any row count


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; non-JSON values (dates, decimals) as ``str``."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(value: Any) -> str:
    """A short content hash of any JSON-able value (used for templates and rows)."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:KEY_LENGTH]


def idempotency_key(namespace: str, template_fingerprint: str, row: Mapping[str, Any]) -> str:
    """The key of one row: hash(namespace, template fingerprint, row content)."""
    material = canonical_json([namespace, template_fingerprint, row])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:KEY_LENGTH]
