"""Apache Airflow provider for SMTP2GO: send and track email through SMTP2GO's HTTP API.

Importing this package is cheap and never imports Airflow: DAG parsing and plain scripts
(``airflow_provider_smtp2go.client``, ``logging_handler``) both start here.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: importing this package stays cheap)

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The supported Airflow range is ``MIN_AIRFLOW_VERSION`` and newer, less the minors in
#: ``EXCLUDED_AIRFLOW_MINORS``. pyproject's ``airflow`` extra declares the same range (a packaging
#: test keeps them equal); importing any Airflow-facing module outside it raises ``RuntimeError``.
MIN_AIRFLOW_VERSION = "2.11.0"
EXCLUDED_AIRFLOW_MINORS = {
    "3.0": "its failure emails never reach an email backend (apache/airflow#53135), its "
    "reschedule-mode sensors crash (apache/airflow#58777) and its task runner logs the API key it "
    "is asked to mask at DEBUG level; Airflow 3.1 fixes all three",
}

#: The connection type every hook, operator and notifier of this provider uses.
CONNECTION_TYPE = "smtp2go"

#: Where the provider's documentation lives: the README, as published on the package's PyPI page.
#: pyproject's ``[project.urls] Documentation`` is the same URL (Airflow 3.3 reads that one).
DOCUMENTATION_URL = "https://pypi.org/project/airflow-provider-smtp2go/#description"

#: ``max_attempts`` choices on the connection form; a larger budget can still be set in the extras.
_FORM_MAX_ATTEMPTS = 10


def _conn_fields() -> dict[str, dict[str, Any]]:
    """The connection form's extra fields, declared once (defaults quoted from ``client.limits``).

    Airflow >= 3.2 reads these from the provider info; ``Smtp2goHook.get_connection_form_widgets``
    builds the same fields for older Airflow. How Airflow 3.3's form treats a schema decides
    each one's shape:

    * it shows placeholders on standard fields only, so each default is in the description;
    * it checks a typed value only in its free-text widget, which it uses when a field has two
      non-null types: ``["number", "integer", "null"]`` says "a number" twice over and makes
      the form refuse "abc" (its number widget silently drops letters and accepts 2.5 where an
      integer is due);
    * ``max_attempts`` is a list of whole numbers, so 2.5 cannot be chosen;
    * an enum value shows as ``values_display`` says; a ``default`` is filled in on a new form.
    """
    from airflow_provider_smtp2go.client import limits
    from airflow_provider_smtp2go.client.regions import DEFAULT_REGION, REGIONS

    def seconds(value: float) -> str:
        return f"{value:g} s"

    number = {"type": ["number", "integer", "null"], "exclusiveMinimum": 0}
    return {
        "region": {
            "label": "Region",
            "description": "Where SMTP2GO's API is called. Default: global (SMTP2GO picks the nearest). "
            "Ignored when Base URL is set.",
            "schema": {
                "type": ["string", "null"],
                "enum": list(REGIONS),
                "default": DEFAULT_REGION,
                "values_display": {name: f"{name} ({url.split('/')[2]})" for name, url in REGIONS.items()},
            },
        },
        "sender": {
            "label": "Default sender",
            "description": "From address when an operator, notifier or the email backend gives none, "
            'e.g. airflow@example.com or "Airflow <airflow@example.com>". Default: none.',
            "schema": {"type": ["string", "null"]},
        },
        "subaccount_id": {
            "label": "Subaccount (id or name)",
            "description": "SMTP2GO subaccount for the calls scoped to one (activity, statistics, suppressions, "
            "webhooks, sender checks): its id, or its exact name, looked up once with /subaccounts/search. "
            "Sends are not scoped: send with the subaccount's own API key. Default: the key's own account.",
            "schema": {"type": ["string", "null"]},
        },
        "base_url": {
            "label": "Base URL",
            "description": "Custom API base URL, e.g. a proxy or the local sandbox (http://127.0.0.1:8025/v3). "
            "https unless the host is loopback. Default: the region's URL.",
            "schema": {"type": ["string", "null"]},
        },
        "timeout": {
            "label": "Timeout (seconds)",
            "description": f"Seconds to wait for each response, a number > 0. Default: "
            f"{seconds(limits.READ_TIMEOUT)} (connecting takes at most {seconds(limits.CONNECT_TIMEOUT)}).",
            "schema": dict(number),
        },
        "max_attempts": {
            "label": "Max attempts",
            "description": f"Attempts per API call when SMTP2GO is busy or unreachable (429, 503, connection "
            f"errors); 1 = no retries. Default: {limits.DEFAULT_MAX_ATTEMPTS}.",
            "schema": {
                "type": ["integer", "null"],
                "minimum": 1,
                "enum": list(range(1, _FORM_MAX_ATTEMPTS + 1)),
                "values_display": {str(limits.DEFAULT_MAX_ATTEMPTS): f"{limits.DEFAULT_MAX_ATTEMPTS} (default)"},
            },
        },
        "deadline": {
            "label": "Retry budget (seconds)",
            "description": f"Total seconds one API call may take, retries and waits included, a number > 0. "
            f"Default: {seconds(limits.DEFAULT_DEADLINE)}.",
            "schema": dict(number),
        },
    }


def _ui_field_behaviour() -> dict[str, Any]:
    hidden = ["host", "schema", "login", "extra"]
    relabeling = {"password": "API Key"}
    placeholders = {"password": "your SMTP2GO API key (api-...)"}
    if _test_button_compares_ports():
        relabeling["port"] = "Port (unused: enter 0)"
        placeholders["port"] = "0 (SMTP2GO needs no port; 0 lets the Test button work)"
    else:
        hidden.append("port")
    return {"hidden-fields": hidden, "relabeling": relabeling, "placeholders": placeholders}


def _test_button_compares_ports() -> bool:
    """True on Airflow 3.3, whose Test button fails for a connection stored without a port.

    The connection list's Test button sends ``port: 0`` for a connection whose port is empty;
    Airflow 3.3.2's test endpoint takes 0 for another destination than the stored (empty) port
    and answers "Bad Request" (fixed upstream by apache/airflow#73298). A connection saved with
    port 0 passes, so on 3.3 the form shows the port and asks for 0 instead of hiding it.
    Read from package metadata: importing Airflow here would make ``import`` of this package slow.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        major, minor = (int(part) for part in version("apache-airflow").split(".")[:2])
    except (PackageNotFoundError, ValueError):
        return False
    return (major, minor) == (3, 3)


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

    Longer than 80 lines on purpose: it is one literal, the provider.yaml Airflow would read, and
    a reader compares it with that schema best in one piece (the form's fields are built apart).

    >>> get_provider_info()["connection-types"][0]["connection-type"]
    'smtp2go'
    """
    integration = "SMTP2GO"
    return {
        "package-name": "airflow-provider-smtp2go",
        "name": "SMTP2GO",
        "description": "Send and track email through SMTP2GO's HTTP API.",
        "versions": [__version__],
        "documentation-url": DOCUMENTATION_URL,
        "integrations": [
            {
                "integration-name": integration,
                "external-doc-url": "https://developers.smtp2go.com/docs/getting-started",
                "tags": ["service"],
            }
        ],
        "hooks": [{"integration-name": integration, "python-modules": ["airflow_provider_smtp2go.hooks.smtp2go"]}],
        "operators": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_smtp2go.operators.smtp2go",
                    "airflow_provider_smtp2go.operators.bulk",
                    "airflow_provider_smtp2go.operators.webhooks",
                    "airflow_provider_smtp2go.operators.scheduled",
                    "airflow_provider_smtp2go.operators.suppressions",
                    "airflow_provider_smtp2go.operators.templates",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": integration,
                "python-modules": [
                    "airflow_provider_smtp2go.sensors.smtp2go",
                    "airflow_provider_smtp2go.sensors.deliverability",
                ],
            }
        ],
        "triggers": [
            {"integration-name": integration, "python-modules": ["airflow_provider_smtp2go.triggers.smtp2go"]}
        ],
        "notifications": ["airflow_provider_smtp2go.notifications.smtp2go.Smtp2goNotifier"],
        "plugins": [
            {
                "name": "smtp2go_webhooks",
                "plugin-class": "airflow_provider_smtp2go.plugins.webhooks.Smtp2goWebhooksPlugin",
            }
        ],
        "config": {
            "smtp2go": {
                "description": "SMTP2GO provider settings shared by every connection in this Airflow process.",
                "options": {
                    "activity_requests_per_minute": {
                        "description": "This process's share of SMTP2GO's 60 /activity/search requests per "
                        "minute per account. Sensors and triggers of one process share it; with N "
                        "triggerers and workers polling one account, set 60 / N on each.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "20",
                        "default": "60",
                    },
                    "activity_history_days": {
                        "description": "How far back SMTP2GO keeps activity for this account (5 days on "
                        "free plans, 30 on paid ones, longer with the add-on); sensors refuse windows "
                        "that start earlier.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "60",
                        "default": "30",
                    },
                    "alert_repeat": {
                        "description": "Storm control for Smtp2goNotifier and the email backend when a task "
                        "fails again: suppress (mute repeats; the recovery email carries a digest), thread "
                        "(send each as a reply in one thread) or send (no storm control). The email backend "
                        "cannot read task history, so it threads unless this is send.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "thread",
                        "default": "suppress",
                    },
                    "alert_window": {
                        "description": "Seconds. With suppress, at most one reminder per window; with thread, "
                        "a new thread per window; counted from the task's last success. 0: no window.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "3600",
                        "default": "0",
                    },
                    "webhook_freeze_startup_heap": {
                        "description": "On its first post, the webhook receiver moves the api-server's "
                        "startup objects out of Python's cyclic garbage collector (gc.freeze), so that full "
                        "collections no longer walk them on every few hundred requests. False leaves the "
                        "collector as the process set it.",
                        "version_added": "0.2.0",
                        "type": "boolean",
                        "example": "False",
                        "default": "True",
                    },
                },
            }
        },
        "email-backends": ["airflow_provider_smtp2go.utils.emailer.send_email"],
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": "airflow_provider_smtp2go.hooks.smtp2go.Smtp2goHook",
                "hook-name": "SMTP2GO",
                "conn-fields": _conn_fields(),
                "ui-field-behaviour": _ui_field_behaviour(),
            }
        ],
    }
