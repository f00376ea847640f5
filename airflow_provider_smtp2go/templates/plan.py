"""The plan: what makes SMTP2GO's templates identical to a folder, and carrying it out.

Templates are matched by **name** (SMTP2GO's ``name``/``template_name``): the id is
SMTP2GO's key, and a template made in the dashboard has an id nobody chose.  A local template
whose name SMTP2GO lacks is matched by its id next (a renamed template is an update, not a
delete plus a clash); still unmatched, it is a create.  A remote template no local one
matches is a delete only with ``prune=True`` and is otherwise ``kept``.

Each update lists the fields that differ with a unified diff per field, remote first.  The
comparison is exact: if SMTP2GO normalised bodies it stores (UNVERIFIED; the sandbox does
not), a second run would plan that difference again rather than hide it.  Applying a plan
and planning again yields nothing to do.

>>> from pathlib import Path
>>> from airflow_provider_smtp2go.templates.folder import LocalTemplate
>>> local = [LocalTemplate("Receipt", "Order {{ id }}", "", "Thanks", {"id": "A-1"}, folder=Path("receipt"))]
>>> remote = [RemoteTemplate("Receipt", "receipt", {"subject": "Order", "html_body": "",
...           "text_body": "Thanks", "template_variables": {"id": "A-1"}, "tags": []})]
>>> plan = diff_templates(local, remote)
>>> [(c.action, c.name, c.fields) for c in plan.changes]
[('update', 'Receipt', ('subject',))]
>>> print(plan.changes[0].diff, end="")
--- remote/Receipt/subject
+++ local/receipt/subject.txt
@@ -1 +1 @@
-Order
+Order {{ id }}
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.templates.folder import (
    HTML_FILE,
    META_FILE,
    SUBJECT_FILE,
    TEXT_FILE,
    VARIABLES_FILE,
    LocalTemplate,
    TemplateFolderError,
)

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client import Smtp2goClient

ACTIONS = ("create", "update", "delete", "unchanged", "kept")
#: Where each compared field lives in a template folder (for the diff's headers).
FIELD_FILES = {
    "name": META_FILE,
    "id": META_FILE,
    "subject": SUBJECT_FILE,
    "html_body": HTML_FILE,
    "text_body": TEXT_FILE,
    "template_variables": VARIABLES_FILE,
    "tags": META_FILE,
}
ONE_LINE_FIELDS = frozenset({"name", "id", "subject"})
SEARCH_PAGE_SIZE = 100
MAX_SEARCH_PAGES = 1000


@dataclass(frozen=True)
class RemoteTemplate:
    """SMTP2GO's copy: ``fields`` as :meth:`LocalTemplate.fields` has them, ``None`` when
    only the search listing was read (enough to delete or keep it)."""

    name: str
    template_id: str
    fields: dict[str, Any] | None = None

    @classmethod
    def from_view(cls, data: Mapping[str, Any]) -> RemoteTemplate:
        """From a ``/template/view`` answer (``template_name`` read too, in case ``name`` is absent)."""
        variables = data.get("template_variables")
        return cls(
            str(data.get("name") or data.get("template_name") or ""),
            str(data.get("id") or ""),
            {
                "subject": str(data.get("subject") or ""),
                "html_body": str(data.get("html_body") or ""),
                "text_body": str(data.get("text_body") or ""),
                "template_variables": dict(variables) if isinstance(variables, Mapping) else {},
                "tags": sorted(str(t) for t in data.get("tags") or []),
            },
        )


@dataclass(frozen=True)
class TemplateChange:
    """One template's fate: ``action`` is one of :data:`ACTIONS`."""

    action: str
    name: str
    template_id: str
    fields: tuple[str, ...] = ()
    diff: str = ""
    local: LocalTemplate | None = None

    def to_dict(self) -> dict[str, Any]:
        row: dict[str, Any] = {"name": self.name, "id": self.template_id}
        if self.action == "update":
            row["fields"] = list(self.fields)
        return row


@dataclass(frozen=True)
class SyncPlan:
    """The changes for every local and remote template, creates first, in name order."""

    changes: tuple[TemplateChange, ...]

    def of(self, action: str) -> list[TemplateChange]:
        return [c for c in self.changes if c.action == action]

    @property
    def has_changes(self) -> bool:
        return any(c.action in ("create", "update", "delete") for c in self.changes)

    def summary(self, *, dry_run: bool) -> dict[str, Any]:
        """XCom-sized: ``{"dry_run", "created", "updated", "deleted", "unchanged", "kept"}``,
        each a list of ``{"name", "id"}`` (updates add ``fields``)."""
        past = {"create": "created", "update": "updated", "delete": "deleted", "unchanged": "unchanged", "kept": "kept"}
        result: dict[str, Any] = {"dry_run": dry_run}
        result.update({past[a]: [c.to_dict() for c in self.of(a)] for a in ACTIONS})
        return result

    def describe(self) -> str:
        """A readable report: one line per template, then each update's diff."""
        if not self.changes:
            return "No templates, local or remote."
        signs = {"create": "+", "update": "~", "delete": "-", "unchanged": "=", "kept": "?"}
        lines = []
        for change in self.changes:
            detail = f" ({', '.join(change.fields)})" if change.fields else ""
            note = " (not in the folder; prune=True would delete it)" if change.action == "kept" else ""
            lines.append(f"{signs[change.action]} {change.action} {change.name!r} [{change.template_id}]{detail}{note}")
        lines.extend(c.diff.rstrip("\n") for c in self.changes if c.diff)
        return "\n".join(lines)


def _text(field: str, value: Any) -> str:
    if field in ONE_LINE_FIELDS:
        return f"{value}\n"
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def field_diff(template: LocalTemplate, field: str, remote_value: Any, local_value: Any) -> str:
    """A unified diff of one field, remote -> local, headed by the file the field lives in."""
    lines = difflib.unified_diff(
        _text(field, remote_value).splitlines(keepends=True),
        _text(field, local_value).splitlines(keepends=True),
        fromfile=f"remote/{template.name}/{field}",
        tofile=f"local/{template.folder.name}/{FIELD_FILES[field]}",
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _compare(template: LocalTemplate, remote: RemoteTemplate) -> TemplateChange:
    wanted = template.fields()
    have = dict(remote.fields or {})
    wanted["name"], have["name"] = template.name, remote.name
    if template.template_id is not None:
        wanted["id"], have["id"] = template.template_id, remote.template_id
    changed = tuple(f for f in FIELD_FILES if f in wanted and wanted[f] != have.get(f))
    diff = "".join(field_diff(template, f, have.get(f, ""), wanted[f]) for f in changed)
    action = "update" if changed else "unchanged"
    return TemplateChange(action, template.name, remote.template_id, changed, diff, template)


def diff_templates(
    local: Iterable[LocalTemplate], remote: Iterable[RemoteTemplate], *, prune: bool = False
) -> SyncPlan:
    """The plan that makes ``remote`` equal ``local`` (pure: no network)."""
    remote_list = list(remote)
    by_name = {r.name: r for r in remote_list}
    by_id = {r.template_id: r for r in remote_list}
    local_list = sorted(local, key=lambda t: t.name)
    claimed: set[str] = {by_name[t.name].template_id for t in local_list if t.name in by_name}
    changes: list[TemplateChange] = []
    for template in local_list:
        match = by_name.get(template.name)
        if match is None and template.create_id in by_id and template.create_id not in claimed:
            match = by_id[template.create_id]
            claimed.add(match.template_id)
        if match is not None:
            changes.append(_compare(template, match))
            continue
        if template.create_id in by_id:
            raise TemplateFolderError(
                template.folder / META_FILE,
                f"id {template.create_id!r} is taken in SMTP2GO by {by_id[template.create_id].name!r}; "
                "declare another 'id' for this template",
                "duplicate",
            )
        diff = "".join(field_diff(template, f, "", v) for f, v in template.fields().items() if v)
        changes.append(TemplateChange("create", template.name, template.create_id, (), diff, template))
    for leftover in sorted(remote_list, key=lambda r: r.name):
        if leftover.template_id not in claimed:
            changes.append(TemplateChange("delete" if prune else "kept", leftover.name, leftover.template_id))
    order = {a: i for i, a in enumerate(ACTIONS)}
    return SyncPlan(tuple(sorted(changes, key=lambda c: order[c.action])))


def read_remote(client: Smtp2goClient, names: Iterable[str] = ()) -> list[RemoteTemplate]:
    """Every template in the account (all search pages); those named in ``names`` are read in
    full with ``/template/view`` (the others need only their name and id)."""
    wanted = set(names)
    found: list[RemoteTemplate] = []
    token: str | None = None
    for _ in range(MAX_SEARCH_PAGES):
        page = client.search_templates(page_size=SEARCH_PAGE_SIZE, continue_token=token)
        for item in page.get("templates") or []:
            summary = RemoteTemplate.from_view(item)
            if summary.name in wanted or summary.template_id in wanted:
                found.append(RemoteTemplate.from_view(client.view_template(summary.template_id)))
            else:
                found.append(RemoteTemplate(summary.name, summary.template_id))
        next_token = page.get("continue_token")
        if not next_token or next_token == token:
            break
        token = str(next_token)
    return found


def plan_sync(client: Smtp2goClient, local: Iterable[LocalTemplate], *, prune: bool = False) -> SyncPlan:
    """Read SMTP2GO's templates and plan (nothing is changed)."""
    local_list = list(local)
    wanted = {t.name for t in local_list} | {t.create_id for t in local_list}
    return diff_templates(local_list, read_remote(client, wanted), prune=prune)


def apply_plan(client: Smtp2goClient, plan: SyncPlan) -> None:
    """Carry out a plan: updates, then creates, then deletes.

    Updates send every field (whether SMTP2GO keeps omitted ones is UNVERIFIED).  A failure
    stops here; what was done stays done, and planning again picks up the rest.
    """
    for change in plan.of("update"):
        local = change.local
        assert local is not None  # an update always carries its local template
        new_id = local.template_id if "id" in change.fields else None
        client.edit_template(change.template_id, new_id=new_id, name=local.name, **_payload(local))
    for change in plan.of("create"):
        local = change.local
        assert local is not None  # a create always carries its local template
        client.add_template(local.create_id, name=local.name, **_payload(local))
    for change in plan.of("delete"):
        client.delete_template(change.template_id)


def _payload(local: LocalTemplate) -> dict[str, Any]:
    return {
        "subject": local.subject,
        "html_body": local.html_body,
        "text_body": local.text_body,
        "template_variables": dict(local.variables),
        "tags": sorted(local.tags),
    }
