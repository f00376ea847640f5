"""A row's fate, in one vocabulary, and the one rule for how it may change.

Every part of the bulk engine speaks ``Outcome``: the sender's answer for a row, the
reconciler's verdict, the durable ledger record, the per-row report and the XCom counts.
``transition`` is the only place that decides which changes are allowed; the ledger calls it
for every record, so a bug that tried to send an accepted row again would stop the run instead.

The rule that makes "never twice" hold: a row becomes ``PENDING`` (about to be sent) only
when it was never tried, or was proven not accepted (``RETRYABLE``). Nothing leaves ``SENT``.

>>> transition(None, Outcome.PENDING)
<Outcome.PENDING: 'pending'>
>>> transition(Outcome.SENT, Outcome.PENDING)
Traceback (most recent call last):
...
airflow_provider_smtp2go.bulk.outcome.OutcomeTransitionError: a row cannot go from sent to pending
"""

from __future__ import annotations

import enum


class Outcome(str, enum.Enum):
    """What happened to one row."""

    #: Recorded as about to be sent, before its request left: unknown if the run dies now.
    PENDING = "pending"
    #: The request left but no usable answer came back: looked up before any resend.
    AMBIGUOUS = "ambiguous"
    #: SMTP2GO accepted it (in this run, or proven by the activity log): never sent again.
    SENT = "sent"
    #: Accepted in an earlier try of the task (a report view of ``SENT``): not sent again.
    ALREADY_SENT = "already_sent"
    #: Permanently rejected (4xx, 200-with-failure): sending again cannot help.
    FAILED = "failed"
    #: Proven not accepted (transient trouble, or the activity log shows nothing): safe to send.
    RETRYABLE = "retryable"
    #: Looked up, and still neither proven sent nor unsent: reported, never resent blindly.
    UNKNOWN = "unknown"
    #: Failed validation and was skipped (``on_invalid="skip"``).
    INVALID = "invalid"
    #: Not sent: every recipient is on SMTP2GO's suppression list (``skip_suppressed=True``).
    SUPPRESSED = "suppressed"

    def __str__(self) -> str:
        return self.value

    @property
    def final(self) -> bool:
        """True for the outcomes a report may show (a run never ends on PENDING or AMBIGUOUS)."""
        return self not in (Outcome.PENDING, Outcome.AMBIGUOUS)


#: The outcomes of a finished run, in the order reports and summaries count them.
REPORTED: tuple[Outcome, ...] = tuple(o for o in Outcome if o.final)

_TO_LOOK_UP = frozenset({Outcome.SENT, Outcome.RETRYABLE, Outcome.UNKNOWN, Outcome.AMBIGUOUS})
_ALLOWED: dict[Outcome | None, frozenset[Outcome]] = {
    # A row nobody has tried yet; or, on a retry that found no ledger, one an earlier try may have sent.
    None: frozenset({Outcome.PENDING, Outcome.AMBIGUOUS, Outcome.INVALID, Outcome.SUPPRESSED}),
    Outcome.PENDING: frozenset({Outcome.SENT, Outcome.FAILED, Outcome.RETRYABLE, Outcome.AMBIGUOUS, Outcome.UNKNOWN}),
    Outcome.AMBIGUOUS: _TO_LOOK_UP,
    Outcome.UNKNOWN: _TO_LOOK_UP,
    # AMBIGUOUS: when an attempt this ledger never saw (another worker's disk) may have sent it.
    Outcome.RETRYABLE: frozenset({Outcome.PENDING, Outcome.RETRYABLE, Outcome.AMBIGUOUS, Outcome.SUPPRESSED}),
    Outcome.SENT: frozenset({Outcome.ALREADY_SENT}),
    Outcome.ALREADY_SENT: frozenset(),
    Outcome.FAILED: frozenset(),
    Outcome.INVALID: frozenset(),
    Outcome.SUPPRESSED: frozenset(),
}


class OutcomeTransitionError(RuntimeError):
    """A change of outcome the rules forbid: a bug, stopped before it could send anything twice."""


def transition(current: Outcome | None, new: Outcome) -> Outcome:
    """Return ``new`` if a row may go from ``current`` (``None``: no record yet) to it, else raise."""
    if new not in _ALLOWED[current]:
        raise OutcomeTransitionError(f"a row cannot go from {current or 'no record'} to {new}")
    return new
