"""``Smtp2goCancelScheduledOperator``: cancel emails a DAG scheduled, before they go out.

The ids come from ``schedule_ids`` or from the XCom of send tasks (``from_tasks``): a
``Smtp2goSendEmailOperator`` result carries ``schedule_id`` when it scheduled its email.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import BaseOperator
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context


def schedule_ids_in(value: Any) -> list[str]:
    """Schedule ids in an id, a send result (``{"schedule_id": ...}``), or a list of either.

    >>> schedule_ids_in([{"email_id": "e1", "schedule_id": "s1"}, "s2", {"email_id": "e3"}, None])
    ['s1', 's2']
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, Mapping):
        return schedule_ids_in(value.get("schedule_id"))
    if isinstance(value, Sequence):
        return [i for item in value for i in schedule_ids_in(item)]
    return []


class Smtp2goCancelScheduledOperator(BaseOperator):
    """Cancel scheduled SMTP2GO emails (``/email/scheduled/remove``).

    >>> cancel = Smtp2goCancelScheduledOperator(  # doctest: +SKIP
    ...     task_id="cancel_reminder", from_tasks=["schedule_reminder"], trigger_rule="all_done")

    :param schedule_ids: ids to cancel (a list, one id, or send results).
    :param from_tasks: task ids whose XCom return values hold ``schedule_id``.
    :param missing_ok: an id SMTP2GO no longer holds pending (already sent or cancelled) is
        reported as ``not_pending`` instead of failing the task.
    :param smtp2go_conn_id: the ``smtp2go`` connection.

    Returns ``{"cancelled": [...], "not_pending": [...]}``.
    """

    template_fields: Sequence[str] = ("schedule_ids", "smtp2go_conn_id")
    ui_color = "#f2e1df"

    def __init__(
        self,
        *,
        schedule_ids: Any = None,
        from_tasks: str | Sequence[str] | None = None,
        missing_ok: bool = True,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.schedule_ids = schedule_ids
        self.from_tasks = [from_tasks] if isinstance(from_tasks, str) else list(from_tasks or [])
        self.missing_ok = missing_ok
        self.smtp2go_conn_id = smtp2go_conn_id

    def collect_ids(self, context: Context) -> list[str]:
        """The ids to cancel, without repeats, in the order found."""
        found = schedule_ids_in(self.schedule_ids)
        if self.from_tasks:
            ti: Any = context["ti"]
            for task_id in self.from_tasks:
                found += schedule_ids_in(ti.xcom_pull(task_ids=task_id))
        return list(dict.fromkeys(found))

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_smtp2go.client import Smtp2goError

        ids = self.collect_ids(context)
        cancelled: list[str] = []
        not_pending: list[str] = []
        with Smtp2goHook(self.smtp2go_conn_id) as hook:
            client = hook.get_client()
            for schedule_id in ids:
                try:
                    client.remove_scheduled(schedule_id)
                    cancelled.append(schedule_id)
                except Smtp2goError as exc:
                    if not (self.missing_ok and _not_pending(client, schedule_id, exc)):
                        raise airflow_error(exc) from exc
                    not_pending.append(schedule_id)
        self.log.info("Cancelled %d scheduled email(s); %d were not pending", len(cancelled), len(not_pending))
        return {"cancelled": cancelled, "not_pending": not_pending}


def _not_pending(client: Any, schedule_id: str, exc: Exception) -> bool:
    # Only a plain 400 about the id may mean "nothing to cancel"; confirm with a search rather
    # than trusting the wording of an error SMTP2GO does not document.
    from airflow_provider_smtp2go.client import Smtp2goApiError, Smtp2goAuthError

    if not isinstance(exc, Smtp2goApiError) or isinstance(exc, Smtp2goAuthError) or exc.status != 400:
        return False
    return not any(item.get("schedule_id") == schedule_id for item in client.search_scheduled(schedule_id=schedule_id))
