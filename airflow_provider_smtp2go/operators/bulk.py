"""``Smtp2goBulkSendOperator``: one personalised email per row, thousands per task, never twice.

Dynamic task mapping makes one task instance per email, which is too heavy at 10,000 rows;
this operator sends them all from one task with pooled connections and bounded, adaptive
concurrency (see ``airflow_provider_smtp2go.bulk`` for the engine).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from airflow_provider_smtp2go._compat import (
    AirflowException,
    AirflowFailException,
    BaseOperator,
    object_storage_path_class,
)
from airflow_provider_smtp2go.bulk import (
    DirectoryLedgerStore,
    InvalidRowsError,
    KeyValueLedgerStore,
    LedgerStore,
    MessageTemplate,
    Smtp2goLedgerError,
    run_bulk_send,
)
from airflow_provider_smtp2go.client.errors import Smtp2goError
from airflow_provider_smtp2go.email_fields import message_fields, operator_sender_hint, resolve_sender
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from datetime import datetime

    from airflow_provider_smtp2go._compat import Context

ProgressStore = Literal["auto", "task_state_store", "directory"]
STATE_STORE_PREFIX = "smtp2go_bulk/ledger"


class Smtp2goBulkSendOperator(BaseOperator):
    """Send one email per row (from XCom, a list, or a CSV/JSON/JSONL file) through SMTP2GO.

    The message fields (``subject``, ``text_body``, ``html_body``, ``to``, ...) are Jinja
    templates rendered **per row**, with the row's keys as variables (``{{ name }}``) and the
    row itself as ``row``. They are not rendered with the Airflow context; put run-level values
    into the rows upstream. Alternatively give an SMTP2GO ``template_id``; ``template_data``
    then comes from the row.

    Every row is validated before the first email goes out. ``on_invalid="fail"`` fails the
    task listing the bad rows by index and field; ``"skip"`` sends the rest and reports them.

    **Never twice.** Each row gets a stable idempotency key (a hash of the row, the message
    template and the task identity: dag, task, run, map index; not the try number), sent as the
    header ``X-Smtp2go-Idempotency-Key``. Progress per key is kept durably, so an Airflow retry
    sends only rows not yet accepted; rows whose fate is unknown (the worker died mid-request, a
    timeout) are first looked up in SMTP2GO's activity log by that header, and rows that can be
    neither proven sent nor unsent are reported ``unknown`` instead of being resent. Where the
    progress lives (``progress_store``):

    - ``"task_state_store"``: Airflow 3.3+'s task state store (in the metadata DB, scoped to the
      task instance and shared by all its tries; no extra setup). ``"auto"`` picks it when the
      running Airflow provides it.
    - ``"directory"``: segment files under ``ledger_path`` (local or an object-storage URL such
      as ``s3://bucket/ledgers``), or next to a report as ``<report_path>.ledger/`` when
      ``ledger_path`` is not set. Used by ``"auto"`` on Airflow before 3.3. Use storage every
      worker can reach (object storage on Airflow 3), or retries on another worker cannot see it.
      Each task instance keeps its ledger in its own subdirectory,
      ``<ledger_path>/<dag_id>/<task_id>/<run_id>/<map_index>``, so mapped parts, other tasks
      and later runs can share one ``ledger_path``.

    The ledger checks itself on every try. A damaged one (a missing or emptied segment, a
    garbage file, a lost head record) fails the task without retries before anything is sent
    (``Smtp2goLedgerError`` names the store and the file). A retry (``try_number > 1``) that
    finds no ledger, or one the previous try did not write, looks every row it does not show
    settled up in the activity log since the DAG run started, before sending anything: a retry
    never resends a row it cannot prove unsent.

    **Result.** The return value (XCom) is a compact summary: counts by outcome
    (``sent``, ``already_sent``, ``failed``, ``retryable``, ``unknown``, ``invalid``) and the
    first failures by row index and key. The per-row report goes to ``report_path``
    (``.csv`` or ``.jsonl``; local or ``ObjectStoragePath`` URL). When rows were not all
    accepted the task fails after pushing the summary under XCom key ``bulk_summary``:
    without Airflow retries for permanent problems (invalid rows, bad key, rejected emails),
    with them for transient ones (a retry sends only what is missing).

    >>> Smtp2goBulkSendOperator(  # doctest: +SKIP
    ...     task_id="send_invoices",
    ...     rows=fetch_recipients.output,                 # a list of dicts from XCom
    ...     subject="Your invoice {{ invoice_no }}",
    ...     html_body="<p>Hi {{ name }}, <a href='{{ url }}'>your invoice</a>.</p>",
    ...     concurrency=16, max_per_hour=200_000,
    ...     report_path="s3://mail-reports/{{ ds }}/invoices.csv",
    ... )

    :param rows: list of mappings (e.g. an upstream ``.output``), a JSON list string, or a path /
        object-storage URL of a ``.csv``/``.json``/``.jsonl`` file. Templated.
    :param sender: From address (per-row template); defaults to the connection's ``sender``.
    :param to: recipients per row (default ``{{ email }}``).
    :param subject: subject template (unless ``template_id``).
    :param text_body: plain-text body template.
    :param html_body: HTML body template (row values are escaped).
    :param cc: cc template; :param bcc: bcc template; :param reply_to: Reply-To template.
    :param custom_headers: extra headers (values are per-row templates).
    :param template_id: SMTP2GO template id; :param template_data: its data (default: the row).
    :param schedule: send every row later (an aware datetime or ISO-8601 string, within
        SMTP2GO's 3 days); the report keeps each row's ``schedule_id`` (cancel them with
        ``Smtp2goCancelScheduledOperator``). Templated.
    :param require_verified_sender: before sending anything, ask SMTP2GO (``/domain/view``,
        ``/single_sender_emails/view``) whether the sender is verified and refuse to start if
        not (default True). A sender that is a per-row template is not checked; a key allowed
        to read neither list fails the check (set False to skip it).
    :param skip_suppressed: read SMTP2GO's suppression list first (``/suppression/view``) and
        report rows whose recipients are all on it as ``suppressed`` instead of sending them.
    :param on_invalid: ``"fail"`` or ``"skip"``.
    :param concurrency: parallel requests (one pooled connection each).
    :param max_per_second: optional rate cap; :param max_per_hour: optional rate cap (the
        account default limit is 200,000/hour).
    :param report_path: where to write the per-row report. Templated.
    :param progress_store: ``"auto"``, ``"task_state_store"`` or ``"directory"``.
    :param ledger_path: directory for ``"directory"`` progress (one subdirectory per task
        instance is made under it). Templated.
    :param fail_on_rejected: fail the task when SMTP2GO rejected some rows (default True).
    :param reconcile_settle_seconds: how long after a send its absence from the activity log
        proves it was not accepted.
    :param progress_interval: seconds between progress log lines.
    :param smtp2go_conn_id: the SMTP2GO connection.
    """

    template_fields: Sequence[str] = ("rows", "report_path", "ledger_path", "schedule")
    ui_color = "#cbe6ff"

    def __init__(
        self,
        *,
        rows: Any,
        sender: str | None = None,
        to: str = "{{ email }}",
        subject: str | None = None,
        text_body: str | None = None,
        html_body: str | None = None,
        cc: str | None = None,
        bcc: str | None = None,
        reply_to: str | None = None,
        custom_headers: Mapping[str, str] | None = None,
        template_id: str | None = None,
        template_data: Mapping[str, Any] | None = None,
        schedule: datetime | str | None = None,
        require_verified_sender: bool = True,
        skip_suppressed: bool = False,
        on_invalid: Literal["fail", "skip"] = "fail",
        concurrency: int = 8,
        max_per_second: float | None = None,
        max_per_hour: float | None = None,
        report_path: str | None = None,
        progress_store: ProgressStore = "auto",
        ledger_path: str | None = None,
        fail_on_rejected: bool = True,
        reconcile_settle_seconds: float = 120.0,
        progress_interval: float = 10.0,
        smtp2go_conn_id: str = "smtp2go_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if on_invalid not in ("fail", "skip"):
            raise ValueError(f"on_invalid must be 'fail' or 'skip', not {on_invalid!r}")
        if progress_store not in ("auto", "task_state_store", "directory"):
            raise ValueError(
                f"progress_store must be 'auto', 'task_state_store' or 'directory', not {progress_store!r}"
            )
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.rows = rows
        self.sender = sender
        self.to = to
        self.subject = subject
        self.text_body = text_body
        self.html_body = html_body
        self.cc = cc
        self.bcc = bcc
        self.reply_to = reply_to
        self.custom_headers = dict(custom_headers) if custom_headers else None
        self.template_id = template_id
        self.template_data = dict(template_data) if template_data is not None else None
        self.schedule = schedule
        self.require_verified_sender = require_verified_sender
        self.skip_suppressed = skip_suppressed
        self.on_invalid = on_invalid
        self.concurrency = concurrency
        self.max_per_second = max_per_second
        self.max_per_hour = max_per_hour
        self.report_path = report_path
        self.progress_store = progress_store
        self.ledger_path = ledger_path
        self.fail_on_rejected = fail_on_rejected
        self.reconcile_settle_seconds = reconcile_settle_seconds
        self.progress_interval = progress_interval
        self.smtp2go_conn_id = smtp2go_conn_id

    # Pieces

    def _message_template(self, default_sender: str | None) -> MessageTemplate:
        sender = resolve_sender(
            self.sender,
            default_sender,
            hint=operator_sender_hint(self.task_id, self.smtp2go_conn_id),
        )
        return MessageTemplate(sender=sender, **message_fields(self), schedule=self.schedule or None)

    def _rows(self) -> Any:
        rows = self.rows
        if isinstance(rows, str) and rows.lstrip().startswith("["):
            # A Jinja-pulled XCom renders as Python repr unless the DAG renders native objects.
            try:
                return json.loads(rows)
            except ValueError:
                return ast.literal_eval(rows)
        if isinstance(rows, str) and "://" in rows and not rows.startswith("file://"):
            return _storage_path(rows)
        return rows

    def _ledger_store(self, context: Context, identity: Sequence[str]) -> LedgerStore:
        store = context.get("task_state_store") if self.progress_store != "directory" else None
        if store is not None:
            try:
                store.get(f"{STATE_STORE_PREFIX}/probe", None)  # usable here? (a bad backend fails now, not mid-run)
            except Exception as exc:
                if self.progress_store == "task_state_store":
                    raise AirflowException(f"the task state store is not usable: {exc}") from exc
                self.log.warning("task state store not usable (%s); falling back to a ledger directory", exc)
            else:
                self.log.info("bulk send progress is kept in the task state store (%s/<n>)", STATE_STORE_PREFIX)
                return KeyValueLedgerStore(store, prefix=STATE_STORE_PREFIX)
        if self.progress_store == "task_state_store":
            raise AirflowFailException(
                "progress_store='task_state_store' needs Airflow 3.3+; use 'directory' with ledger_path"
            )
        location = self.ledger_path or (f"{self.report_path}.ledger" if self.report_path else None)
        if not location:
            raise AirflowFailException(
                "Smtp2goBulkSendOperator needs somewhere durable to record progress on this Airflow version: "
                "set ledger_path (a directory or object-storage URL every worker can reach) or report_path"
            )
        path: Any = _storage_path(location) if "://" in location and not location.startswith("file://") else location
        if isinstance(path, str):
            path = Path(path.removeprefix("file://"))
        # One ledger per task instance: parts of a mapped send running at once, or two runs,
        # writing segments into one directory would break each other's chain.
        path = path.joinpath(*(quote(part, safe=":+") for part in identity))
        self.log.info("bulk send progress is kept in %s", path)
        return DirectoryLedgerStore(path)

    def _check_sender(self, client: Any, sender: str) -> None:
        if not self.require_verified_sender or "{{" in sender or "{%" in sender:
            return
        from airflow_provider_smtp2go.bulk.sender_check import check_sender  # noqa: PLC0415 - not at DAG parse

        problem = check_sender(client, sender)
        if problem is not None:
            raise AirflowFailException(
                f"{problem}: nothing was sent. Verify it in SMTP2GO (Sending > Verified Senders), "
                "or pass require_verified_sender=False to send anyway."
            )

    # Execution

    def execute(self, context: Context) -> dict[str, Any]:
        hook = Smtp2goHook(self.smtp2go_conn_id)
        settings = hook.get_settings()
        ti = context["ti"]
        map_index = getattr(ti, "map_index", -1)
        identity = (ti.dag_id, ti.task_id, ti.run_id, str(-1 if map_index is None else map_index))
        namespace = "/".join(identity)
        report: Any = self.report_path
        if isinstance(report, str) and "://" in report and not report.startswith("file://"):
            report = _storage_path(report)
        elif isinstance(report, str):
            report = report.removeprefix("file://")
        try:
            template = self._message_template(settings.sender)
            # The sender retries on its own so that a 429 pauses every worker together.
            client_kwargs = {**settings.client_kwargs(max_attempts=1), "pool_maxsize": self.concurrency}
            from airflow_provider_smtp2go.client import Smtp2goClient  # noqa: PLC0415 - not at DAG parse

            with Smtp2goClient(settings.api_key, **client_kwargs) as client:
                self._check_sender(client, template.sender)
                result = run_bulk_send(
                    client,
                    self._rows(),
                    template,
                    namespace=namespace,
                    ledger_store=self._ledger_store(context, identity),
                    on_invalid=self.on_invalid,
                    concurrency=self.concurrency,
                    per_second=self.max_per_second,
                    per_hour=self.max_per_hour,
                    report_path=report,
                    attempt=max(1, int(getattr(ti, "try_number", 1) or 1)),
                    attempts_since=_run_start(context),
                    reconcile_settle_seconds=self.reconcile_settle_seconds,
                    progress_interval=self.progress_interval,
                    logger=self.log,  # type: ignore[arg-type]
                    skip_suppressed=self.skip_suppressed,
                )
        except (InvalidRowsError, Smtp2goLedgerError) as exc:
            # Neither gets better by retrying: a person must fix the rows or look at the ledger.
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from None
        except Smtp2goError as exc:
            raise airflow_error(exc, conn_id=self.smtp2go_conn_id) from None
        summary = result.summary
        if result.abort_error is not None:
            ti.xcom_push(key="bulk_summary", value=summary)
            raise airflow_error(result.abort_error if isinstance(result.abort_error, Exception) else Exception())
        counts = result.counts
        if counts["retryable"] or counts["unknown"]:
            ti.xcom_push(key="bulk_summary", value=summary)
            raise AirflowException(
                f"{counts['retryable']} rows were not accepted (transient errors) and {counts['unknown']} could "
                f"not be proven sent or unsent; a retry sends only rows proven unsent. Summary: {counts}; "
                f"report: {summary['report']}"
            )
        if counts["failed"] and self.fail_on_rejected:
            ti.xcom_push(key="bulk_summary", value=summary)
            raise AirflowFailException(
                f"SMTP2GO rejected {counts['failed']} rows (not retried: sending again cannot help). "
                f"Summary: {counts}; first: {summary['failures'][:3]}; report: {summary['report']}"
            )
        return summary


def _run_start(context: Context) -> Any:
    """When the DAG run started: every try of this task started after it (``None`` if unknown)."""
    dag_run = context.get("dag_run")
    return getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)


def _storage_path(url: str) -> Any:
    return object_storage_path_class()(url)
