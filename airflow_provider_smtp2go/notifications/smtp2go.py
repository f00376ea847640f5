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
``.exception``, ``.log_url``...).
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS, BaseNotifier
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

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


def notification_summary(context: Mapping[str, Any]) -> dict[str, Any]:
    """What happened, from any callback context (task, DAG, Deadline Alert; Airflow 2 or 3)."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    exception = context.get("exception")
    deadline = context.get("deadline")
    if exception is not None:
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
        "run_id": context.get("run_id") or _get(dag_run, "run_id") or _get(ti, "run_id"),
        "logical_date": _text(context.get("logical_date") or _get(dag_run, "logical_date")),
        "try_number": try_number if isinstance(try_number, int) else None,
        "max_tries": max_tries if isinstance(max_tries, int) else None,
        "state": state,
        "reason": _text(context.get("reason")),
        "exception": None if exception is None else f"{type(exception).__name__}: {exception}",
        "log_url": _text(_get(ti, "log_url")),
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
    :param attachments: as for ``Smtp2goSendEmailOperator``.
    :param smtp2go_conn_id: the ``smtp2go`` connection.
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
    template_ext = (".html",)

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
        self.attachments = attachments
        self.smtp2go_conn_id = smtp2go_conn_id

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        # Mutated in place: copying an Airflow 2 Context touches its deprecated keys (warnings).
        context["notification"] = notification_summary(context)  # type: ignore[typeddict-unknown-key]
        super().render_template_fields(context, jinja_env)

    @property
    def hook(self) -> Smtp2goHook:
        """A hook for ``smtp2go_conn_id`` (no I/O until used)."""
        return Smtp2goHook(self.smtp2go_conn_id)

    def build_email(self, sender: str | None) -> Email:
        """The ``Email`` from the rendered fields (subject flattened to one line).

        ``sender`` is the connection's ``sender`` extra, used when ``sender=`` was not given.
        """
        from airflow_provider_smtp2go.email_fields import build_email, resolve_sender

        subject: Any = self.subject
        if isinstance(subject, str):  # the shipped subject template spans lines; a subject is one
            subject = " ".join(subject.split()) or None
        hint = f"pass sender= to Smtp2goNotifier or set the 'sender' extra of connection {self.smtp2go_conn_id!r}"
        return build_email(
            sender=resolve_sender(self.sender, sender, hint=hint),
            to=self.to,
            cc=self.cc,
            bcc=self.bcc,
            reply_to=self.reply_to,
            subject=subject,
            html_body=self.html_body,
            text_body=self.text_body,
            custom_headers=self.custom_headers,
            attachments=self.attachments,
        )

    def notify(self, context: Context) -> None:
        """Send the (already rendered) notification; raise an Airflow error if it fails."""
        from airflow_provider_smtp2go.client import Smtp2goError

        with self.hook as hook:
            try:
                email = self.build_email(hook.default_sender)
                result = hook.send_email(email)
            except Smtp2goError as exc:
                raise airflow_error(exc) from exc
        self.log.info("SMTP2GO notification sent: email_id=%s", result.email_id)

    async def async_notify(self, context: Context) -> None:
        """``notify`` for the triggerer (Deadline Alerts): async connection access and HTTP."""
        from airflow_provider_smtp2go.client import Smtp2goError

        hook = self.hook
        try:
            settings = await hook.aget_settings()
            email = self.build_email(settings.sender)
            result = await hook.asend_email(email)
        except Smtp2goError as exc:
            raise airflow_error(exc) from exc
        self.log.info("SMTP2GO notification sent: email_id=%s", result.email_id)


#: Snake-case alias, in the style of Airflow's ``send_smtp_notification``.
send_smtp2go_notification = Smtp2goNotifier
