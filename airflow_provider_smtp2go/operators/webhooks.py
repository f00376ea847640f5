"""``Smtp2goEnsureWebhookOperator``: register the account's webhook idempotently, for a setup DAG.

It runs :meth:`Smtp2goHook.ensure_webhook`; its XCom is ``{"id", "action", "url"}`` (``action``:
``created``, ``updated`` or ``unchanged``), never the secret.  Running it again is safe, so an
unanswered ``/webhook/add`` leaves the task to Airflow's retries: the next try views first.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import BaseOperator
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context


class Smtp2goEnsureWebhookOperator(BaseOperator):
    """Make SMTP2GO post ``events`` to ``url`` with the secret of ``webhook_conn_id``.

    >>> ensure = Smtp2goEnsureWebhookOperator(  # doctest: +SKIP
    ...     task_id="ensure_webhook",
    ...     url="https://airflow.example.com/smtp2go/webhooks/",
    ...     events=["bounce", "spam", "unsubscribe"],
    ... )

    :param url: the receiver's public URL (the api-server behind TLS, prefix ``/smtp2go/webhooks``).
    :param events: webhook event names (``bounce``, ``open``, ``click``, ...).
    :param sms_events: SMS event names.
    :param headers: email headers SMTP2GO should echo in each post.
    :param usernames: only fire for these SMTP users / API keys (all when empty).
    :param output_format: ``form`` (SMTP2GO's default) or ``json``.
    :param webhook_conn_id: the connection holding the receiver's secret (``None``: no auth header).
    :param force_update: edit even when nothing visible differs (pushes a rotated secret).
    :param smtp2go_conn_id: the ``smtp2go`` connection (the API key).
    """

    template_fields: Sequence[str] = ("url", "events", "sms_events", "headers", "usernames", "webhook_conn_id")
    ui_color = "#dff2e1"

    def __init__(
        self,
        *,
        url: str,
        events: Sequence[str],
        sms_events: Sequence[str] = (),
        headers: Sequence[str] = (),
        usernames: Sequence[str] = (),
        output_format: str = "form",
        webhook_conn_id: str | None = "smtp2go_webhook",
        force_update: bool = False,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.events = events
        self.sms_events = sms_events
        self.headers = headers
        self.usernames = usernames
        self.output_format = output_format
        self.webhook_conn_id = webhook_conn_id
        self.force_update = force_update
        self.smtp2go_conn_id = smtp2go_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_smtp2go.client import Smtp2goError

        with Smtp2goHook(self.smtp2go_conn_id) as hook:
            try:
                result = hook.ensure_webhook(
                    self.url,
                    self.events,
                    sms_events=self.sms_events,
                    headers=self.headers,
                    usernames=self.usernames,
                    output_format=self.output_format,
                    webhook_conn_id=self.webhook_conn_id,
                    force_update=self.force_update,
                )
            except Smtp2goError as exc:
                # Retrying is safe: ensure_webhook views before it adds.
                raise airflow_error(exc, retry_ambiguous=True) from exc
        self.log.info("SMTP2GO webhook %s for %s: %s", result["id"], result["url"], result["action"])
        return result
