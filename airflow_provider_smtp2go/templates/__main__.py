"""``python -m airflow_provider_smtp2go.templates preview DIR [--show]``: check a templates
folder in CI.

Exit status: 0 when every template renders with its declared variables and uses them all,
1 when any has a problem, 2 when the folder itself is malformed (the message names the file).

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "hello-mail").mkdir()
>>> _ = (root / "hello-mail" / "subject.txt").write_text("Hi {{ name }}")
>>> _ = (root / "hello-mail" / "body.txt").write_text("Hello")
>>> main(["preview", str(root)])
hello-mail: FAILED
  hello-mail: {{ name }} is used but not declared in variables.json
1
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_smtp2go.templates.folder import TemplateFolderError
from airflow_provider_smtp2go.templates.preview import Preview, preview_folder


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _report(preview: Preview, *, show: bool) -> None:
    _say(f"{preview.name}: {'ok' if preview.ok else 'FAILED'}")
    for line in [*preview.problems, *(f"warning: {w}" for w in preview.warnings)]:
        _say(f"  {line}")
    if show:
        _say(f"  subject: {preview.subject}")
        for label, body in (("text", preview.text_body), ("html", preview.html_body)):
            if body:
                _say(f"  --- {label} ---")
                _say("\n".join(f"  {line}".rstrip() for line in body.splitlines()))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_smtp2go.templates")
    commands = parser.add_subparsers(dest="command", required=True)
    preview = commands.add_parser("preview", help="render every template with its sample variables and check them")
    preview.add_argument("folder", help="a folder of template folders (or one template folder)")
    preview.add_argument("--show", action="store_true", help="print the rendered subject and bodies")
    args = parser.parse_args(argv)
    try:
        previews = preview_folder(args.folder)
    except TemplateFolderError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    for item in previews:
        _report(item, show=args.show)
    return 0 if all(p.ok for p in previews) else 1


if __name__ == "__main__":
    sys.exit(main())
