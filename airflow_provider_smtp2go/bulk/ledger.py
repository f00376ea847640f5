"""Durable per-row progress: what happened to each idempotency key, surviving crashes and retries.

The ledger is an append-only log of *segments* (each a JSON list of records); replaying the
segments in order gives the latest state of every key. Append-only makes every backend easy:
a directory of files (local disk or object storage, where objects cannot be appended to) or
Airflow 3.3+'s task state store (one key per segment).

The rule that makes "never twice" hold: a row is written as ``pending`` **before** its request
leaves (one write covers a whole dispatch batch), and as ``sent``/``failed``/... after. A crash
between the two leaves ``pending`` rows, which the next try reconciles against SMTP2GO's
activity log instead of resending blindly.

>>> import tempfile
>>> ledger = Ledger(DirectoryLedgerStore(tempfile.mkdtemp()))
>>> ledger.mark_pending({"k1": 0})
>>> ledger.record("k1", RowState.SENT, email_id="1abc")
>>> ledger.flush()
>>> Ledger(ledger.store).load().get("k1").state
<RowState.SENT: 'sent'>
"""

from __future__ import annotations

import enum
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

SEGMENT_PATTERN = re.compile(r"^segment-(\d{8})\.json$")


class RowState(str, enum.Enum):
    """A row's durable state."""

    PENDING = "pending"  # about to be sent (or in flight): outcome unknown if we crash now
    SENT = "sent"  # SMTP2GO accepted it: never send again
    FAILED = "failed"  # permanently rejected (4xx, 200-with-failure): sending again cannot help
    RETRYABLE = "retryable"  # transient failure, nothing delivered: the next try sends it
    AMBIGUOUS = "ambiguous"  # the request left but no answer came: reconcile before resending

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class LedgerEntry:
    """The latest record of one key."""

    key: str
    state: RowState
    index: int | None = None
    email_id: str | None = None
    reason: str | None = None
    at: float = 0.0  # wall-clock seconds of the record (when the intent/outcome was logged)
    pending_since: float | None = None  # when the row last became pending (for reconcile windows)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"k": self.key, "s": self.state.value, "t": round(self.at, 3)}
        for short, value in (("i", self.index), ("e", self.email_id), ("r", self.reason), ("p", self.pending_since)):
            if value is not None:
                record[short] = value
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LedgerEntry:
        return cls(
            key=str(record["k"]),
            state=RowState(record["s"]),
            index=record.get("i"),
            email_id=record.get("e"),
            reason=record.get("r"),
            at=float(record.get("t", 0.0)),
            pending_since=record.get("p"),
        )


class LedgerStore(Protocol):
    """Where segments live. ``append_segment`` must be durable when it returns."""

    description: str

    def load_segments(self) -> Iterator[list[dict[str, Any]]]: ...

    def append_segment(self, records: list[dict[str, Any]]) -> None: ...


class DirectoryLedgerStore:
    """Segments as files ``segment-00000001.json`` in a directory.

    ``path`` is a local directory (``str``/``Path``: written to a temp file, fsynced, then
    renamed, so a crash never leaves a half segment) or an ``ObjectStoragePath``-like object
    (each segment is one object; object stores publish a put atomically).
    """

    def __init__(self, path: Any) -> None:
        # ObjectStoragePath is PathLike too, but only a plain str/Path is the local disk.
        self._local = isinstance(path, str) or type(path) is type(Path())
        self.path: Any = Path(path) if self._local else path
        self.description = f"ledger directory {self.path}"
        self._next = 1

    def _names(self) -> list[tuple[int, Any]]:
        if not self.path.exists():
            return []
        found = []
        for child in self.path.iterdir():
            match = SEGMENT_PATTERN.match(child.name)
            if match:
                found.append((int(match.group(1)), child))
        return sorted(found, key=lambda item: item[0])

    def load_segments(self) -> Iterator[list[dict[str, Any]]]:
        for seq, child in self._names():
            self._next = max(self._next, seq + 1)
            with child.open("rb") as handle:
                data = handle.read()
            yield json.loads(data)

    def append_segment(self, records: list[dict[str, Any]]) -> None:
        if self._next == 1:
            names = self._names()
            self._next = names[-1][0] + 1 if names else 1
        name = f"segment-{self._next:08d}.json"
        data = json.dumps(records, separators=(",", ":")).encode("utf-8")
        if self._local:
            self.path.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".segment-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.path / name)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            _fsync_dir(self.path)
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            with (self.path / name).open("wb") as handle:
                handle.write(data)
        self._next += 1


def _fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry is; not possible on every platform.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class KeyValueLedgerStore:
    """Segments as keys ``<prefix>/<n>`` of a JSON key-value store with ``get``/``set``.

    Made for Airflow 3.3+'s ``context["task_state_store"]``, which is scoped to (dag, run,
    task, map index) and therefore shared by every try of the task instance.
    """

    def __init__(self, kv: Any, prefix: str = "smtp2go_bulk/ledger") -> None:
        self.kv = kv
        self.prefix = prefix.rstrip("/")
        self.description = f"task state store keys {self.prefix}/<n>"
        self._next = 0
        self._loaded = False

    def load_segments(self) -> Iterator[list[dict[str, Any]]]:
        seq = 0
        while True:
            value = self.kv.get(f"{self.prefix}/{seq}", None)
            if value is None:
                break
            yield list(value)
            seq += 1
        self._next, self._loaded = seq, True

    def append_segment(self, records: list[dict[str, Any]]) -> None:
        if not self._loaded:
            for _ in self.load_segments():
                pass
        self.kv.set(f"{self.prefix}/{self._next}", records)
        self._next += 1


class Ledger:
    """The in-memory view of a ``LedgerStore`` plus a buffer of records not yet written.

    Not thread-safe by design: the bulk sender's dispatcher thread is its only user.
    """

    def __init__(self, store: LedgerStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock
        self._entries: dict[str, LedgerEntry] = {}
        self._buffer: list[dict[str, Any]] = []
        self.segments_written = 0

    def load(self) -> Ledger:
        """Replay every stored segment (later records win)."""
        for segment in self.store.load_segments():
            for record in segment:
                entry = LedgerEntry.from_record(record)
                self._entries[entry.key] = entry
        return self

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> LedgerEntry | None:
        return self._entries.get(key)

    def entries(self) -> list[LedgerEntry]:
        return list(self._entries.values())

    def record(
        self,
        key: str,
        state: RowState,
        *,
        index: int | None = None,
        email_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Buffer an outcome; it is durable after the next ``flush``."""
        previous = self._entries.get(key)
        now = self._clock()
        entry = LedgerEntry(
            key=key,
            state=state,
            index=index if index is not None else (previous.index if previous else None),
            email_id=email_id,
            reason=reason,
            at=now,
            pending_since=(
                now if state is RowState.PENDING else (previous.pending_since if previous is not None else None)
            ),
        )
        self._entries[key] = entry
        self._buffer.append(entry.to_record())

    def mark_pending(self, rows: Mapping[str, int]) -> None:
        """Durably record intent to send ``{key: index}`` (call before the requests leave)."""
        for key, index in rows.items():
            self.record(key, RowState.PENDING, index=index)
        self.flush()

    def flush(self) -> None:
        """Write buffered records as one segment (no-op when nothing is buffered)."""
        if not self._buffer:
            return
        self.store.append_segment(self._buffer)
        self._buffer = []
        self.segments_written += 1
