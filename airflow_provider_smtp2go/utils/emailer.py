"""An ``[email] email_backend`` that sends Airflow's emails through SMTP2GO.

.. code-block:: ini

    [email]
    email_backend = airflow_provider_smtp2go.utils.emailer.send_email
    email_conn_id = smtp2go_default
    from_email = Airflow <airflow@example.com>

It accepts every way Airflow calls a backend: Airflow 2's ``airflow.utils.email.send_email``
(a comma-joined ``to``, ``files``, ``cc``/``bcc``, MIME options, ``dryrun``, extra kwargs) and
Airflow 3's legacy-backend notifier (a list ``to``, ``conn_id`` from ``[email] email_conn_id``,
``from_email``). Unlike some backends it raises when the email is not accepted.

Storm control: Airflow passes a backend no task context, so it cannot tell a first failure
from a repeat. It threads instead: Airflow's own alert subjects become a stable
``Airflow alert: <dag>.<task>`` and every alert of a task carries ``In-Reply-To``/``References``
to one thread (``[smtp2go] alert_repeat = send`` turns this off). For alert-on-change with a
recovery email, use ``Smtp2goNotifier`` as ``on_failure_callback`` and ``on_success_callback``.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "smtp2go_default"
# Airflow's own default [email] email_conn_id means "nothing configured", so the SMTP2GO
# connection's settings are used instead (the placeholder sender is email_fields' concern).
_UNSET_CONN_IDS = frozenset({"", "smtp_default", DEFAULT_CONN_ID})


def _resolve_conn_id(conn_id: str | None) -> str:
    """The ``smtp2go`` connection to use for ``conn_id`` (see ``send_email``)."""
    if conn_id is None or conn_id in _UNSET_CONN_IDS:
        return DEFAULT_CONN_ID
    from airflow_provider_smtp2go._compat import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if conn.conn_type != "smtp2go":
        log.warning(
            "[email] email_conn_id=%r is a %r connection, not smtp2go; sending through %r instead",
            conn_id,
            conn.conn_type,
            DEFAULT_CONN_ID,
        )
        return DEFAULT_CONN_ID
    return conn_id


def send_email(  # noqa: PLR0917 (Airflow calls backends positionally)
    to: str | Iterable[str],
    subject: str,
    html_content: str,
    files: Iterable[str] | None = None,
    dryrun: bool = False,
    cc: str | Iterable[str] | None = None,
    bcc: str | Iterable[str] | None = None,
    mime_subtype: str = "mixed",
    mime_charset: str = "utf-8",
    conn_id: str | None = None,
    custom_headers: Mapping[str, Any] | None = None,
    from_email: str | None = None,
    **kwargs: Any,
) -> dict[str, Any] | None:
    """Send one of Airflow's emails through SMTP2GO; return the XCom-style result dict.

    >>> send_email("ops@example.com, dev@example.com", "Nightly load failed",  # doctest: +SKIP
    ...            "<p>See the log</p>", files=["/tmp/error.txt"])
    {'email_id': '...', 'request_id': '...', 'succeeded': 1, 'failed': 0}

    :param to: a list, or a string of addresses separated by ``,`` or ``;``.
    :param conn_id: an ``smtp2go`` connection; ``None``, Airflow's default ``smtp_default`` or
        a connection of another type fall back to ``smtp2go_default``.
    :param from_email: the sender; when unset (or Airflow's ``airflow@airflow`` placeholder)
        the connection's ``sender`` extra is used.
    :param files: local paths to attach.
    :param dryrun: build and validate the email, but do not send it (returns ``None``).
    :param mime_subtype: ignored (SMTP2GO builds the MIME message).
    :param mime_charset: ignored (SMTP2GO sends UTF-8).
    :raises AirflowException: when the email cannot be built or is not accepted.
    """
    from airflow_provider_smtp2go.client import Smtp2goError
    from airflow_provider_smtp2go.email_fields import build_email, resolve_sender
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error
    from airflow_provider_smtp2go.notifications.alert_policy import AlertPolicy, backend_threading

    if kwargs:
        log.debug("SMTP2GO email backend ignores unsupported arguments: %s", sorted(kwargs))
    with Smtp2goHook(_resolve_conn_id(conn_id)) as hook:
        try:
            sender = resolve_sender(
                from_email,
                lambda: hook.default_sender,
                hint="set [email] from_email or the 'sender' extra of the smtp2go connection",
            )
            subject, thread_headers = backend_threading(subject, sender, AlertPolicy.configured())
            headers: Any = custom_headers  # anything but a mapping: Email refuses it, naming the field
            if thread_headers and (headers is None or isinstance(headers, Mapping)):
                headers = {**thread_headers, **(headers or {})}  # the caller's headers win
            email = build_email(
                sender=sender,
                to=to,
                cc=cc,
                bcc=bcc,
                subject=subject,
                html_body=html_content,
                custom_headers=headers,
                attachments=files,
            )
            if dryrun:
                log.info("Dry run: the email to %s was built and validated, not sent", email.to)
                return None
            result = hook.send_email(email)
        except Smtp2goError as exc:
            raise airflow_error(exc, conn_id=hook.smtp2go_conn_id) from exc
    log.info("Email sent through SMTP2GO: email_id=%s", result.email_id)
    return result.to_dict()
