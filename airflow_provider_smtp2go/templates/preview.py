"""Local preview: render a template with its sample variables, the way the sandbox renders a
send, and report what CI should stop.

Problems (each fails the check):

* **undeclared**: the subject or a body uses ``{{ var }}`` that ``variables.json`` lacks; it
  would render empty for every recipient whose ``template_data`` forgets it;
* **unused**: ``variables.json`` declares a variable nothing uses (usually a typo of one that is).

Warnings (reported, not failing): ``{{ ... }}`` that is not a plain placeholder, e.g. a
Handlebars block; SMTP2GO's support of those is UNVERIFIED and the preview leaves them as written.

>>> from pathlib import Path
>>> from airflow_provider_smtp2go.templates.folder import LocalTemplate
>>> t = LocalTemplate("Receipt", "Order {{ order_id }}", "", "Hi {{ nmae }}", {"order_id": "A-1", "name": "Ann"},
...                   folder=Path("receipt"))
>>> p = preview_template(t)
>>> p.subject, p.problems
('Order A-1', ['Receipt: {{ nmae }} is used but not declared in variables.json', \
"Receipt: 'name' is declared in variables.json but never used"])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_smtp2go.templates.folder import VARIABLES_FILE, LocalTemplate, load_templates
from airflow_provider_smtp2go.templates.rendering import placeholders, render_template, unparsed_braces


@dataclass(frozen=True)
class Preview:
    """A rendered template and what is wrong with it."""

    name: str
    subject: str
    html_body: str
    text_body: str
    undeclared: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    unparsed: tuple[str, ...] = ()

    @property
    def problems(self) -> list[str]:
        return [f"{self.name}: {{{{ {v} }}}} is used but not declared in {VARIABLES_FILE}" for v in self.undeclared] + [
            f"{self.name}: {v!r} is declared in {VARIABLES_FILE} but never used" for v in self.unused
        ]

    @property
    def warnings(self) -> list[str]:
        return [f"{self.name}: {text} is not a plain placeholder; left as written" for text in self.unparsed]

    @property
    def ok(self) -> bool:
        return not self.problems


def preview_template(template: LocalTemplate, data: Mapping[str, Any] | None = None) -> Preview:
    """Render ``template`` with its sample variables, overridden by ``data`` (as
    ``template_data`` overrides them in a send)."""
    values = {**template.variables, **(data or {})}
    texts = (template.subject, template.html_body, template.text_body)
    used = set().union(*(placeholders(t) for t in texts))
    return Preview(
        name=template.name,
        subject=render_template(template.subject, values),
        html_body=render_template(template.html_body, values),
        text_body=render_template(template.text_body, values),
        undeclared=tuple(sorted(used - set(template.variables))),
        unused=tuple(sorted(set(template.variables) - used)),
        unparsed=tuple(b for t in texts for b in unparsed_braces(t)),
    )


def preview_folder(root: Path | str) -> list[Preview]:
    """Every template under ``root``, rendered (raises ``TemplateFolderError`` on a bad folder)."""
    return [preview_template(t) for t in load_templates(root)]
