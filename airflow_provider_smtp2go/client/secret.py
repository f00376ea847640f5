"""``Secret``: a value (the API key) that never shows in ``repr``, ``str``, pickles or copies.

>>> key = Secret("api-0123456789ABCDEF")
>>> key, str(key), f"{key}"
(Secret('***'), '***', '***')
>>> key.reveal()
'api-0123456789ABCDEF'
>>> import pickle
>>> pickle.dumps(key)
Traceback (most recent call last):
...
TypeError: a Secret (an API key) cannot be pickled: pickles end up in XCom, caches and logs
"""

from __future__ import annotations

import hmac
from typing import Any

from airflow_provider_smtp2go.client.redaction import REDACTED


class Secret:
    """Holds a secret string; only ``reveal()`` returns it.

    ``copy``/``deepcopy`` return the same object, so ``dataclasses.asdict`` of a settings
    object holding one yields the ``Secret`` itself (still opaque), never the text.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret holds a string")
        self._value = value

    def reveal(self) -> str:
        """The secret itself: for the request header, and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret (an API key) cannot be pickled: pickles end up in XCom, caches and logs")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self
