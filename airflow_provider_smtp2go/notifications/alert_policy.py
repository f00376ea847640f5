"""Storm control for failure alerts: alert on a change of state, thread or mute the repeats.

A task that fails 100 runs in a row should not send 100 unrelated emails. The policy decides,
for one callback, whether to send and how the email relates to the ones before it, reading
the task's earlier runs from Airflow's own history (the metadata DB, through what the task
context offers: ``ti.get_previous_ti``). It keeps no store of its own, so it holds across any
number of workers.

``repeat`` says what happens to a failure when the run before also failed:

* ``"suppress"`` (default): muted. The first failure alerts; the first success after it sends
  one "recovered" email with a digest of the muted failures. With a ``window``, a failure
  in a new window (counted from the last success) sends a reminder with the digest so far.
* ``"thread"``: every failure sends, as a reply in one thread per DAG, task and incident
  (a stable ``Message-ID`` for the first email, ``In-Reply-To``/``References`` on the rest, a
  subject without the run id); the recovery closes the thread. With a ``window``, each
  window starts a new thread.
* ``"send"``: no storm control; every callback sends (the behaviour before storm control).

A success after a success sends nothing unless ``repeat="send"``. Callbacks that are not a
task success or failure (Deadline Alerts, DAG-level callbacks) always send.

>>> from datetime import timedelta
>>> AlertPolicy(repeat="thread", window=timedelta(hours=6))
AlertPolicy(repeat='thread', window=datetime.timedelta(seconds=21600))
>>> run = PastRun(run_id="scheduled__2025-05-01", state="failed")
>>> decide(AlertPolicy(), "failure", FakeHistory([run]), identity=("etl", "load", -1)).send
False
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol, get_args

RepeatMode = Literal["suppress", "thread", "send"]
REPEAT_MODES: tuple[str, ...] = get_args(RepeatMode)
#: Events the policy rules on; anything else (Deadline Alerts, DAG callbacks) just sends.
Event = Literal["failure", "success", "other"]
AlertKind = Literal["failure", "repeat", "reminder", "recovered", "success", "notification"]
#: ``[smtp2go]`` options that set the defaults (read when a notifier or the backend sends).
CONFIG_SECTION = "smtp2go"
#: How many earlier runs a digest reads at most (one history call each).
MAX_DIGEST_RUNS = 100
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_FAILED = "failed"


@dataclass(frozen=True)
class PastRun:
    """One earlier run of the task, as Airflow's history reports it."""

    run_id: str
    state: str | None
    logical_date: datetime | None = None
    end_date: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """For templates: ``run_id``, ``state``, ``logical_date``, ``end_date`` (ISO text)."""
        return {
            "run_id": self.run_id,
            "state": self.state,
            "logical_date": None if self.logical_date is None else self.logical_date.isoformat(),
            "end_date": None if self.end_date is None else self.end_date.isoformat(),
        }


class TaskHistory(Protocol):
    """Read access to the task's earlier runs (one Airflow call per method call)."""

    def before(self, run: PastRun | None) -> PastRun | None:
        """The task's run just before ``run`` (``None``: before the current run)."""

    def last_success(self) -> PastRun | None:
        """The task's latest successful run before the current one."""


@dataclass(frozen=True)
class AlertPolicy:
    """What to do with repeated failures (see the module docstring)."""

    repeat: RepeatMode = "suppress"
    window: timedelta | None = None

    def __post_init__(self) -> None:
        if self.repeat not in REPEAT_MODES:
            raise ValueError(f"repeat must be one of {REPEAT_MODES}, got {self.repeat!r}")
        if self.window is not None and (not isinstance(self.window, timedelta) or self.window <= timedelta(0)):
            raise ValueError(f"window must be a positive timedelta or None, got {self.window!r}")

    @classmethod
    def configured(cls, repeat: str | None = None, window: timedelta | float | None = None) -> AlertPolicy:
        """``repeat``/``window`` where given, else ``[smtp2go] alert_repeat``/``alert_window``.

        ``alert_window`` is in seconds; 0 or empty means no window.

        >>> AlertPolicy.configured("send", 60)
        AlertPolicy(repeat='send', window=datetime.timedelta(seconds=60))
        """
        if repeat is None or window is None:
            from airflow_provider_smtp2go._compat import conf

            if repeat is None:
                repeat = conf.get(CONFIG_SECTION, "alert_repeat", fallback="suppress") or "suppress"
            if window is None:
                window = _seconds(conf.get(CONFIG_SECTION, "alert_window", fallback="") or "0", "alert_window")
        if repeat not in REPEAT_MODES:
            raise ValueError(f"[smtp2go] alert_repeat / repeat= must be one of {REPEAT_MODES}, got {repeat!r}")
        if not isinstance(window, timedelta):
            window = timedelta(seconds=window) if window else None
        return cls(repeat=repeat, window=window)  # type: ignore[arg-type]  # checked just above


def _seconds(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"[smtp2go] {option} must be a number of seconds, got {text!r}") from None
    if value < 0:
        raise ValueError(f"[smtp2go] {option} must not be negative, got {text!r}")
    return value


@dataclass
class AlertDecision:
    """Whether to send, what the email is (``kind``), and its threading headers."""

    send: bool
    kind: AlertKind
    headers: dict[str, str] = field(default_factory=dict)
    reply: bool = False
    threaded: bool = False
    #: Failures whose alert was muted (oldest first), for the digest.
    muted: list[PastRun] = field(default_factory=list)
    #: The failures in a row before this one (oldest first), when they were read.
    streak: list[PastRun] = field(default_factory=list)
    #: ``True`` when the digest stopped at ``MAX_DIGEST_RUNS``.
    truncated: bool = False

    def headers_for(self, sender: str) -> dict[str, str]:
        """The threading headers, with Message-IDs in the domain of ``sender`` (RFC 5322 form)."""
        domain = sender_domain(sender)
        return {name: f"<{value}@{domain}>" for name, value in self.headers.items()}

    def template_facts(self) -> dict[str, Any]:
        """``notification.alert`` in templates."""
        return {
            "kind": self.kind,
            "threaded": self.threaded,
            "reply": self.reply,
            "muted": [run.as_dict() for run in self.muted],
            "muted_count": len(self.muted),
            "streak": [run.as_dict() for run in self.streak],
            "streak_count": len(self.streak),
            "truncated": self.truncated,
        }


Identity = tuple[str, str | None, int | None]


def decide(
    policy: AlertPolicy,
    event: Event,
    history: TaskHistory | None,
    *,
    identity: Identity,
    now: datetime | None = None,
    current: str = "",
) -> AlertDecision:
    """Rule on one callback. ``history`` ``None`` (unreadable) sends: a duplicate beats a miss.

    ``identity`` is ``(dag_id, task_id, map_index)``; ``now`` the time of this event;
    ``current`` names this run and try (it makes each email's own ``Message-ID``).
    """
    if policy.repeat == "send" or event == "other" or history is None:
        return AlertDecision(send=True, kind={"failure": "failure", "success": "success"}.get(event, "notification"))  # type: ignore[arg-type]
    now = now or datetime.now(timezone.utc)
    previous = history.before(None)
    if event == "success":
        if previous is None or previous.state != _FAILED:
            return AlertDecision(send=False, kind="success")
        return _recovery(policy, history, previous, _thread(policy, history, identity, current))
    thread = _thread(policy, history, identity, current)
    if previous is None or previous.state != _FAILED:
        last_success = thread.last_success
        first = previous is None or (last_success is not None and previous.run_id == last_success.run_id)
        return AlertDecision(
            send=True, kind="failure", threaded=policy.repeat == "thread", headers=thread.opening(now, first=first)
        )
    new_window = policy.window is not None and thread.period(now) != thread.period(_when(previous) or now)
    if policy.repeat == "thread":
        headers = thread.opening(now, first=True) if new_window else thread.reply(now)
        return AlertDecision(send=True, kind="repeat", threaded=True, reply=not new_window, headers=headers)
    if not new_window:
        return AlertDecision(send=False, kind="repeat")
    streak, truncated = _streak(history, previous)
    last_window = thread.period(_when(previous) or now)
    return AlertDecision(
        send=True,
        kind="reminder",
        headers=thread.reply(now),
        reply=True,
        # Muted since the last email: the window before this one sent only its first failure.
        muted=[run for run in _muted(streak, thread, policy) if thread.period(_when(run) or now) == last_window],
        streak=streak,
        truncated=truncated,
    )


def _thread(policy: AlertPolicy, history: TaskHistory, identity: Identity, current: str) -> _Thread:
    last_success = history.last_success()
    return _Thread(
        identity=identity,
        last_success=last_success,
        window=policy.window,
        anchor=_when(last_success) or _EPOCH,
        current=current,
        per_window=policy.repeat == "thread",
    )


def _recovery(policy: AlertPolicy, history: TaskHistory, previous: PastRun, thread: _Thread) -> AlertDecision:
    streak, truncated = _streak(history, previous)
    newest = _when(previous) or datetime.now(timezone.utc)
    return AlertDecision(
        send=True,
        kind="recovered",
        threaded=policy.repeat == "thread",
        reply=True,
        headers=thread.reply(newest, closing=True),
        muted=_muted(streak, thread, policy),
        streak=streak,
        truncated=truncated,
    )


def _streak(history: TaskHistory, newest: PastRun) -> tuple[list[PastRun], bool]:
    """The failures in a row ending with ``newest``, oldest first, and whether the walk was cut."""
    runs = [newest]
    while len(runs) < MAX_DIGEST_RUNS:
        earlier = history.before(runs[-1])
        if earlier is None or earlier.state != _FAILED:
            return runs[::-1], False
        runs.append(earlier)
    return runs[::-1], True


def _muted(streak: Sequence[PastRun], thread: _Thread, policy: AlertPolicy) -> list[PastRun]:
    """The failures of ``streak`` that sent nothing: every one but the first of each window."""
    if policy.repeat != "suppress":
        return []
    muted, period = [], None
    for run in streak:
        run_period = thread.period(_when(run) or _EPOCH)
        if period is not None and run_period == period:
            muted.append(run)
        period = run_period
    return muted


def _when(run: PastRun | None) -> datetime | None:
    return None if run is None else (run.end_date or run.logical_date)


@dataclass(frozen=True)
class _Thread:
    """Message-IDs of one incident's thread, derived from history alone (any worker agrees)."""

    identity: Identity
    last_success: PastRun | None
    window: timedelta | None
    anchor: datetime
    current: str
    #: Thread mode starts a new thread each window; suppress mode keeps one per incident.
    per_window: bool

    def period(self, when: datetime) -> int:
        if self.window is None:
            return 0
        return int((when - self.anchor) / self.window)

    def root(self, when: datetime) -> str:
        dag_id, task_id, map_index = self.identity
        since = self.last_success.run_id if self.last_success else ""
        period = self.period(when) if self.per_window else 0
        return _message_id("thread", dag_id, task_id, map_index, since, period)

    def opening(self, when: datetime, *, first: bool) -> dict[str, str]:
        root = self.root(when)
        if first:
            return {"Message-ID": root}
        # Not the first email since the last success (a skipped run came in between): its own
        # id, so no two emails ever share a Message-ID, still threaded under the incident.
        return self.reply(when)

    def reply(self, when: datetime, *, closing: bool = False) -> dict[str, str]:
        root = self.root(when)
        unique = _message_id("reply", root, self.current or when.isoformat(), "closing" if closing else "")
        return {"Message-ID": unique, "In-Reply-To": root, "References": root}


def _message_id(*parts: object) -> str:
    """The left-hand side of a Message-ID (``AlertDecision.headers_for`` adds the domain)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]
    return f"airflow-alert.{digest}"


def sender_domain(sender: str) -> str:
    """The domain part of a From address (``Ops <ops@example.com>`` -> ``example.com``).

    >>> sender_domain("Ops <ops@example.com>")
    'example.com'
    """
    from email.utils import parseaddr

    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2].strip()
    return domain or "airflow.invalid"


@dataclass
class FakeHistory:
    """A ``TaskHistory`` over a list (newest first): for examples, tests and dry runs."""

    runs: list[PastRun]
    success: Callable[[], PastRun | None] | None = None

    def before(self, run: PastRun | None) -> PastRun | None:
        index = 0 if run is None else next(i for i, r in enumerate(self.runs) if r.run_id == run.run_id) + 1
        return self.runs[index] if index < len(self.runs) else None

    def last_success(self) -> PastRun | None:
        if self.success is not None:
            return self.success()
        return next((r for r in self.runs if r.state == "success"), None)


def event_of(context: Mapping[str, Any]) -> Event:
    """Which event a callback context reports: a task failure, a task success, or other."""
    ti = context.get("ti") or context.get("task_instance")
    if ti is None or context.get("deadline") is not None:
        return "other"
    state = str(getattr(getattr(ti, "state", None), "value", getattr(ti, "state", None)))
    if state in ("failed", "up_for_retry") or context.get("exception") is not None:
        return "failure"
    if state == "success":
        return "success"
    return "other"


class AirflowTaskHistory:
    """``TaskHistory`` of the callback context's task instance, through Airflow's public API.

    Built by :func:`task_history`; each method is one call to Airflow (the Execution API on
    Airflow 3, the metadata DB on Airflow 2).
    """

    def __init__(self, ti: Any) -> None:
        self._ti = ti
        self._raw: dict[str, Any] = {}

    def _past(self, raw: Any) -> PastRun | None:
        if raw is None:
            return None
        state = getattr(raw, "state", None)
        logical_date = getattr(raw, "logical_date", None)
        if logical_date is None:
            logical_date = getattr(raw, "execution_date", None)  # Airflow 2
        run = PastRun(
            run_id=str(raw.run_id),
            state=None if state is None else str(getattr(state, "value", state)),
            logical_date=logical_date,
            end_date=getattr(raw, "end_date", None),
        )
        self._raw[run.run_id] = raw
        return run

    def before(self, run: PastRun | None) -> PastRun | None:
        from airflow_provider_smtp2go._compat import previous_task_instance

        earlier = None if run is None else self._raw[run.run_id]
        if earlier is not None and getattr(earlier, "logical_date", True) is None:
            return None  # a run without a logical date has no place in the order
        return self._past(previous_task_instance(self._ti, earlier))

    def last_success(self) -> PastRun | None:
        from airflow_provider_smtp2go._compat import previous_task_instance

        return self._past(previous_task_instance(self._ti, success=True))


def task_history(context: Mapping[str, Any]) -> TaskHistory | None:
    """The history of the context's task, or ``None`` when it cannot be read.

    ``None`` when there is no task instance (a DAG-level callback), when the run has no
    logical date (Airflow 3 manual runs may have none, and runs are ordered by it) or when
    this Airflow cannot read earlier runs from a task (3.0, 3.1).
    """
    from airflow_provider_smtp2go._compat import AIRFLOW_V_3_0_PLUS

    ti = context.get("ti") or context.get("task_instance")
    if ti is None:
        return None
    dag_run = context.get("dag_run")
    if AIRFLOW_V_3_0_PLUS and (dag_run is None or getattr(dag_run, "logical_date", None) is None):
        return None
    if AIRFLOW_V_3_0_PLUS and not hasattr(ti, "get_previous_ti"):
        return None
    return AirflowTaskHistory(ti)


#: Airflow 2's alert subject: ``Airflow alert: <TaskInstance: dag.task run_id [failed]>``.
_AIRFLOW2_ALERT = re.compile(r"<TaskInstance: (?P<task>\S+) \S+ (?:map_index=(?P<map_index>-?\d+) )?\[")
#: Airflow 3's: the task instance's field list, ``... task_id='load' dag_id='etl' run_id='...' ...``.
_AIRFLOW3_FIELD = re.compile(r"\b(task_id|dag_id|run_id)='([^']*)'|\bmap_index=(-?\d+)")


def backend_threading(subject: str, sender: str, policy: AlertPolicy) -> tuple[str, dict[str, str]]:
    """Subject and threading headers for an alert the ``[email]`` backend sends.

    Airflow calls a backend with the rendered subject and body only, no task context, so the
    backend cannot read history: it threads (``repeat`` ``"thread"`` or ``"suppress"``), it
    cannot mute. It recognises Airflow's own alert subjects (2.x and 3.x), replaces them with
    a stable ``Airflow alert: <dag>.<task>`` and files every alert of that task under one
    thread; any other subject, or ``repeat="send"``, is left as it is.

    >>> subject, headers = backend_threading(
    ...     "Airflow alert: <TaskInstance: etl.load scheduled__2025-05-01 [failed]>",
    ...     "ops@example.com", AlertPolicy())
    >>> subject, sorted(headers)
    ('Airflow alert: etl.load', ['In-Reply-To', 'Message-ID', 'References'])
    """
    if policy.repeat == "send":
        return subject, {}
    found = _alert_identity(subject)
    if found is None:
        return subject, {}
    task, map_index = found
    label = task if map_index in (None, -1) else f"{task}[{map_index}]"
    root = _message_id("backend", task, map_index)
    own = _message_id("backend-alert", task, map_index, subject)  # the full subject names run, try, state
    threading = AlertDecision(
        send=True, kind="failure", headers={"Message-ID": own, "In-Reply-To": root, "References": root}
    )
    return f"Airflow alert: {label}", threading.headers_for(sender)


def _alert_identity(subject: str) -> tuple[str, int | None] | None:
    """``(dag.task, map_index)`` from one of Airflow's alert subjects, else ``None``."""
    match = _AIRFLOW2_ALERT.search(subject)
    if match:
        map_index = match["map_index"]
        return match["task"], None if map_index is None else int(map_index)
    fields: dict[str, str] = {}
    for name, value, map_index in _AIRFLOW3_FIELD.findall(subject):
        fields.setdefault(name or "map_index", value or map_index)
    if {"task_id", "dag_id", "run_id"} <= fields.keys():
        index = int(fields["map_index"]) if "map_index" in fields else None
        return f"{fields['dag_id']}.{fields['task_id']}", index
    return None
