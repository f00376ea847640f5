"""Full activity events carried inside a trigger event, sealed with Airflow's Fernet key.

Why. Airflow logs every trigger event's payload at INFO ("Trigger fired event"), so the
payload in the clear holds ids, event types and dates only. The sensor used to read the full
events (recipient, SMTP response...) back with one ``/activity/search`` per resumed task: 100
sensors resuming together spent 100 calls of the account's 60 a minute and got 429s. The
trigger has the full events in hand when it fires, so it now carries them, encrypted with
the Fernet key Airflow already uses for connections and trigger kwargs: the log line shows
ciphertext, and the resumed task needs no SMTP2GO call.

Every process of a deployment must share ``[core] fernet_key`` already (workers decrypt the
connections the scheduler stored), so this asks nothing new. Without a key (Airflow then
stores secrets unencrypted and says so) nothing is sealed and the sensor falls back to the
read-back; a token that does not open (another key) falls back the same way.

>>> seal({"events": []}, fernet=None) is None
True
>>> unseal(None) is None
True
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: The payload key that holds the sealed full events.
SEALED_KEY = "sealed_details"


class _Fernet(Protocol):
    is_encrypted: bool

    def encrypt(self, msg: bytes) -> bytes: ...

    def decrypt(self, msg: bytes | str) -> bytes: ...


def airflow_fernet() -> _Fernet | None:
    """Airflow's Fernet, or None when no key is configured (or it cannot be loaded)."""
    try:
        try:
            from airflow.sdk.crypto import get_fernet  # noqa: PLC0415  (Airflow 3)
        except ImportError:  # Airflow 2.11
            from airflow.models.crypto import get_fernet  # noqa: PLC0415
        fernet: _Fernet = get_fernet()
    except Exception as exc:  # a bad key must not fail the wait: the read-back still works
        log.warning("Airflow's Fernet key cannot be used (%s); SMTP2GO event details are not sealed", exc)
        return None
    return fernet if getattr(fernet, "is_encrypted", False) else None


def seal(details: dict[str, Any], *, fernet: _Fernet | None) -> str | None:
    """``details`` as a Fernet token (text), or None without a real key."""
    if fernet is None:
        return None
    return fernet.encrypt(json.dumps(details, separators=(",", ":")).encode("utf-8")).decode("ascii")


def unseal(token: Any, *, fernet: _Fernet | None = None) -> dict[str, Any] | None:
    """The details sealed in ``token``, or None when absent or unreadable (the caller reads back)."""
    if not isinstance(token, str) or not token:
        return None
    fernet = fernet or airflow_fernet()
    if fernet is None:
        return None
    try:
        value = json.loads(fernet.decrypt(token.encode("ascii")))
    except Exception:  # another key, or a damaged token: the caller reads the events back
        log.warning("The SMTP2GO trigger's sealed event details do not open with this Fernet key; reading back")
        return None
    return value if isinstance(value, dict) else None
