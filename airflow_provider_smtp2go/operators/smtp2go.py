"""``Smtp2goSendEmailOperator``: send one email through SMTP2GO's ``/email/send``.

Every field is templated; an ``html_body`` ending in ``.html`` is read as a Jinja template file
from the DAG folder (or ``template_searchpath``). The XCom return value is small:
``{"email_id", "request_id", "succeeded", "failed"}``.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import BaseOperator
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error
from airflow_provider_smtp2go.utils.attachments import attachment_specs

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context
    from airflow_provider_smtp2go.client import Email
    from airflow_provider_smtp2go.client.messages import Recipients


class Smtp2goSendEmailOperator(BaseOperator):
    """Send an email with SMTP2GO.

    >>> send_report = Smtp2goSendEmailOperator(  # doctest: +SKIP
    ...     task_id="send_report",
    ...     to="{{ params.recipients }}",
    ...     subject="Daily report for {{ ds }}",
    ...     html_body="report.html",                      # a Jinja template next to the DAG file
    ...     attachments=["{{ ti.xcom_pull('build_report') }}", "https://example.com/terms.pdf"],
    ... )

    :param to: recipients (a list or a comma-separated string; up to 100).
    :param subject: the subject (required unless ``template_id`` gives one).
    :param html_body: HTML body, or the name of a ``.html`` template file.
    :param text_body: plain-text body.
    :param sender: the From address; defaults to the connection's ``sender`` extra.
    :param cc: carbon-copy recipients.
    :param bcc: blind-copy recipients.
    :param reply_to: a Reply-To address.
    :param custom_headers: extra headers, e.g. ``{"X-Report": "daily"}``.
    :param attachments: local paths, ``http(s)://`` URLs (SMTP2GO fetches them),
        ``ObjectStoragePath`` objects or ``s3://``/``gs://``/``file://`` strings, dicts
        (``{"path"|"url"|"content", "filename", "mimetype"}``) or client ``Attachment`` objects.
    :param inlines: like ``attachments``, for images referenced as ``cid:<filename>``.
    :param template_id: an SMTP2GO template to render instead of a body.
    :param template_data: variables for that template.
    :param schedule: send later (an aware datetime or ISO-8601 string).
    :param fastaccept: let SMTP2GO answer before it has fully validated the recipients.
    :param smtp2go_conn_id: the ``smtp2go`` connection.
    :param retry_ambiguous_sends: retry sends whose outcome is unknown (may deliver twice).
    """

    template_fields: Sequence[str] = (
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
        "inlines",
        "template_id",
        "template_data",
        "schedule",
        "smtp2go_conn_id",
    )
    template_fields_renderers = {
        "html_body": "html",
        "custom_headers": "json",
        "template_data": "json",
    }
    template_ext: Sequence[str] = (".html",)
    ui_color = "#dff2e1"

    def __init__(
        self,
        *,
        to: Recipients,
        subject: str | None = None,
        html_body: str | None = None,
        text_body: str | None = None,
        sender: str | None = None,
        cc: Recipients = None,
        bcc: Recipients = None,
        reply_to: str | None = None,
        custom_headers: Mapping[str, str] | None = None,
        attachments: Sequence[Any] | Any = None,
        inlines: Sequence[Any] | Any = None,
        template_id: str | None = None,
        template_data: Mapping[str, Any] | None = None,
        schedule: datetime | str | None = None,
        fastaccept: bool = False,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        retry_ambiguous_sends: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.subject = subject
        self.html_body = html_body
        self.text_body = text_body
        self.sender = sender
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.custom_headers = custom_headers
        # Lists, so the template-file rule below can tell them from the body.
        self.attachments = attachment_specs(attachments)
        self.inlines = attachment_specs(inlines)
        self.template_id = template_id
        self.template_data = template_data
        self.schedule = schedule
        self.fastaccept = fastaccept
        self.smtp2go_conn_id = smtp2go_conn_id
        self.retry_ambiguous_sends = retry_ambiguous_sends

    def render_template(
        self, content: Any, context: Any, jinja_env: Any = None, seen_oids: set[int] | None = None
    ) -> Any:
        from airflow_provider_smtp2go.email_fields import render_field

        return render_field(self, super().render_template, content, context, jinja_env, seen_oids)

    def resolve_template_files(self) -> None:
        saved = {name: getattr(self, name) for name in ("attachments", "inlines")}
        for name in saved:
            object.__setattr__(self, name, None)
        try:
            super().resolve_template_files()
        finally:
            for name, value in saved.items():
                object.__setattr__(self, name, value)

    @property
    def hook(self) -> Smtp2goHook:
        """A hook for ``smtp2go_conn_id`` (no I/O until it is used)."""
        return Smtp2goHook(self.smtp2go_conn_id, retry_ambiguous_sends=self.retry_ambiguous_sends)

    def build_email(self, hook: Smtp2goHook) -> Email:
        """The ``Email`` to send, from the rendered fields; validates before any request."""
        from airflow_provider_smtp2go.email_fields import (
            build_email,
            message_fields,
            operator_sender_hint,
            resolve_sender,
        )

        sender = resolve_sender(
            self.sender,
            lambda: hook.default_sender,
            hint=operator_sender_hint(self.task_id, self.smtp2go_conn_id),
        )
        return build_email(
            sender=sender,
            **message_fields(self),
            attachments=self.attachments,
            inlines=self.inlines,
            schedule=self.schedule,
            fastaccept=self.fastaccept,
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_smtp2go.client import Smtp2goError

        with self.hook as hook:
            try:
                email = self.build_email(hook)
                result = hook.send_email(email)
            except Smtp2goError as exc:
                raise airflow_error(
                    exc, retry_ambiguous=self.retry_ambiguous_sends, conn_id=hook.smtp2go_conn_id
                ) from exc
        self.log.info(
            "SMTP2GO accepted email_id=%s (request_id=%s, succeeded=%d, failed=%d)",
            result.email_id,
            result.request_id,
            result.succeeded,
            result.failed,
        )
        return result.to_dict()
