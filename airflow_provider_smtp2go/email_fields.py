"""An ``Email`` from Airflow-level fields: the one place the operator, the notifier and the
``[email]`` backend turn what a DAG author wrote (and Jinja rendered) into a client ``Email``.

Airflow-level means: recipients as a list or a comma-separated string, list items that
rendered empty (an unset param), ``""`` for an unset optional field, and attachments as
paths, URLs, ``ObjectStoragePath`` objects or dicts. Everything else is the client's
``Email``, which checks types, addresses, header safety and sizes, so the three entry points
refuse the same input with the same ``Smtp2goValidationError``, naming the field.

>>> sender = resolve_sender("", "Reports <reports@example.com>", hint="pass sender=")
>>> email = build_email(sender=sender, to=["ops@example.com", ""], subject="Nightly load",
...                     text_body="Done.", reply_to="")
>>> email.sender, email.to, email.reply_to
('Reports <reports@example.com>', ('ops@example.com',), None)
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client import Email
    from airflow_provider_smtp2go.client.messages import Recipients

#: What Jinja may read as a template file: a body's value only, never an item of a list or dict.
_COLLECTIONS = (list, tuple, set, dict)


def render_field(task: Any, render: Callable[..., Any], content: Any, *args: Any) -> Any:
    """``render(content, *args)`` with template files allowed only for a body (a plain string).

    The operator's and the notifier's ``render_template`` both go through here, so
    ``"report.html"`` among the attachments stays a file to attach rather than becoming a
    Jinja template rendered in its place: inside a list or dict, ``task.template_ext`` is
    emptied for the call and restored after.

    >>> class Task:
    ...     template_ext = (".html",)
    ...     def render(self, content):
    ...         return self.template_ext
    >>> task = Task()
    >>> render_field(task, task.render, "body.html"), render_field(task, task.render, ["page.html"])
    (('.html',), ())
    >>> task.template_ext
    ('.html',)
    """
    if not isinstance(content, _COLLECTIONS):
        return render(content, *args)
    saved, task.template_ext = task.template_ext, ()
    try:
        return render(content, *args)
    finally:
        task.template_ext = saved


#: The message fields an operator hands on as the DAG author wrote them (Jinja-rendered), to
#: the one ``Email`` of ``Smtp2goSendEmailOperator`` and the per-row ``MessageTemplate`` of
#: ``Smtp2goBulkSendOperator`` alike; each adds its own sender, schedule and extras.
MESSAGE_FIELDS = (
    "to",
    "subject",
    "text_body",
    "html_body",
    "cc",
    "bcc",
    "reply_to",
    "custom_headers",
    "template_id",
    "template_data",
)


def message_fields(task: object) -> dict[str, Any]:
    """``task``'s ``MESSAGE_FIELDS`` as keyword arguments.

    >>> class Task:
    ...     to, subject, text_body, html_body, cc, bcc = "ops@example.com", "Hi", "Done.", None, None, None
    ...     reply_to = custom_headers = template_id = template_data = None
    >>> message_fields(Task())["to"], len(message_fields(Task()))
    ('ops@example.com', 10)
    """
    return {name: getattr(task, name) for name in MESSAGE_FIELDS}


#: Senders that mean "nothing configured": Airflow's task runner fills in ``airflow@airflow``.
PLACEHOLDER_SENDERS = frozenset({"airflow@airflow"})


def resolve_sender(given: object, connection_sender: str | Callable[[], str | None] | None, *, hint: str) -> str:
    """The From address: ``given``, unless it is empty or a placeholder; else the connection's.

    ``connection_sender`` may be a callable, called only when ``given`` does not do (so the
    connection is not fetched for nothing). With neither, the one "no sender" error, a
    ``Smtp2goValidationError`` on ``sender`` ending with ``hint`` (where to set one).

    >>> resolve_sender("airflow@airflow", "ops@example.com", hint="pass sender=")
    'ops@example.com'
    >>> resolve_sender(None, None, hint="pass sender=")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    Smtp2goValidationError: sender: no sender is set: pass sender=
    """
    from airflow_provider_smtp2go.client.errors import Smtp2goValidationError

    if given is not None and not isinstance(given, str):
        raise Smtp2goValidationError("sender", "type", f"expected a string, got {type(given).__name__}")
    if _is_set(given):
        return str(given)
    fallback = connection_sender() if callable(connection_sender) else connection_sender
    if _is_set(fallback):
        return str(fallback)
    raise Smtp2goValidationError("sender", "required", f"no sender is set: {hint}")


def operator_sender_hint(task_id: str, conn_id: str) -> str:
    """Where an operator's author sets a sender: the ``hint`` both sending operators pass.

    >>> operator_sender_hint("send", "smtp2go_default")
    "pass sender= to 'send' or set the 'sender' extra of connection 'smtp2go_default'"
    """
    return f"pass sender= to {task_id!r} or set the 'sender' extra of connection {conn_id!r}"


def _is_set(sender: object) -> bool:
    return isinstance(sender, str) and bool(sender.strip()) and sender.strip() not in PLACEHOLDER_SENDERS


def build_email(
    *,
    sender: str,
    to: Recipients,
    subject: str | None = None,
    text_body: str | None = None,
    html_body: str | None = None,
    cc: Recipients = None,
    bcc: Recipients = None,
    reply_to: str | None = None,
    custom_headers: Mapping[str, Any] | None = None,
    attachments: Any = None,
    inlines: Any = None,
    template_id: str | None = None,
    template_data: Mapping[str, Any] | None = None,
    schedule: Any = None,
    fastaccept: bool | str = False,
) -> Email:
    """The validated ``Email`` for rendered Airflow fields (raises ``Smtp2goValidationError``).

    Empty optional fields count as unset, blank items of a recipient list are dropped (a
    template that rendered nothing), and attachments go through ``resolve_attachments``.
    Recipient strings are not split here: ``Email`` takes ``"a@x.org, b@x.org"`` as it is.
    """
    from airflow_provider_smtp2go.client import Email
    from airflow_provider_smtp2go.utils.attachments import resolve_attachments

    return Email(
        sender=sender,
        to=_without_blanks(to),
        cc=_without_blanks(cc),
        bcc=_without_blanks(bcc),
        reply_to=_unset_if_empty(reply_to),
        subject=subject,
        text_body=_unset_if_empty(text_body),
        html_body=_unset_if_empty(html_body),
        custom_headers=_unset_if_empty(custom_headers),
        attachments=resolve_attachments(attachments, field_name="attachments"),
        inlines=resolve_attachments(inlines, field_name="inlines"),
        template_id=_unset_if_empty(template_id),
        template_data=_unset_if_empty(template_data),
        schedule=_unset_if_empty(schedule),
        fastaccept=fastaccept,  # type: ignore[arg-type]  # Email reads "true"/"false" strictly
    )


def _unset_if_empty(value: Any) -> Any:
    # Only empty text and empty collections: anything else goes on to Email to be checked.
    return None if isinstance(value, (str, Mapping, list, tuple)) and not value else value


def _without_blanks(value: Any) -> Any:
    if isinstance(value, (list, tuple, set, frozenset)):
        return [item for item in value if not (item is None or (isinstance(item, str) and not item.strip()))]
    return value
