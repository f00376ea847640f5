"""Apache Airflow provider for SMTP2GO: send and track email through SMTP2GO's HTTP API.

Importing this package is cheap and never imports Airflow: DAG parsing and plain scripts
(``airflow_provider_smtp2go.client``, ``logging_handler``) both start here.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata for Airflow's ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "airflow-provider-smtp2go",
        "name": "SMTP2GO",
        "description": "Send and track email through SMTP2GO's HTTP API.",
        "versions": [__version__],
    }
