"""``Smtp2goNotifier``: email a task/DAG callback or a Deadline Alert through SMTP2GO.

>>> from airflow_provider_smtp2go.notifications.smtp2go import send_smtp2go_notification
>>> task = BashOperator(  # doctest: +SKIP
...     task_id="load", bash_command="...",
...     on_failure_callback=send_smtp2go_notification(to="oncall@example.com"),
... )

Without ``subject``/``html_body`` the notifier sends the shipped default, which shows the DAG,
task, run, try number, state, exception and a link to the log. Every field is a Jinja template
rendered with the callback context, plus ``notification`` (the same facts the default uses:
``notification.dag_id``, ``.task_id``, ``.run_id``, ``.try_number``, ``.state``,
``.exception``, ``.log_url``, and ``.alert``: what storm control made of this callback).

Storm control (``repeat=``, ``window=``; see ``alert_policy``): by default a task alerts on a
change of state. Use the same notifier as ``on_failure_callback`` and ``on_success_callback``:
the first failure sends one email, repeats are muted, the first success after them sends one
"recovered" email with a digest of what was muted.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS, BaseNotifier
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error
from airflow_provider_smtp2go.notifications.alert_policy import (
    AlertDecision,
    AlertPolicy,
    RepeatMode,
    decide,
    event_of,
    task_history,
)
from airflow_provider_smtp2go.utils.attachments import attachment_specs

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context
    from airflow_provider_smtp2go.client import Email
    from airflow_provider_smtp2go.client.messages import Recipients


@cache
def default_template(name: str) -> str:
    """A template shipped with the package (``subject.jinja2`` or ``email.html``)."""
    return (files(__package__) / "templates" / name).read_text(encoding="utf-8")


def _get(obj: Any, name: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))


def notification_summary(context: Mapping[str, Any], decision: AlertDecision | None = None) -> dict[str, Any]:
    """What happened, from any callback context (task, DAG, Deadline Alert; Airflow 2 or 3).

    ``decision`` (storm control's ruling) fills ``alert`` and makes a recovery's state
    ``"recovered"``.
    """
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    exception = context.get("exception")
    deadline = context.get("deadline")
    if decision is not None and decision.kind == "recovered":
        state = "recovered"
    elif exception is not None:
        state = "failed"
    elif deadline is not None:
        state = "missed its deadline"
    else:
        state = _text(_get(ti, "state")) or _text(_get(dag_run, "state")) or "notification"
    try_number = _get(ti, "try_number")
    max_tries = _get(ti, "max_tries")
    map_index = _get(ti, "map_index")
    return {
        "dag_id": _get(dag, "dag_id") or _get(dag_run, "dag_id") or _get(ti, "dag_id") or "unknown DAG",
        "task_id": _get(ti, "task_id"),
        "map_index": map_index if isinstance(map_index, int) else None,
        # A Deadline Alert's dag_run is the REST API's DAGRunResponse, which names it dag_run_id.
        "run_id": context.get("run_id") or _get(dag_run, "run_id") or _get(dag_run, "dag_run_id") or _get(ti, "run_id"),
        "logical_date": _text(context.get("logical_date") or _get(dag_run, "logical_date")),
        "try_number": try_number if isinstance(try_number, int) else None,
        "max_tries": max_tries if isinstance(max_tries, int) else None,
        "state": state,
        "reason": _text(context.get("reason")),
        "deadline_time": _text(_get(deadline, "deadline_time")),
        "exception": None if exception is None else f"{type(exception).__name__}: {exception}",
        "log_url": _text(_get(ti, "log_url")),
        "alert": (decision or AlertDecision(send=True, kind="notification")).template_facts(),
    }


class Smtp2goNotifier(BaseNotifier):
    """Send a notification email through SMTP2GO (sync ``notify`` and ``async_notify``).

    >>> dag = DAG(  # doctest: +SKIP
    ...     "etl", on_failure_callback=Smtp2goNotifier(to="oncall@example.com"),
    ...     deadline=DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT,
    ...                            interval=timedelta(minutes=30),
    ...                            callback=AsyncCallback(Smtp2goNotifier, kwargs={"to": "oncall@example.com"})),
    ... )

    :param to: recipients (a list or a comma-separated string).
    :param subject: subject template; the shipped default when omitted.
    :param html_body: HTML body template (or a ``.html`` file); the shipped default when omitted.
    :param text_body: plain-text body template.
    :param sender: From address; defaults to the connection's ``sender`` extra.
    :param cc: carbon-copy recipients.
    :param bcc: blind-copy recipients.
    :param reply_to: a Reply-To address.
    :param custom_headers: extra headers.
    :param attachments: as for ``Smtp2goSendEmailOperator`` (never read as template files).
    :param smtp2go_conn_id: the ``smtp2go`` connection.
    :param repeat: storm control for a failure when the run before also failed: ``"suppress"``
        (mute it; the recovery email carries a digest), ``"thread"`` (send it as a reply in
        the incident's thread) or ``"send"`` (no storm control). Default:
        ``[smtp2go] alert_repeat``, else ``"suppress"``.
    :param window: with ``"suppress"``, at most one reminder per window; with ``"thread"``, a
        new thread per window; counted from the last success. A ``timedelta`` or seconds.
        Default: ``[smtp2go] alert_window`` (seconds), else none.
    """

    template_fields = (
        "to",
        "cc",
        "bcc",
        "sender",
        "reply_to",
        "subject",
        "html_body",
        "text_body",
        "custom_headers",
        "attachments",
        "smtp2go_conn_id",
    )
    template_ext: Sequence[str] = (".html",)

    def __init__(
        self,
        to: Recipients = None,
        *,
        subject: str | None = None,
        html_body: str | None = None,
        text_body: str | None = None,
        sender: str | None = None,
        cc: Recipients = None,
        bcc: Recipients = None,
        reply_to: str | None = None,
        custom_headers: Mapping[str, str] | None = None,
        attachments: Sequence[Any] | None = None,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        repeat: RepeatMode | None = None,
        window: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        if AIRFLOW_V_3_1_PLUS:
            # Deadline Alerts construct the notifier with context=...
            super().__init__(**kwargs)
        else:
            super().__init__()
        if to is None:
            raise TypeError("Smtp2goNotifier needs to= (one or more recipients)")
        self.to = to
        self.subject = subject if subject is not None else default_template("subject.jinja2")
        # The default HTML is only used when no body at all was given.
        self.html_body = html_body if html_body is not None or text_body is not None else default_template("email.html")
        self.text_body = text_body
        self.sender = sender
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.custom_headers = custom_headers
        # A list, so the template-file rule in render_template can tell it from a body.
        self.attachments = attachment_specs(attachments)
        self.smtp2go_conn_id = smtp2go_conn_id
        if repeat is not None or window is not None:
            AlertPolicy.configured(repeat or "send", window or 0)  # refuse a typo when the DAG is parsed
        self.repeat = repeat
        self.window = window
        self.decision: AlertDecision | None = None
        # Rendering writes into these fields; a notifier called again (one instance serves every
        # run of a DAG that dag.test() or a DAG processor keeps loaded) starts from the templates.
        self._templates = {name: getattr(self, name) for name in self.template_fields}

    def alert_decision(self, context: Mapping[str, Any]) -> AlertDecision:
        """Storm control's ruling on this callback (reads the task's earlier runs; see ``alert_policy``).

        Unreadable history sends the email (a duplicate beats a missed alert).
        """
        policy = AlertPolicy.configured(self.repeat, self.window)
        summary = notification_summary(context)
        ti = context.get("ti") or context.get("task_instance")
        identity = (summary["dag_id"], summary["task_id"], summary["map_index"])
        current = f"{summary['run_id']}/{summary['try_number']}"
        end_date = _get(ti, "end_date")
        now = end_date if isinstance(end_date, datetime) else datetime.now(timezone.utc)
        try:
            return decide(policy, event_of(context), task_history(context), identity=identity, now=now, current=current)
        except Exception as exc:  # any trouble reading history: alert anyway
            self.log.warning("Storm control could not read the task's earlier runs (%s); sending the alert", exc)
            return AlertDecision(send=True, kind="notification")

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        for name, template in self._templates.items():
            setattr(self, name, template)
        self.decision = self.alert_decision(context)
        # Mutated in place: copying an Airflow 2 Context touches its deprecated keys (warnings).
        context["notification"] = notification_summary(context, self.decision)  # type: ignore[typeddict-unknown-key]
        super().render_template_fields(context, jinja_env)

    def render_template(
        self, content: Any, context: Any, jinja_env: Any = None, seen_oids: set[int] | None = None
    ) -> Any:
        from airflow_provider_smtp2go.email_fields import render_field

        return render_field(self, super().render_template, content, context, jinja_env, seen_oids)

    @property
    def hook(self) -> Smtp2goHook:
        """A hook for ``smtp2go_conn_id`` (no I/O until used)."""
        return Smtp2goHook(self.smtp2go_conn_id)

    def build_email(self, sender: str | None) -> Email:
        """The ``Email`` from the rendered fields (subject flattened to one line).

        ``sender`` is the connection's ``sender`` extra, used when ``sender=`` was not given.
        """
        from airflow_provider_smtp2go.email_fields import build_email, resolve_sender

        decision = self.decision or AlertDecision(send=True, kind="notification")
        subject: Any = self.subject
        if isinstance(subject, str):  # the shipped subject template spans lines; a subject is one
            subject = " ".join(subject.split()) or None
            if subject and decision.threaded and decision.reply and not subject.lower().startswith("re:"):
                subject = f"Re: {subject}"  # what mail clients thread on, with References
        hint = f"pass sender= to Smtp2goNotifier or set the 'sender' extra of connection {self.smtp2go_conn_id!r}"
        sender = resolve_sender(self.sender, sender, hint=hint)
        headers: Any = self.custom_headers  # anything but a mapping: Email refuses it, naming the field
        if decision.headers and (headers is None or isinstance(headers, Mapping)):
            headers = {**decision.headers_for(sender), **(headers or {})}  # the DAG author's headers win
        return build_email(
            sender=sender,
            to=self.to,
            cc=self.cc,
            bcc=self.bcc,
            reply_to=self.reply_to,
            subject=subject,
            html_body=self.html_body,
            text_body=self.text_body,
            custom_headers=headers,
            attachments=self.attachments,
        )

    def _muted(self) -> bool:
        """Whether storm control mutes this callback (logged, so the task log says why)."""
        decision = self.decision
        if decision is None or decision.send:
            return False
        self.log.info(
            "SMTP2GO alert not sent: a %s muted by storm control (see Smtp2goNotifier repeat=)", decision.kind
        )
        return True

    def notify(self, context: Context) -> None:
        """Send the (already rendered) notification; raise an Airflow error if it fails."""
        from airflow_provider_smtp2go.client import Smtp2goError

        if self._muted():
            return
        with self.hook as hook:
            try:
                email = self.build_email(hook.default_sender)
                result = hook.send_email(email)
            except Smtp2goError as exc:
                raise airflow_error(exc, conn_id=hook.smtp2go_conn_id) from exc
        self.log.info("SMTP2GO notification sent: email_id=%s", result.email_id)

    async def async_notify(self, context: Context) -> None:
        """``notify`` for the triggerer (Deadline Alerts): async connection access and HTTP."""
        from airflow_provider_smtp2go.client import Smtp2goError

        if self._muted():
            return
        hook = self.hook
        try:
            settings = await hook.aget_settings()
            email = self.build_email(settings.sender)
            result = await hook.asend_email(email)
        except Smtp2goError as exc:
            raise airflow_error(exc, conn_id=hook.smtp2go_conn_id) from exc
        self.log.info("SMTP2GO notification sent: email_id=%s", result.email_id)


#: Snake-case alias, in the style of Airflow's ``send_smtp_notification``.
send_smtp2go_notification = Smtp2goNotifier
