"""``Smtp2goCancelScheduledOperator``: cancel emails a DAG scheduled, before they go out.

The ids come from ``schedule_ids`` or from the XCom of send tasks (``from_tasks``), as they
are: a ``Smtp2goSendEmailOperator`` result carries ``schedule_id`` when it scheduled its email,
and a ``Smtp2goBulkSendOperator`` summary its ``schedule_ids`` (or, past
``bulk.report.SCHEDULE_IDS_IN_SUMMARY`` rows, the report that lists them all)::

    bulk = Smtp2goBulkSendOperator(task_id="campaign", rows=..., schedule=..., report_path=...)
    Smtp2goCancelScheduledOperator(task_id="call_off", schedule_ids=bulk.output)
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

import ast
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import AirflowFailException, BaseOperator
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context


log = logging.getLogger(__name__)


def schedule_ids_in(value: Any) -> list[str]:
    """Schedule ids in an id, a send result (``{"schedule_id": ...}``), a bulk summary
    (``{"schedule_ids": [...], ...}``), a list of any of these, or such a value rendered as text
    by a Jinja template.

    >>> schedule_ids_in([{"email_id": "e1", "schedule_id": "s1"}, "s2", {"email_id": "e3"}, None])
    ['s1', 's2']
    >>> schedule_ids_in({"counts": {"sent": 2}, "scheduled": 2, "schedule_ids": ["b1", "b2"]})
    ['b1', 'b2']
    >>> schedule_ids_in("[{'schedule_id': 's1'}]")
    ['s1']
    """
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("{", "["):  # an XCom pulled through Jinja renders as its Python repr
            return schedule_ids_in(ast.literal_eval(text))
        return [text] if text else []
    if isinstance(value, Mapping):
        if "schedule_ids" in value:
            return _bulk_schedule_ids(value)
        return schedule_ids_in(value.get("schedule_id"))
    if isinstance(value, Sequence):
        return [i for item in value for i in schedule_ids_in(item)]
    return []


def _bulk_schedule_ids(summary: Mapping[str, Any]) -> list[str]:
    unknown = (summary.get("counts") or {}).get("unknown", 0)
    if unknown:
        log.warning(
            "%d row(s) of the bulk send have an unknown outcome: any of them SMTP2GO scheduled has no id "
            "to cancel; look for them with /email/scheduled/search",
            unknown,
        )
    if summary.get("schedule_ids_complete", True):
        return schedule_ids_in(list(summary.get("schedule_ids") or []))
    report = summary.get("report")
    if not report:
        raise AirflowFailException(
            f"the bulk summary lists only {len(summary.get('schedule_ids') or [])} of its "
            f"{summary.get('scheduled')} schedule ids and names no report with the rest: nothing was cancelled. "
            "Give the bulk task a report_path."
        )
    from airflow_provider_smtp2go._compat import object_storage_path_class
    from airflow_provider_smtp2go.bulk.report import read_schedule_ids

    location = str(report)
    path: Any = location if "://" not in location else object_storage_path_class()(location)
    return read_schedule_ids(location.removeprefix("file://") if location.startswith("file://") else path)


class Smtp2goCancelScheduledOperator(BaseOperator):
    """Cancel scheduled SMTP2GO emails (``/email/scheduled/remove``).

    >>> cancel = Smtp2goCancelScheduledOperator(  # doctest: +SKIP
    ...     task_id="cancel_reminder", from_tasks=["schedule_reminder"], trigger_rule="all_done")

    :param schedule_ids: ids to cancel: one id, a list, send results or bulk summaries
        (``send_task.output``, ``bulk_task.output``). Templated.
    :param from_tasks: task ids whose XCom return values hold ``schedule_id`` or ``schedule_ids``;
        for a bulk task that failed (so returned nothing) its ``bulk_summary`` XCom is read.
        Use this, with ``trigger_rule="all_done"``, to call off what a failed bulk run scheduled.
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
                value = ti.xcom_pull(task_ids=task_id)
                if value is None:
                    # A bulk task that failed part-way pushed its summary under this key instead.
                    value = ti.xcom_pull(task_ids=task_id, key="bulk_summary")
                found += schedule_ids_in(value)
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
