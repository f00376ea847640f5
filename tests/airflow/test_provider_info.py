"""Registration: provider info, the connection form on every Airflow version, and the CLI."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go import get_provider_info

REPO_ROOT = Path(__file__).resolve().parents[2]


def airflow_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})}, check=False
    )


def registered_paths() -> list[tuple[str, str | None]]:
    """Every (module, attribute or None) the provider info points Airflow at."""
    info = get_provider_info()
    paths: list[tuple[str, str | None]] = []
    for section in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[section]:
            paths.extend((module, None) for module in entry["python-modules"])
    dotted = [
        *info["notifications"],
        *info["email-backends"],
        *(c["hook-class-name"] for c in info["connection-types"]),
    ]
    paths.extend((path.rpartition(".")[0], path.rpartition(".")[2]) for path in dotted)
    return paths


def test_importing_the_package_does_not_import_airflow() -> None:
    code = "import sys, airflow_provider_smtp2go as p; p.get_provider_info(); print('airflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_entry_point_points_at_get_provider_info() -> None:
    from importlib.metadata import entry_points

    (entry,) = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_smtp2go")
    ]
    assert entry.load() is get_provider_info


def test_provider_info_validates_against_airflows_schema() -> None:
    import jsonschema

    schema_path = Path(importlib.import_module("airflow").__file__).with_name("provider_info.schema.json")
    jsonschema.validate(get_provider_info(), json.loads(schema_path.read_text()))


@pytest.mark.parametrize(("module_name", "attr"), registered_paths())
def test_every_registered_path_imports(module_name: str, attr: str | None) -> None:
    try:
        spec = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        # Sensors, triggers and the bulk operator are built alongside; they must exist by release.
        pytest.skip(f"{module_name} is not written yet")
    module = importlib.import_module(module_name)
    if attr is not None:
        assert callable(getattr(module, attr)), f"{module_name}.{attr}"


def test_registered_classes_are_listed() -> None:
    info = get_provider_info()
    assert info["notifications"] == ["airflow_provider_smtp2go.notifications.smtp2go.Smtp2goNotifier"]
    assert info["email-backends"] == ["airflow_provider_smtp2go.utils.emailer.send_email"]
    (operators,) = info["operators"]
    assert operators["python-modules"] == [
        "airflow_provider_smtp2go.operators.smtp2go",
        "airflow_provider_smtp2go.operators.bulk",
        "airflow_provider_smtp2go.operators.webhooks",
        "airflow_provider_smtp2go.operators.scheduled",
        "airflow_provider_smtp2go.operators.suppressions",
        "airflow_provider_smtp2go.operators.templates",
    ]
    assert info["sensors"][0]["python-modules"] == [
        "airflow_provider_smtp2go.sensors.smtp2go",
        "airflow_provider_smtp2go.sensors.deliverability",
    ]
    assert info["triggers"][0]["python-modules"] == ["airflow_provider_smtp2go.triggers.smtp2go"]
    (conn,) = info["connection-types"]
    assert conn["connection-type"] == "smtp2go"
    assert conn["hook-class-name"] == "airflow_provider_smtp2go.hooks.smtp2go.Smtp2goHook"


def test_hook_ui_behaviour_matches_provider_info() -> None:
    from airflow_provider_smtp2go.hooks.smtp2go import EXTRA_FIELDS, Smtp2goHook

    declared = get_provider_info()["connection-types"][0]
    behaviour = Smtp2goHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": declared["ui-field-behaviour"]["hidden-fields"],
        "relabeling": declared["ui-field-behaviour"]["relabeling"],
        "placeholders": declared["ui-field-behaviour"]["placeholders"],
    }
    assert behaviour["relabeling"]["password"] == "API Key"
    # Every extra the hook reads is on the form, and nothing else.
    assert set(declared["conn-fields"]) == set(EXTRA_FIELDS)
    assert set(behaviour["placeholders"]) - {"password", "port"} <= set(EXTRA_FIELDS)


def _widget_kind(field: Any) -> str:
    return field.field_class.__name__


def test_hook_form_widgets_match_conn_fields() -> None:
    pytest.importorskip("wtforms", reason="widgets are only built where the FAB UI (wtforms) is installed")
    pytest.importorskip("flask_appbuilder")
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook

    conn_fields = get_provider_info()["connection-types"][0]["conn-fields"]
    widgets = Smtp2goHook.get_connection_form_widgets()
    assert list(widgets) == list(conn_fields)
    for name, spec in conn_fields.items():
        field = widgets[name]
        assert str(field.args[0]) == spec["label"], name
        assert field.kwargs["description"] == spec["description"], name
        types = set(spec["schema"]["type"]) - {"null"}
        expected = "IntegerField" if types == {"integer"} else "StringField"
        assert _widget_kind(field) == expected, name


def test_providers_manager_sees_the_declared_form() -> None:
    from airflow.providers_manager import ProvidersManager

    try:  # Airflow 3 resolves hooks through the Task SDK's runtime manager
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime as HookManager
    except ImportError:
        HookManager = ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-smtp2go" in manager.providers
    hook = HookManager().hooks["smtp2go"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_smtp2go.hooks.smtp2go.Smtp2goHook"
    assert hook.connection_testable
    behaviours = manager.field_behaviours.get("smtp2go")
    if behaviours is None:
        pytest.skip("this Airflow has no UI metadata loader and no wtforms: the form is not built here")
    assert behaviours["relabeling"]["password"] == "API Key"
    assert "extra__smtp2go__region" in manager.connection_form_widgets


def test_cli_lists_the_provider_and_hook(airflow_db) -> None:
    providers = airflow_cli("providers", "list", "--output", "json")
    assert providers.returncode == 0, providers.stderr[-2000:]
    listed = {p["package_name"]: p for p in json.loads(providers.stdout[providers.stdout.index("[") :])}
    assert "airflow-provider-smtp2go" in listed

    hooks = airflow_cli("providers", "hooks", "--output", "json")
    assert hooks.returncode == 0, hooks.stderr[-2000:]
    rows = json.loads(hooks.stdout[hooks.stdout.index("[") :])
    (row,) = [r for r in rows if r.get("connection_type") == "smtp2go"]
    assert row["class"] == "airflow_provider_smtp2go.hooks.smtp2go.Smtp2goHook"
    assert row["package_name"] == "airflow-provider-smtp2go"


def test_cli_connection_test_runs_the_hook_against_the_sandbox(airflow_db, smtp2go_conn) -> None:
    result = airflow_cli("connections", "test", "smtp2go_default", env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Connection success" in result.stdout
    assert smtp2go_conn.sandbox.request_count("api_keys/permissions") == 1
    assert smtp2go_conn.sandbox.messages() == []


# -- the connection form as Airflow 3.3 shows it (issue 12, findings 1-5) --


def _fields() -> dict[str, Any]:
    fields: dict[str, Any] = get_provider_info()["connection-types"][0]["conn-fields"]
    return fields


def test_region_offers_the_four_regions_and_defaults_to_global() -> None:
    from airflow_provider_smtp2go.client.regions import REGIONS

    schema = _fields()["region"]["schema"]
    assert schema["enum"] == ["global", "us", "eu", "au"] == list(REGIONS)  # no None: the form showed "null"
    assert schema["default"] == "global"
    assert set(schema["values_display"]) == set(schema["enum"])
    assert schema["values_display"]["eu"] == "eu (eu-api.smtp2go.com)"


def test_each_number_field_states_its_default_from_client_limits() -> None:
    from airflow_provider_smtp2go.client import limits

    fields = _fields()
    assert f"Default: {limits.READ_TIMEOUT:g} s" in fields["timeout"]["description"]
    assert f"at most {limits.CONNECT_TIMEOUT:g} s" in fields["timeout"]["description"]
    assert f"Default: {limits.DEFAULT_MAX_ATTEMPTS}." in fields["max_attempts"]["description"]
    assert f"Default: {limits.DEFAULT_DEADLINE:g} s" in fields["deadline"]["description"]
    assert str(limits.DEFAULT_MAX_ATTEMPTS) in fields["max_attempts"]["schema"]["values_display"]
    for name, spec in fields.items():
        assert "Default:" in spec["description"], name  # 3.3 shows no placeholders on extra fields


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_attempts", 1),
        ("max_attempts", 5),
        ("max_attempts", 2.5),
        ("max_attempts", 0),
        ("max_attempts", "abc"),
        ("deadline", 300),
        ("deadline", 0.5),
        ("deadline", "abc"),
        ("deadline", 0),
        ("deadline", -3),
        ("timeout", 12.5),
        ("timeout", "30"),
        ("timeout", 0),
        ("region", "eu"),
        ("region", "mars"),
        ("deadline", None),
    ],
)
def test_the_form_schema_and_the_hook_agree_on_every_value(name: str, value: object) -> None:
    """What the form's schema allows is exactly what the hook accepts when the value is used."""
    import jsonschema

    from airflow_provider_smtp2go.client import Smtp2goValidationError
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionSettings

    schema = _fields()[name]["schema"]
    try:
        jsonschema.validate(value, schema)
        form_accepts = True
    except jsonschema.ValidationError:
        form_accepts = False
    try:
        Smtp2goConnectionSettings.from_connection("c", "k" * 24, {name: value})
        hook_accepts = True
    except Smtp2goValidationError:
        hook_accepts = False
    # The hook also reads numbers stored as strings (older forms, env vars); the form stores numbers.
    if isinstance(value, str) and hook_accepts and not form_accepts:
        value_as_number = float(value)
        jsonschema.validate(value_as_number, schema)
        return
    assert form_accepts == hook_accepts, (name, value, form_accepts, hook_accepts)


def test_numbers_use_the_form_widget_that_checks_what_is_typed() -> None:
    # Airflow 3.3 checks a typed value only in its free-text widget, chosen for two non-null
    # types; its number widget drops letters silently. max_attempts is a list of whole numbers.
    fields = _fields()
    for name in ("timeout", "deadline"):
        types = [t for t in fields[name]["schema"]["type"] if t != "null"]
        assert sorted(types) == ["integer", "number"], name
    attempts = fields["max_attempts"]["schema"]
    assert all(isinstance(n, int) and n >= attempts["minimum"] for n in attempts["enum"])


@pytest.mark.parametrize(("airflow", "port_shown"), [("3.3.2", True), ("3.2.2", False), ("2.11.0", False)])
def test_the_port_is_shown_for_the_test_button_only_on_airflow_3_3(
    monkeypatch: pytest.MonkeyPatch, airflow: str, port_shown: bool
) -> None:
    import importlib.metadata

    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: airflow if name == "apache-airflow" else real_version(name)
    )
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert ("port" not in behaviour["hidden-fields"]) is port_shown
    if port_shown:
        assert "enter 0" in behaviour["relabeling"]["port"]
        assert behaviour["placeholders"]["port"].startswith("0 ")
    assert {"host", "schema", "login"} <= set(behaviour["hidden-fields"])


def test_the_documentation_link_is_the_readme() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    from airflow_provider_smtp2go import DOCUMENTATION_URL

    assert get_provider_info()["documentation-url"] == DOCUMENTATION_URL
    assert DOCUMENTATION_URL.endswith("#description")  # PyPI shows the README there
    urls = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"].get("urls", {})
    if "Documentation" in urls:
        assert urls["Documentation"] == DOCUMENTATION_URL
