"""The on-disk format of templates as code: a root folder with one folder per template.

::

    templates/                    the root (other files here, e.g. a README, are ignored)
      order-receipt/              one template; the folder name is its default name and id
        subject.txt               required: one line (a final newline is dropped)
        body.html                 the HTML body  } at least one of the two; kept byte for byte
        body.txt                  the text body  }
        variables.json            optional: {"order_id": "A-1001"}, every variable the
                                  template uses, with sample data (SMTP2GO's template_variables)
        template.json             optional: {"name": "Order receipt", "id": "receipt-01",
                                  "tags": ["shop"]}

Any other file in a template folder is an error (a ``body.htm`` typo would otherwise ship an
empty body).  Sample values are strings: SMTP2GO's published examples store template
variables as strings, and a number could come back as text and never compare equal.  Every
problem raises :class:`TemplateFolderError` naming the file and, inside JSON, the field.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "welcome-mail").mkdir()
>>> _ = (root / "welcome-mail" / "subject.txt").write_text("Hi {{ name }}\\n")
>>> _ = (root / "welcome-mail" / "body.txt").write_text("Welcome, {{ name }}!\\n")
>>> _ = (root / "welcome-mail" / "variables.json").write_text('{"name": "Ann"}')
>>> [(t.name, t.create_id, t.subject) for t in load_templates(root)]
[('welcome-mail', 'welcome-mail', 'Hi {{ name }}')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_provider_smtp2go.client.errors import Smtp2goValidationError

SUBJECT_FILE = "subject.txt"
HTML_FILE = "body.html"
TEXT_FILE = "body.txt"
VARIABLES_FILE = "variables.json"
META_FILE = "template.json"
TEMPLATE_FILES = frozenset({SUBJECT_FILE, HTML_FILE, TEXT_FILE, VARIABLES_FILE, META_FILE})
META_FIELDS = frozenset({"name", "id", "tags"})
MAX_NAME_LENGTH = 64
ID_LENGTHS = (5, 24)


class TemplateFolderError(Smtp2goValidationError):
    """A template folder that does not follow the format; ``field`` is the file
    (``order-receipt/template.json``) and the message names the JSON field where there is one."""

    def __init__(self, path: Path | str, message: str, rule: str = "format") -> None:
        super().__init__(str(path), rule, message)


@dataclass(frozen=True)
class LocalTemplate:
    """One template as the repository has it.

    ``template_id`` is the id ``template.json`` declares (``None``: SMTP2GO's id is left as
    it is); ``create_id`` is the id a new template gets (the declared one, else the folder name).
    """

    name: str
    subject: str
    html_body: str
    text_body: str
    variables: dict[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    template_id: str | None = None
    folder: Path = Path()

    @property
    def create_id(self) -> str:
        return self.template_id or self.folder.name

    def fields(self) -> dict[str, Any]:
        """The fields compared with SMTP2GO's copy (tags sorted: their order means nothing)."""
        return {
            "subject": self.subject,
            "html_body": self.html_body,
            "text_body": self.text_body,
            "template_variables": dict(self.variables),
            "tags": sorted(self.tags),
        }


def load_templates(root: Path | str) -> list[LocalTemplate]:
    """Every template under ``root`` (or ``root`` itself when it holds a ``subject.txt``),
    sorted by name; names and ids must be unique, and an empty root is an error (syncing it
    with ``prune=True`` would delete every template)."""
    root = Path(root)
    if not root.is_dir():
        raise TemplateFolderError(root, "is not a folder of templates", "missing")
    if (root / SUBJECT_FILE).exists():
        folders = [root]
    else:
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
    if not folders:
        raise TemplateFolderError(root, f"holds no template folders (each needs a {SUBJECT_FILE})", "empty")
    templates = [load_template(folder) for folder in folders]
    for attribute in ("name", "create_id"):
        seen: dict[str, Path] = {}
        for template in templates:
            value = getattr(template, attribute)
            if value in seen:
                label = "name" if attribute == "name" else "id"
                raise TemplateFolderError(
                    template.folder / META_FILE,
                    f"{label} {value!r} is also the {label} of {seen[value].name}/",
                    "duplicate",
                )
            seen[value] = template.folder
    return sorted(templates, key=lambda t: t.name)


def load_template(folder: Path | str) -> LocalTemplate:
    """One template folder, validated."""
    folder = Path(folder)
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or (entry.name in TEMPLATE_FILES and entry.is_file()):
            continue
        raise TemplateFolderError(
            _label(entry), f"is not part of the format; expected some of {', '.join(sorted(TEMPLATE_FILES))}"
        )
    subject_path = folder / SUBJECT_FILE
    subject = _read(subject_path, required=True)
    subject = subject[:-1] if subject.endswith("\n") else subject
    subject = subject[:-1] if subject.endswith("\r") else subject
    if not subject.strip() or "\r" in subject or "\n" in subject:
        raise TemplateFolderError(_label(subject_path), "must be exactly one non-empty line")
    html_body = _read(folder / HTML_FILE)
    text_body = _read(folder / TEXT_FILE)
    if not (html_body.strip() or text_body.strip()):
        raise TemplateFolderError(_label(folder / TEXT_FILE), f"{HTML_FILE} or {TEXT_FILE} must have content")
    meta = _meta(folder / META_FILE)
    return LocalTemplate(
        name=meta.get("name", folder.name),
        subject=subject,
        html_body=html_body,
        text_body=text_body,
        variables=_variables(folder / VARIABLES_FILE),
        tags=tuple(meta.get("tags", ())),
        template_id=meta.get("id"),
        folder=folder,
    )


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read(path: Path, *, required: bool = False) -> str:
    if not path.exists():
        if required:
            raise TemplateFolderError(_label(path), "is missing", "missing")
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise TemplateFolderError(_label(path), f"is not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _json_object(path: Path) -> dict[str, Any]:
    text = _read(path)
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise TemplateFolderError(_label(path), f"is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TemplateFolderError(_label(path), f"must hold a JSON object, not {type(value).__name__}")
    return value


def _variables(path: Path) -> dict[str, str]:
    variables = _json_object(path)
    for name, value in variables.items():
        if not name.strip() or any(c.isspace() for c in name):
            raise TemplateFolderError(_label(path), f"{name!r} is not a variable name")
        if not isinstance(value, str):
            raise TemplateFolderError(
                _label(path), f"field {name!r}: the sample value must be a string, got {json.dumps(value)}"
            )
    return variables


def _meta(path: Path) -> dict[str, Any]:
    meta = _json_object(path)
    unknown = sorted(set(meta) - META_FIELDS)
    if unknown:
        raise TemplateFolderError(
            _label(path), f"field {unknown[0]!r} is unknown; expected some of {', '.join(sorted(META_FIELDS))}"
        )
    name = meta.get("name", path.parent.name)
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_LENGTH or "\n" in name or "\r" in name:
        raise TemplateFolderError(_label(path), f"field 'name': expected one line of 1 to {MAX_NAME_LENGTH} characters")
    template_id = meta.get("id", path.parent.name)
    low, high = ID_LENGTHS
    if not isinstance(template_id, str) or not low <= len(template_id) <= high or any(c.isspace() for c in template_id):
        where = "field 'id'" if "id" in meta else "the folder name (the default id)"
        raise TemplateFolderError(
            _label(path), f"{where}: a template id is {low} to {high} characters without spaces, got {template_id!r}"
        )
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise TemplateFolderError(_label(path), "field 'tags': expected a list of non-empty strings")
    return meta
