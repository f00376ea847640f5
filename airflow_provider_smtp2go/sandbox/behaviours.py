"""Deterministic recipient behaviour, chosen by the recipient address.

Like payment-test card numbers: the ``+tag`` in the local part of a recipient address decides
what happens to the message *for that recipient*.  Any domain works; the tag is
case-insensitive; an address without a known tag is simply delivered.  Every tag may carry a
delay ``-<N>s``: the interesting event happens N seconds (of sandbox clock) after the message
was accepted — or, for ``open``/``click``, after delivery — so a test sees it by advancing
:class:`~airflow_provider_smtp2go.sandbox.clock.SandboxClock`, never by sleeping.

======================================  ===================================================
address                                 events (``/activity/search`` event types)
======================================  ===================================================
``alice@example.com``                   processed, delivered
``x+deliver-120s@example.com``          processed; delivered 120 s later
``x+hard-bounce@example.com``           processed, hard-bounced
``x+soft-bounce@example.com``           processed, soft-bounced
``x+reject@example.com``                processed, rejected
``x+open@example.com``                  processed, delivered, opened
``x+open-30s@example.com``              processed, delivered; opened 30 s after delivery
``x+click@example.com``                 processed, delivered, opened, clicked
``x+click-60s@example.com``             processed, delivered; opened + clicked 60 s later
``x+spam@example.com``                  processed, delivered, spam
``x+unsubscribe@example.com``           processed, delivered, unsubscribed
(suppressed address, any tag)           rejected (and the send reports a failure)
======================================  ===================================================

If the local part has several ``+`` segments, the last one is the tag
(``ops+team+open@example.com`` opens).

Example::

    >>> [(e.event, e.delay) for e in plan_for("x+open-30s@example.com")]
    [('processed', 0.0), ('delivered', 0.0), ('opened', 30.0)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PlannedEvent:
    """One future activity event for one recipient, ``delay`` seconds after acceptance."""

    event: str
    delay: float
    smtp_response: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Behaviour:
    """A documented row of the behaviour table (exported for the README)."""

    tag: str
    example: str
    events: str
    description: str


BEHAVIOURS: tuple[Behaviour, ...] = (
    Behaviour("", "alice@example.com", "processed, delivered", "Accepted and delivered."),
    Behaviour("deliver-<N>s", "x+deliver-120s@example.com", "processed, delivered", "Delivered N seconds later."),
    Behaviour("hard-bounce", "x+hard-bounce@example.com", "processed, hard-bounced", "Mailbox does not exist."),
    Behaviour("soft-bounce", "x+soft-bounce@example.com", "processed, soft-bounced", "Mailbox full."),
    Behaviour("reject", "x+reject@example.com", "processed, rejected", "Refused before delivery."),
    Behaviour("open", "x+open@example.com", "processed, delivered, opened", "Opened on delivery."),
    Behaviour("open-<N>s", "x+open-30s@example.com", "processed, delivered, opened", "Opened N s after delivery."),
    Behaviour("click", "x+click@example.com", "processed, delivered, opened, clicked", "Opened and clicked a link."),
    Behaviour(
        "click-<N>s",
        "x+click-60s@example.com",
        "processed, delivered, opened, clicked",
        "Opened and clicked N s after delivery.",
    ),
    Behaviour("spam", "x+spam@example.com", "processed, delivered, spam", "Reported as spam."),
    Behaviour("unsubscribe", "x+unsubscribe@example.com", "processed, delivered, unsubscribed", "Unsubscribed."),
)

DELIVERED_RESPONSE = "250 2.0.0 OK: queued by sandbox"
HARD_BOUNCE_RESPONSE = "550 5.1.1 The email account that you tried to reach does not exist"
SOFT_BOUNCE_RESPONSE = "452 4.2.2 The email account that you tried to reach is over quota"
REJECT_REASON = "Rejected by the sandbox (+reject recipient)"
SUPPRESSED_REASON = "Recipient address is on the suppression list"

_TAG = re.compile(r"^(?P<base>[a-z]+(?:-[a-z]+)?)(?:-(?P<delay>\d+)s)?$")


def tag_of(address: str) -> str:
    """The behaviour tag of an address (``""`` when there is none)."""
    local = address.rsplit("@", 1)[0]
    if "+" not in local:
        return ""
    return local.rsplit("+", 1)[1].lower()


def plan_for(address: str) -> list[PlannedEvent]:
    """The events an accepted message produces for ``address``, in order."""
    match = _TAG.match(tag_of(address))
    base = match.group("base") if match else ""
    delay = float(match.group("delay")) if match and match.group("delay") else 0.0
    processed = PlannedEvent("processed", 0.0)
    delivered_now = PlannedEvent("delivered", 0.0, DELIVERED_RESPONSE)
    if base == "deliver":
        return [processed, PlannedEvent("delivered", delay, DELIVERED_RESPONSE)]
    if base == "hard-bounce":
        return [processed, PlannedEvent("hard-bounced", delay, HARD_BOUNCE_RESPONSE, "Mailbox not found")]
    if base == "soft-bounce":
        return [processed, PlannedEvent("soft-bounced", delay, SOFT_BOUNCE_RESPONSE, "Mailbox full")]
    if base == "reject":
        return [processed, PlannedEvent("rejected", delay, "", REJECT_REASON)]
    if base == "open":
        return [processed, delivered_now, PlannedEvent("opened", delay)]
    if base == "click":
        return [processed, delivered_now, PlannedEvent("opened", delay), PlannedEvent("clicked", delay)]
    if base == "spam":
        return [processed, delivered_now, PlannedEvent("spam", delay)]
    if base == "unsubscribe":
        return [processed, delivered_now, PlannedEvent("unsubscribed", delay)]
    return [processed, delivered_now]


def suppressed_plan() -> list[PlannedEvent]:
    """What a suppressed recipient gets instead of its behaviour: one ``rejected`` event."""
    return [PlannedEvent("rejected", 0.0, "", SUPPRESSED_REASON)]
