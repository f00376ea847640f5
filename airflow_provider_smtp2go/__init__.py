"""Apache Airflow provider for SMTP2GO: send and track email through SMTP2GO's HTTP API.

Importing this package is cheap and never imports Airflow: DAG parsing and plain scripts
(``airflow_provider_smtp2go.client``, ``logging_handler``) both start here.
"""

from __future__ import annotations

import copy
from typing import Any

__version__ = "0.1.0"

#: The connection type every hook, operator and notifier of this provider uses.
CONNECTION_TYPE = "smtp2go"

# The connection form, declared once. Airflow >= 3.2 reads it from the provider info below;
# Smtp2goHook.get_connection_form_widgets()/get_ui_field_behaviour() serve the same fields to
# older Airflow, so the form looks the same everywhere.
_REGIONS = ["global", "us", "eu", "au"]

_CONN_FIELDS: dict[str, dict[str, Any]] = {
    "region": {
        "label": "Region",
        "description": "SMTP2GO API region: global (nearest), us, eu or au. Ignored when Base URL is set.",
        "schema": {"type": ["string", "null"], "enum": [*_REGIONS, None]},
    },
    "sender": {
        "label": "Default sender",
        "description": "From address used when an operator, notifier or the email backend gives none.",
        "schema": {"type": ["string", "null"]},
    },
    "subaccount_id": {
        "label": "Subaccount ID",
        "description": "Default SMTP2GO subaccount for activity and statistics calls.",
        "schema": {"type": ["string", "null"]},
    },
    "base_url": {
        "label": "Base URL",
        "description": "Custom API base URL (a proxy or the local sandbox); https unless the host is loopback.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Read timeout of one HTTP request (connect timeout is 5 s or less).",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
    "max_attempts": {
        "label": "Max attempts",
        "description": "Attempts per API call for retryable failures (429, 503, connection errors).",
        "schema": {"type": ["integer", "null"], "minimum": 1},
    },
    "deadline": {
        "label": "Retry budget (seconds)",
        "description": "Total time one API call may spend on retries, waits included.",
        "schema": {"type": ["number", "null"], "minimum": 1},
    },
}

_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "login", "port", "extra"],
    "relabeling": {"password": "API Key"},
    "placeholders": {
        "password": "your SMTP2GO API key (api-...)",
        "region": "global",
        "sender": "Airflow <airflow@example.com>",
        "base_url": "https://api.smtp2go.com/v3",
        "timeout": "30",
        "max_attempts": "5",
        "deadline": "300",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

    >>> get_provider_info()["connection-types"][0]["connection-type"]
    'smtp2go'
    """
    integration = "SMTP2GO"
    return {
        "package-name": "airflow-provider-smtp2go",
        "name": "SMTP2GO",
        "description": "Send and track email through SMTP2GO's HTTP API.",
        "versions": [__version__],
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
                ],
            }
        ],
        "sensors": [{"integration-name": integration, "python-modules": ["airflow_provider_smtp2go.sensors.smtp2go"]}],
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
                },
            }
        },
        "email-backends": ["airflow_provider_smtp2go.utils.emailer.send_email"],
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": "airflow_provider_smtp2go.hooks.smtp2go.Smtp2goHook",
                "hook-name": "SMTP2GO",
                "conn-fields": {name: _copy(spec) for name, spec in _CONN_FIELDS.items()},
                "ui-field-behaviour": _copy(_UI_FIELD_BEHAVIOUR),
            }
        ],
    }


def _copy(value: dict[str, Any]) -> dict[str, Any]:
    # Airflow may mutate what it is given; every call hands out fresh dicts.
    return copy.deepcopy(value)
