"""``Smtp2goSyncTemplatesOperator``: make SMTP2GO's templates identical to a folder in the repo.

The folder format is :mod:`airflow_provider_smtp2go.templates.folder`'s (one folder per
template: ``subject.txt``, ``body.html``/``body.txt``, ``variables.json``, ``template.json``).
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import BaseOperator
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context


class Smtp2goSyncTemplatesOperator(BaseOperator):
    """Create, update and (with ``prune=True``) delete SMTP2GO templates so they match ``folder``.

    Templates are matched by **name** (``template.json``'s ``name``, else the folder name):
    SMTP2GO's id is its own key, and templates made in the dashboard have ids nobody chose.  A
    local template SMTP2GO lacks by name is matched by id next, so renaming one is an update.
    New templates get the declared ``id``, else the folder name.

    * ``dry_run=True`` (the default) plans and logs the diff and changes nothing: adding the
      task to a DAG, or running it from a branch, cannot alter live templates by accident;
      a deploy DAG says ``dry_run=False`` on purpose.
    * ``prune=False`` (the default) never deletes: templates SMTP2GO has and the folder lacks
      are reported as ``kept``.  With ``prune=True`` they are deleted (an empty folder is
      refused, so a bad path cannot wipe the account).
    * Idempotent: a second run plans nothing.  The diff (per template, per changed field) is
      logged either way.

    Returns to XCom ``{"dry_run", "created", "updated", "deleted", "unchanged", "kept"}``, each a
    list of ``{"name", "id"}`` (``updated`` adds ``fields``); in a dry run they say what would happen.
    A malformed folder fails the task without retries, naming the file and field.

    >>> from pathlib import Path
    >>> Smtp2goSyncTemplatesOperator(task_id="sync_templates",  # doctest: +SKIP
    ...                              folder=Path(__file__).parent / "templates" / "smtp2go",
    ...                              dry_run=False)

    :param folder: the templates folder (absolute, or relative to the worker's working directory;
        ``Path(__file__).parent / ...`` in the DAG file is the robust choice).
    :param dry_run: plan and log only (default ``True``).
    :param prune: delete SMTP2GO templates the folder lacks (default ``False``).
    :param smtp2go_conn_id: the ``smtp2go`` connection.
    """

    template_fields: Sequence[str] = ("folder", "smtp2go_conn_id")
    ui_color = "#e3ecf7"

    def __init__(
        self,
        *,
        folder: str | Path,
        dry_run: bool = True,
        prune: bool = False,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.folder = str(folder)
        # Not ``self.dry_run``: that is BaseOperator's method behind ``airflow tasks test --dry-run``.
        self.plan_only = dry_run
        self.prune = prune
        self.smtp2go_conn_id = smtp2go_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_smtp2go.client import Smtp2goError
        from airflow_provider_smtp2go.templates.folder import load_templates
        from airflow_provider_smtp2go.templates.plan import apply_plan, plan_sync

        with Smtp2goHook(self.smtp2go_conn_id) as hook:
            try:
                local = load_templates(self.folder)
                client = hook.get_client()
                plan = plan_sync(client, local, prune=self.prune)
                mode = "dry run, nothing changed" if self.plan_only else "applying"
                self.log.info("SMTP2GO templates vs %s (%s):\n%s", self.folder, mode, plan.describe())
                if not self.plan_only and plan.has_changes:
                    apply_plan(client, plan)
            except Smtp2goError as exc:
                raise airflow_error(exc, conn_id=self.smtp2go_conn_id) from exc
        summary = plan.summary(dry_run=self.plan_only)
        counts = ", ".join(f"{len(summary[k])} {k}" for k in ("created", "updated", "deleted", "unchanged", "kept"))
        self.log.info("%s: %s", "Would do" if self.plan_only else "Done", counts)
        return summary
