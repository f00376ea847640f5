"""Durable per-row progress that notices when it has been damaged, instead of forgetting.

The ledger is an append-only chain of *segments*, each a batch of records (``key ->
outcome``), plus one *head* record. Replaying the segments in order gives every key's latest
outcome. Append-only makes every backend easy: a directory of files (local disk or object
storage, where objects cannot be appended to) or Airflow 3.3+'s task state store.

The rule that makes "never twice" hold: a row is written as ``pending`` **before** its request
leaves (one write covers a whole dispatch batch), and as ``sent``/``failed``/... after. A crash
between the two leaves ``pending`` rows, which the next try looks up in SMTP2GO's activity log
instead of resending blindly.

A ledger that lost part of itself would look like a shorter history, and rows it forgot would
be sent again. So every piece is checked on load, and any damage is refused with
``Smtp2goLedgerError`` naming the store and the item:

- each segment carries its sequence number, the checksum of the segment before it and its own
  checksum: a deleted middle segment (a gap), an edited or emptied one (``[]``), a truncated or
  garbage file all fail the check;
- the head records the last segment's number, its checksum and the count of records so far;
  it is rewritten after each segment, so losing the newest segments, or every segment, shows;
- ``begin`` writes the head before the first request leaves, so the store records that a run
  started, and which attempt (Airflow's try number) last wrote it. A store with no ledger at
  all is the one case a store cannot tell from a first run, and a ledger last written two or
  more attempts ago may have missed what an attempt in between sent elsewhere; the caller says
  which attempt this is (``run_bulk_send(attempt=...)``) and the job looks such rows up.

>>> import tempfile
>>> ledger = Ledger(DirectoryLedgerStore(tempfile.mkdtemp())).load()
>>> ledger.mark_pending({"k1": 0})
>>> ledger.record("k1", Outcome.SENT, email_id="1abc")
>>> ledger.flush()
>>> Ledger(ledger.store).load().get("k1").outcome
<Outcome.SENT: 'sent'>
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from airflow_provider_smtp2go.bulk.outcome import Outcome, transition
from airflow_provider_smtp2go.client.errors import Smtp2goError

SEGMENT_PATTERN = re.compile(r"^segment-(\d{8})\.json$")
HEAD_NAME = "head.json"
#: Marks ledger items (and their layout version); anything else in the store is refused.
FORMAT = "smtp2go-bulk-ledger/2"
_DURABLE = frozenset(o for o in Outcome if o not in (Outcome.ALREADY_SENT, Outcome.INVALID))
_RECOVERY = (
    "Nothing was sent. The ledger is how this job knows which rows already went out, so a damaged "
    "one is not trusted. Move it aside (keep it: it is evidence) and run the task again: a retry that "
    "finds no ledger proves every row sent or unsent through SMTP2GO's activity log before sending "
    "anything, and reports the rows it cannot prove as unknown."
)


class Smtp2goLedgerError(Smtp2goError):
    """The bulk ledger is damaged or incomplete; ``store`` and ``item`` say where.

    Raised before any row is sent. Retrying cannot repair it: a person must look (see the
    message for how to recover without sending anything twice).
    """

    def __init__(self, store: str, item: str, problem: str) -> None:
        self.store = store
        self.item = item
        self.problem = problem
        super().__init__(f"{store}: {item}: {problem}. {_RECOVERY}")


@dataclass(frozen=True)
class LedgerEntry:
    """The latest record of one key."""

    key: str
    outcome: Outcome
    index: int | None = None
    email_id: str | None = None
    reason: str | None = None
    at: float = 0.0  # wall-clock seconds of the record (when the intent/outcome was logged)
    pending_since: float | None = None  # when the row last became pending (reconcile windows start there)
    schedule_id: str | None = None  # a scheduled row's id (to list or cancel it)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"k": self.key, "s": self.outcome.value, "t": round(self.at, 3)}
        fields = (
            ("i", self.index),
            ("e", self.email_id),
            ("r", self.reason),
            ("p", self.pending_since),
            ("sc", self.schedule_id),
        )
        for short, value in fields:
            if value is not None:
                record[short] = value
        return record

    @classmethod
    def from_record(cls, record: object) -> LedgerEntry:
        """Read one record; ``ValueError`` names what is wrong with it."""
        if not isinstance(record, Mapping):
            raise ValueError(f"a record is a {type(record).__name__}, not an object")
        key, state = record.get("k"), record.get("s")
        if not isinstance(key, str) or not key:
            raise ValueError("a record has no key")
        if state not in {o.value for o in _DURABLE}:
            raise ValueError(f"record {key}: unknown outcome {state!r}")
        index, email_id, reason, schedule_id = record.get("i"), record.get("e"), record.get("r"), record.get("sc")
        at, since = record.get("t", 0.0), record.get("p")
        if index is not None and (isinstance(index, bool) or not isinstance(index, int)):
            raise ValueError(f"record {key}: index {index!r} is not a whole number")
        if not all(v is None or isinstance(v, str) for v in (email_id, reason, schedule_id)):
            raise ValueError(f"record {key}: email_id, reason and schedule_id must be strings")
        if not all(v is None or _is_time(v) for v in (at, since)):
            raise ValueError(f"record {key}: times must be finite numbers")
        pending_since = None if since is None else float(since)
        return cls(key, Outcome(state), index, email_id, reason, float(at or 0.0), pending_since, schedule_id)


def _is_time(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class LedgerStore(Protocol):
    """Where the head and the segments live; the ledger checks everything it reads.

    ``read_*`` return the stored JSON value, ``None`` when absent, and raise
    ``Smtp2goLedgerError`` when the item is there but cannot be read. ``write_*`` are durable
    when they return.
    """

    description: str

    def read_head(self) -> object | None: ...

    def write_head(self, value: dict[str, Any]) -> None: ...

    def read_segment(self, seq: int) -> object | None: ...

    def write_segment(self, seq: int, value: dict[str, Any]) -> None: ...

    def segment_numbers(self) -> list[int] | None:
        """Every segment present, when the store can list them (``None``: it cannot)."""
        ...

    def locate(self, seq: int | None) -> str:
        """Where segment ``seq`` (``None``: the head) lives, for error messages."""
        ...


class DirectoryLedgerStore:
    """The ledger as files ``head.json`` and ``segment-00000001.json``... in a directory.

    ``path`` is a local directory (``str``/``Path``: each file is written to a temp file,
    fsynced, then renamed, so a crash never leaves half a file) or an ``ObjectStoragePath``-like
    object (each file is one object; object stores publish a put atomically).
    """

    def __init__(self, path: Any) -> None:
        # ObjectStoragePath is PathLike too, but only a plain str/Path is the local disk.
        self._local = isinstance(path, str) or type(path) is type(Path())
        self.path: Any = Path(path) if self._local else path
        self.description = f"ledger directory {self.path}"

    def locate(self, seq: int | None) -> str:
        return str(self.path / _file_name(seq))

    def segment_numbers(self) -> list[int] | None:
        if not self.path.exists():
            return []
        found = [SEGMENT_PATTERN.match(child.name) for child in self.path.iterdir()]
        return sorted(int(match.group(1)) for match in found if match)

    def read_head(self) -> object | None:
        return self._read(None)

    def read_segment(self, seq: int) -> object | None:
        return self._read(seq)

    def write_head(self, value: dict[str, Any]) -> None:
        self._write(_file_name(None), value)

    def write_segment(self, seq: int, value: dict[str, Any]) -> None:
        self._write(_file_name(seq), value)

    def _read(self, seq: int | None) -> object | None:
        target = self.path / _file_name(seq)
        try:
            if not target.exists():
                return None
            with target.open("rb") as handle:
                data = handle.read()
            value: object = json.loads(data.decode("utf-8"))
            return value
        except OSError as exc:
            raise Smtp2goLedgerError(self.description, str(target), f"cannot be read ({exc})") from None
        except UnicodeDecodeError:
            raise Smtp2goLedgerError(self.description, str(target), "is not UTF-8 text (garbage)") from None
        except ValueError as exc:
            raise Smtp2goLedgerError(self.description, str(target), f"is not JSON (truncated?): {exc}") from None

    def _write(self, name: str, value: dict[str, Any]) -> None:
        data = json.dumps(value, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self.path.mkdir(parents=True, exist_ok=True)
        if not self._local:
            with (self.path / name).open("wb") as handle:
                handle.write(data)
            return
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}-", suffix=".tmp")
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


def _file_name(seq: int | None) -> str:
    return HEAD_NAME if seq is None else f"segment-{seq:08d}.json"


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
    """The ledger as keys ``<prefix>/head`` and ``<prefix>/<n>`` of a JSON store with ``get``/``set``.

    Made for Airflow 3.3+'s ``context["task_state_store"]``, which is scoped to (dag, run,
    task, map index) and therefore shared by every try of the task instance. It cannot list
    its keys, so the head is what tells a missing segment from the end of the ledger.
    """

    def __init__(self, kv: Any, prefix: str = "smtp2go_bulk/ledger") -> None:
        self.kv = kv
        self.prefix = prefix.rstrip("/")
        self.description = f"task state store keys {self.prefix}/*"

    def locate(self, seq: int | None) -> str:
        return f"key {self.prefix}/{'head' if seq is None else seq}"

    def segment_numbers(self) -> list[int] | None:
        return None

    def read_head(self) -> object | None:
        value: object = self.kv.get(f"{self.prefix}/head", None)
        return value

    def read_segment(self, seq: int) -> object | None:
        value: object = self.kv.get(f"{self.prefix}/{seq}", None)
        return value

    def write_head(self, value: dict[str, Any]) -> None:
        self.kv.set(f"{self.prefix}/head", value)

    def write_segment(self, seq: int, value: dict[str, Any]) -> None:
        self.kv.set(f"{self.prefix}/{seq}", value)


def _digest(seq: int, prev: str | None, records: list[Any]) -> str:
    body = json.dumps([seq, prev, records], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _Head:
    seq: int
    digest: str | None
    count: int
    started: float
    attempt: int


class _Damage(Exception):
    """What is wrong with one item (turned into ``Smtp2goLedgerError`` with its location)."""


def _parse_head(value: object) -> _Head:
    if not isinstance(value, Mapping) or value.get("format") != FORMAT:
        raise _Damage(f"is not a {FORMAT} head record")
    seq, digest, count, started = value.get("seq"), value.get("sha256"), value.get("count"), value.get("started")
    attempt = value.get("attempt")
    for name, number, least in (("segment number", seq, 0), ("record count", count, 0), ("attempt", attempt, 1)):
        if isinstance(number, bool) or not isinstance(number, int) or number < least:
            raise _Damage(f"has a bad {name} {number!r}")
    if (digest is None) != (seq == 0) or not (digest is None or isinstance(digest, str)):
        raise _Damage("has a bad checksum")
    if not _is_time(started):
        raise _Damage("has a bad start time")
    return _Head(seq, digest, count, float(started), attempt)  # type: ignore[arg-type]


def _parse_segment(value: object, seq: int, prev: str | None) -> tuple[list[LedgerEntry], str]:
    if isinstance(value, list):
        raise _Damage("is a bare list (emptied, or written by a version without checksums)")
    if not isinstance(value, Mapping) or value.get("format") != FORMAT:
        raise _Damage(f"is not a {FORMAT} segment")
    records = value.get("records")
    if value.get("seq") != seq:
        raise _Damage(f"says it is segment {value.get('seq')!r} (renamed or copied?)")
    if not isinstance(records, list):
        raise _Damage("has no list of records")
    digest = _digest(seq, prev, records)
    if value.get("prev") != prev:
        raise _Damage("does not follow the segment before it (a segment is missing or was replaced)")
    if value.get("sha256") != digest:
        raise _Damage("fails its checksum (edited, emptied or damaged)")
    try:
        return [LedgerEntry.from_record(record) for record in records], digest
    except ValueError as exc:
        raise _Damage(str(exc)) from None


class Ledger:
    """The in-memory view of a ``LedgerStore`` plus a buffer of records not yet written.

    Not thread-safe by design: the bulk sender's dispatcher thread is its only user. Call
    ``load`` first (it verifies the whole chain), then ``begin`` before anything is sent.
    ``attempt`` is this run's try number (1 for a first run), recorded in the head.
    """

    def __init__(self, store: LedgerStore, *, attempt: int = 1, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.attempt = attempt
        #: The attempt that last wrote the stored ledger (``None``: no ledger was found).
        self.last_attempt: int | None = None
        self._clock = clock
        self._entries: dict[str, LedgerEntry] = {}
        self._buffer: list[dict[str, Any]] = []
        self._seq = 0  # the last segment in the store
        self._prev: str | None = None  # its checksum
        self._count = 0  # records in all segments
        self._started: float | None = None
        self.segments_written = 0

    @property
    def found(self) -> bool:
        """True when the store held a ledger (even one of a run that sent nothing yet)."""
        return self.last_attempt is not None

    def _damage(self, seq: int | None, problem: str) -> Smtp2goLedgerError:
        return Smtp2goLedgerError(self.store.description, self.store.locate(seq), problem)

    def load(self) -> Ledger:
        """Read and verify the head and every segment (later records win); raise on any damage."""
        raw_head = self.store.read_head()
        listed = self.store.segment_numbers()
        if raw_head is None:
            present = listed if listed is not None else ([1] if self.store.read_segment(1) is not None else [])
            if present:
                raise self._damage(None, f"is missing, but segments exist (from {self.store.locate(present[0])})")
            return self
        try:
            head = _parse_head(raw_head)
        except _Damage as exc:
            raise self._damage(None, str(exc)) from None
        counted, seq = 0, 0
        while True:
            value = self.store.read_segment(seq + 1)
            if value is None:
                break
            seq += 1
            try:
                entries, self._prev = _parse_segment(value, seq, self._prev)
            except _Damage as exc:
                raise self._damage(seq, str(exc)) from None
            for entry in entries:
                self._entries[entry.key] = entry
            self._count += len(entries)
            counted += len(entries) if seq <= head.seq else 0
            if seq == head.seq and self._prev != head.digest:
                raise self._damage(seq, "does not match the checksum the head recorded for it")
        # Segments past the head are fine (a crash between a segment and its head); short of it are not.
        if seq < head.seq:
            raise self._damage(seq + 1, f"is missing (the head records {head.seq} segments; lost or deleted)")
        if counted != head.count:
            raise self._damage(None, f"records {head.count} records, the segments hold {counted}")
        later = [n for n in listed or () if n > seq]
        if later:
            raise self._damage(seq + 1, f"is missing, but {self.store.locate(later[0])} exists (a gap)")
        self._seq, self._started, self.last_attempt = seq, head.started, head.attempt
        return self

    def begin(self) -> None:
        """Record that this attempt started (in the head), before anything is sent."""
        if self._started is None:
            self._started = self._clock()
        if self.last_attempt is None or self.last_attempt < self.attempt:
            self._write_head()

    def _write_head(self) -> None:
        attempt = max(self.attempt, self.last_attempt or 0)
        self.store.write_head(
            {
                "format": FORMAT,
                "seq": self._seq,
                "sha256": self._prev,
                "count": self._count,
                "started": self._started,
                "attempt": attempt,
            }
        )
        self.last_attempt = attempt

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> LedgerEntry | None:
        return self._entries.get(key)

    def entries(self) -> list[LedgerEntry]:
        return list(self._entries.values())

    def record(
        self,
        key: str,
        outcome: Outcome,
        *,
        index: int | None = None,
        email_id: str | None = None,
        reason: str | None = None,
        pending_since: float | None = None,
        schedule_id: str | None = None,
    ) -> None:
        """Buffer a change of outcome (checked by ``transition``); durable after the next ``flush``.

        ``pending_since`` overrides when the row's send may have started (the default is now
        for ``PENDING``, else unchanged): reconciling looks for it in the activity log from then.
        """
        previous = self._entries.get(key)
        transition(previous.outcome if previous is not None else None, outcome)
        now = self._clock()
        if pending_since is None:
            pending_since = now if outcome is Outcome.PENDING else (previous.pending_since if previous else None)
        entry = LedgerEntry(
            key=key,
            outcome=outcome,
            index=index if index is not None else (previous.index if previous else None),
            email_id=email_id,
            reason=reason,
            at=now,
            pending_since=pending_since,
            schedule_id=schedule_id,
        )
        self._entries[key] = entry
        self._buffer.append(entry.to_record())

    def mark_pending(self, rows: Mapping[str, int]) -> None:
        """Durably record intent to send ``{key: index}`` (call before the requests leave)."""
        for key, index in rows.items():
            self.record(key, Outcome.PENDING, index=index)
        self.flush()

    def flush(self) -> None:
        """Write buffered records as the next segment, then the head (no-op when nothing is buffered)."""
        if not self._buffer:
            return
        seq, records = self._seq + 1, self._buffer
        digest = _digest(seq, self._prev, records)
        self.store.write_segment(
            seq, {"format": FORMAT, "seq": seq, "prev": self._prev, "records": records, "sha256": digest}
        )
        self._seq, self._prev, self._buffer = seq, digest, []
        self._count += len(records)
        if self._started is None:
            self._started = self._clock()
        self._write_head()
        self.segments_written += 1
