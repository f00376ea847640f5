"""Removing secrets (the API key) from any text the client, or a log handler, passes on.

The rule: every occurrence of a secret goes, and so does every run of ``MIN_FRAGMENT`` (8) or
more consecutive characters of it, anywhere in the text. A fragment that long would narrow the
key down (or, cut by a length limit, leave most of it), so it is treated as the key itself.
Matching is case-sensitive: API keys are.

Run it on *decoded* text (a JSON ``\\u`` escape hides the key from a byte search), and cut long
text only *after* redacting (a cut can leave a fragment that no longer matches the whole key).

>>> key = "api-0123456789ABCDEF"
>>> redact("bad key api-0123456789ABCDEF, or rather 89ABCDEF?", key)
'bad key ***, or rather ***?'
>>> redact_obj({"errors": [{"api_key": "api-01234567"}]}, key)
{'errors': [{'api_key': '***'}]}
>>> redact("api-012", key)  # seven characters or fewer are left alone
'api-012'
"""

from __future__ import annotations

import functools
from typing import Any

#: Runs of a secret at least this long are removed, wherever they appear.
MIN_FRAGMENT = 8
#: What a removed secret (or fragment of one) is replaced with.
REDACTED = "***"


@functools.lru_cache(maxsize=32)
def _windows(secrets: tuple[str, ...]) -> tuple[str, ...]:
    """Every window of ``MIN_FRAGMENT`` characters of each secret (a shorter secret: itself).

    Any run of 8+ characters of a secret is covered by such windows, so finding every window
    finds every run.
    """
    windows: set[str] = set()
    for secret in secrets:
        size = min(MIN_FRAGMENT, len(secret))
        windows.update(secret[i : i + size] for i in range(len(secret) - size + 1))
    return tuple(windows)


def contains_secret(text: str, *secrets: str | None) -> bool:
    """True when ``text`` holds a secret or a run of 8+ of its characters (a cheap pre-check).

    >>> contains_secret("...0123456789...", "api-0123456789ABCDEF"), contains_secret("hello", "api-0123456789")
    (True, False)
    """
    return any(window in text for window in _windows(tuple(s for s in secrets if s)))


def redact(text: str, *secrets: str | None) -> str:
    """``text`` without any of ``secrets``, nor any run of 8+ characters of one (see module doc).

    Empty or ``None`` secrets are ignored, so ``redact(text, maybe_key)`` is always safe.

    >>> redact("key=SECRET-KEY-1234 end", "SECRET-KEY-1234")
    'key=*** end'
    """
    if not text:
        return text
    spans: list[tuple[int, int]] = []
    for window in _windows(tuple(s for s in secrets if s)):
        at = text.find(window)
        while at != -1:
            spans.append((at, at + len(window)))
            at = text.find(window, at + 1)
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:  # overlapping or touching windows: one run
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    position = 0
    for start, end in merged:
        parts.extend((text[position:start], REDACTED))
        position = end
    parts.append(text[position:])
    return "".join(parts)


def redact_obj(value: Any, *secrets: str | None) -> Any:
    """``value`` (decoded JSON: dicts, lists, strings...) with every string redacted, keys included.

    >>> redact_obj({"SECRET-KEY-1234": ["SECRET-KEY-1234", 3]}, "SECRET-KEY-1234")
    {'***': ['***', 3]}
    """
    if not any(secrets):
        return value
    if isinstance(value, str):
        return redact(value, *secrets)
    if isinstance(value, list | tuple):
        return [redact_obj(v, *secrets) for v in value]
    if isinstance(value, dict):
        return {redact_obj(k, *secrets): redact_obj(v, *secrets) for k, v in value.items()}
    return value


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis: only ever *after* ``redact``.

    >>> cut("abcdef", 4)
    'abc…'
    """
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
