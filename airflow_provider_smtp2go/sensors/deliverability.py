"""``Smtp2goDeliverabilitySensor``: a gate that stops a campaign before it burns the sender's reputation.

It reads ``/stats/email_bounces``, ``/stats/email_spam`` and ``/stats/email_summary`` and
compares the bounce and spam rates with thresholds. SMTP2GO's stats endpoints take no date
range: the rates cover SMTP2GO's own window (the last 30 days in the sandbox; the live
window is UNVERIFIED), and the quota check covers the billing cycle. When the account is
healthy the sensor succeeds and returns the reading; when not, ``on_breach`` decides:

``"fail"``  fail the task without retries (the default: a person should look);
``"skip"``  skip it, and with it everything downstream (a branch: the campaign does not run);
``"wait"``  keep poking until the rates fall back or the sensor times out.

>>> reading = DeliverabilityReading(emails=400, bounce_percent=6.5, spam_percent=0.0, cycle_remaining=10_000)
>>> reading.problems(max_bounce_percent=5.0, max_spam_percent=0.1, min_emails=100)
['bounce rate 6.50% is above 5.00% (400 emails)']
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_smtp2go._compat import BaseSensorOperator, PokeReturnValue
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context
    from airflow_provider_smtp2go.client import Smtp2goClient

OnBreach = Literal["fail", "skip", "wait"]


def _percent(data: Mapping[str, Any], name: str, part_names: Sequence[str]) -> float:
    # SMTP2GO sends percentages as strings ("25.00"); fall back to the counts when it does not.
    try:
        return float(str(data[name]).rstrip("%"))
    except (KeyError, ValueError):
        emails = int(data.get("emails") or 0)
        part = sum(int(data.get(n) or 0) for n in part_names)
        return 100.0 * part / emails if emails else 0.0


@dataclass(frozen=True)
class DeliverabilityReading:
    """What the stats endpoints said, in numbers."""

    emails: int
    bounce_percent: float
    spam_percent: float
    cycle_remaining: int | None = None

    @classmethod
    def from_stats(
        cls, bounces: Mapping[str, Any], spam: Mapping[str, Any], summary: Mapping[str, Any]
    ) -> DeliverabilityReading:
        """Read the three answers' ``data``."""
        remaining = summary.get("cycle_remaining")
        return cls(
            emails=int(bounces.get("emails") or spam.get("emails") or 0),
            bounce_percent=_percent(bounces, "bounce_percent", ("hardbounces", "softbounces")),
            spam_percent=_percent(spam, "spam_percent", ("spams",)),
            cycle_remaining=None if remaining is None else int(remaining),
        )

    def problems(
        self,
        *,
        max_bounce_percent: float | None,
        max_spam_percent: float | None,
        min_emails: int = 0,
        min_cycle_remaining: int | None = None,
    ) -> list[str]:
        """Each threshold crossed, in words; rates are judged only over ``min_emails`` or more."""
        found = []
        judged = self.emails >= min_emails
        if judged and max_bounce_percent is not None and self.bounce_percent > max_bounce_percent:
            found.append(
                f"bounce rate {self.bounce_percent:.2f}% is above {max_bounce_percent:.2f}% ({self.emails} emails)"
            )
        if judged and max_spam_percent is not None and self.spam_percent > max_spam_percent:
            found.append(f"spam rate {self.spam_percent:.2f}% is above {max_spam_percent:.2f}% ({self.emails} emails)")
        if (
            min_cycle_remaining is not None
            and self.cycle_remaining is not None
            and self.cycle_remaining < min_cycle_remaining
        ):
            found.append(f"only {self.cycle_remaining} emails left this cycle; {min_cycle_remaining} needed")
        return found


class Smtp2goDeliverabilitySensor(BaseSensorOperator):
    """Pass only while bounce and spam rates are under their thresholds.

    >>> gate = Smtp2goDeliverabilitySensor(  # doctest: +SKIP
    ...     task_id="deliverability_gate", max_bounce_percent=5.0, max_spam_percent=0.1,
    ...     min_cycle_remaining="{{ params.campaign_size }}", on_breach="skip")

    :param max_bounce_percent: highest acceptable bounce rate (percent); ``None`` to ignore.
    :param max_spam_percent: highest acceptable spam-complaint rate (percent); ``None`` to ignore.
    :param min_emails: judge rates only over at least this many emails (a handful of sends
        with one bounce is not a trend).
    :param min_cycle_remaining: fail when fewer emails than this are left in the billing cycle.
    :param on_breach: ``"fail"``, ``"skip"`` or ``"wait"`` (see the module docstring).
    :param username: stats of one SMTP user instead of the whole account.
    :param smtp2go_conn_id: the ``smtp2go`` connection.

    Returns (XCom) the reading: ``emails``, ``bounce_percent``, ``spam_percent``, ``cycle_remaining``.
    """

    template_fields: Sequence[str] = ("min_cycle_remaining", "username", "smtp2go_conn_id")
    ui_color = "#fff3cd"

    def __init__(
        self,
        *,
        max_bounce_percent: float | None = 5.0,
        max_spam_percent: float | None = 0.1,
        min_emails: int = 100,
        min_cycle_remaining: int | str | None = None,
        on_breach: OnBreach = "fail",
        username: str | None = None,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        if on_breach not in ("fail", "skip", "wait"):
            raise ValueError(f"on_breach must be 'fail', 'skip' or 'wait', not {on_breach!r}")
        kwargs.setdefault("poke_interval", 300)
        super().__init__(**kwargs)
        self.max_bounce_percent = max_bounce_percent
        self.max_spam_percent = max_spam_percent
        self.min_emails = min_emails
        self.min_cycle_remaining = min_cycle_remaining
        self.on_breach = on_breach
        self.username = username
        self.smtp2go_conn_id = smtp2go_conn_id

    def read(self, client: Smtp2goClient) -> DeliverabilityReading:
        """One reading of the three stats endpoints."""
        return DeliverabilityReading.from_stats(
            client.email_bounces(username=self.username),
            client.email_spam(username=self.username),
            client.email_summary(username=self.username),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        from airflow_provider_smtp2go._compat import AirflowFailException, AirflowSkipException
        from airflow_provider_smtp2go.client import Smtp2goError

        with Smtp2goHook(self.smtp2go_conn_id) as hook:
            try:
                reading = self.read(hook.get_client())
            except Smtp2goError as exc:
                raise airflow_error(exc) from exc
        needed = self.min_cycle_remaining
        problems = reading.problems(
            max_bounce_percent=self.max_bounce_percent,
            max_spam_percent=self.max_spam_percent,
            min_emails=self.min_emails,
            min_cycle_remaining=None if needed in (None, "") else int(needed),
        )
        if not problems:
            self.log.info("SMTP2GO deliverability is within bounds: %s", reading)
            return PokeReturnValue(is_done=True, xcom_value=asdict(reading))
        message = "SMTP2GO deliverability gate: " + "; ".join(problems)
        if self.on_breach == "fail":
            raise AirflowFailException(message)
        if self.on_breach == "skip":
            raise AirflowSkipException(message)
        self.log.warning("%s; waiting", message)
        return False
