"""Templates as code against the sandbox over real HTTP: the folder format's errors, the plan
(idempotent, prune only when asked, a diff naming the field), and the preview CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_smtp2go.client import Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
from airflow_provider_smtp2go.templates.folder import TemplateFolderError, load_templates
from airflow_provider_smtp2go.templates.plan import apply_plan, plan_sync
from airflow_provider_smtp2go.templates.preview import preview_folder

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "templates" / "smtp2go"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(EXAMPLE, root)
    return root


def sync(client: Smtp2goClient, root: Path, *, prune: bool = False) -> dict[str, object]:
    plan = plan_sync(client, load_templates(root), prune=prune)
    apply_plan(client, plan)
    return plan.summary(dry_run=False)


def names(summary: dict[str, object], key: str) -> list[str]:
    return [row["name"] for row in summary[key]]  # type: ignore[attr-defined,index]


def test_sync_creates_then_a_second_run_plans_nothing(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, folder: Path
) -> None:
    first = sync(client, folder)
    assert names(first, "created") == ["Order receipt", "welcome"]
    receipt = client.view_template("order-receipt")
    assert receipt["subject"] == "Your order {{ order_id }} is confirmed"
    assert receipt["template_variables"]["order_id"] == "A-1001" and receipt["tags"] == ["shop", "transactional"]
    writes = sum(smtp2go_sandbox.request_count(f"template/{p}") for p in ("add", "edit", "delete"))

    second = plan_sync(client, load_templates(folder))
    assert not second.has_changes
    assert names(second.summary(dry_run=False), "unchanged") == ["Order receipt", "welcome"]
    apply_plan(client, second)
    assert sum(smtp2go_sandbox.request_count(f"template/{p}") for p in ("add", "edit", "delete")) == writes


def test_an_update_diffs_the_changed_field_and_prune_deletes_only_when_asked(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, folder: Path
) -> None:
    sync(client, folder)
    smtp2go_sandbox.add_template("legacy-01", "Old", text_body="old", name="Legacy")
    (folder / "welcome" / "body.txt").write_text("Hi {{ first_name }},\n\nWelcome aboard: {{ login_url }}\n")

    plan = plan_sync(client, load_templates(folder))
    [update] = plan.of("update")
    assert update.fields == ("text_body",)
    assert "--- remote/welcome/text_body\n+++ local/welcome/body.txt" in update.diff
    assert "+Welcome aboard: {{ login_url }}" in update.diff
    assert "? kept 'Legacy' [legacy-01]" in plan.describe()

    kept = sync(client, folder)
    assert names(kept, "updated") == ["welcome"] and names(kept, "kept") == ["Legacy"]
    assert client.view_template("welcome")["text_body"].endswith("Welcome aboard: {{ login_url }}\n")
    assert client.view_template("legacy-01")["name"] == "Legacy"  # prune=False never deletes

    pruned = sync(client, folder, prune=True)
    assert pruned["deleted"] == [{"name": "Legacy", "id": "legacy-01"}]
    assert sorted(t["id"] for t in client.search_templates()["templates"]) == ["order-receipt", "welcome"]


def test_templates_are_matched_by_name_and_a_renamed_one_is_updated(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, folder: Path
) -> None:
    # Made in the dashboard under another id: matched by name, its id left alone.
    smtp2go_sandbox.add_template("dash-4711", "Welcome to Example, {{ first_name }}", name="welcome")
    summary = sync(client, folder)
    assert summary["updated"] == [{"name": "welcome", "id": "dash-4711", "fields": ["text_body", "template_variables"]}]
    meta = folder / "order-receipt" / "template.json"
    meta.write_text(json.dumps({"name": "Receipt", "id": "order-receipt", "tags": ["shop", "transactional"]}))
    renamed = sync(client, folder)
    assert renamed["updated"] == [{"name": "Receipt", "id": "order-receipt", "fields": ["name"]}]
    assert client.view_template("order-receipt")["name"] == "Receipt"


def test_a_new_template_whose_id_is_taken_is_refused_before_any_change(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, folder: Path
) -> None:
    smtp2go_sandbox.add_template("order-receipt", "Old subject", text_body="old", name="Order receipt")
    (folder / "welcome" / "template.json").write_text(json.dumps({"name": "Welcome", "id": "order-receipt"}))
    (folder / "order-receipt" / "template.json").write_text(json.dumps({"id": "receipt-02"}))
    (folder / "order-receipt").rename(folder / "Order receipt")  # still matched by name
    with pytest.raises(TemplateFolderError) as caught:
        plan_sync(client, load_templates(folder))
    assert "welcome/template.json: id 'order-receipt' is taken in SMTP2GO by 'Order receipt'" in str(caught.value)
    assert client.view_template("order-receipt")["subject"] == "Old subject"
    assert smtp2go_sandbox.request_count("template/edit") == 0


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda f: (f / "welcome" / "variables.json").write_text("{not json"), "variables.json: is not valid JSON"),
        (lambda f: (f / "welcome" / "variables.json").write_text('{"n": 3}'), "welcome/variables.json: field 'n'"),
        (lambda f: (f / "welcome" / "subject.txt").unlink(), "welcome/subject.txt: is missing"),
        (lambda f: (f / "welcome" / "subject.txt").write_text("a\nb\n"), "welcome/subject.txt"),
        (lambda f: (f / "welcome" / "body.htm").write_text("<p>"), "welcome/body.htm: is not part of the format"),
        (
            lambda f: (f / "order-receipt" / "template.json").write_text('{"name": "x", "colour": "red"}'),
            "order-receipt/template.json: field 'colour' is unknown",
        ),
        (
            lambda f: (f / "order-receipt" / "template.json").write_text('{"id": "abc"}'),
            "order-receipt/template.json: field 'id'",
        ),
        (
            lambda f: (f / "order-receipt" / "template.json").write_text('{"name": "welcome"}'),
            "name 'welcome' is also the name of",
        ),
    ],
)
def test_a_bad_folder_is_an_error_naming_the_file_and_field(folder: Path, mutate: object, named: str) -> None:
    mutate(folder)  # type: ignore[operator]
    with pytest.raises(TemplateFolderError) as caught:
        load_templates(folder)
    assert named in str(caught.value)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateFolderError, match="holds no template folders"):
        load_templates(tmp_path)


def test_preview_renders_like_a_sandbox_send(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, folder: Path
) -> None:
    from airflow_provider_smtp2go.client import Email

    sync(client, folder)
    receipt = next(p for p in preview_folder(folder) if p.name == "Order receipt")
    client.send(Email(sender="shop@example.com", to=["ann@example.com"], template_id="order-receipt"))
    [sent] = smtp2go_sandbox.messages()
    assert (sent.subject, sent.html_body, sent.text_body) == (receipt.subject, receipt.html_body, receipt.text_body)
    assert receipt.subject == "Your order A-1001 is confirmed"


def preview_cli(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_provider_smtp2go.templates", "preview", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_preview_command_fails_on_a_missing_variable_and_names_a_bad_file(folder: Path) -> None:
    good = preview_cli(folder)
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines() == ["Order receipt: ok", "welcome: ok"]

    (folder / "welcome" / "body.txt").write_text("Hi {{ first_name }}, see {{ login_link }}\n")
    missing = preview_cli(folder)
    assert missing.returncode == 1
    assert "welcome: {{ login_link }} is used but not declared in variables.json" in missing.stdout
    assert "welcome: 'login_url' is declared in variables.json but never used" in missing.stdout

    (folder / "welcome" / "variables.json").write_text("[]")
    broken = preview_cli(folder)
    assert broken.returncode == 2
    assert "welcome/variables.json: must hold a JSON object" in broken.stderr
