"""Airflow's Providers page links our README, not a made-up apache.org page."""

from __future__ import annotations

from importlib.metadata import version

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_0_PLUS

README_URL = "https://pypi.org/project/airflow-provider-smtp2go/#description"


def test_providers_page_links_the_readme() -> None:
    if AIRFLOW_V_3_0_PLUS:  # 3.1+: the REST API's documentation_url, read from package metadata
        from airflow.providers_manager import ProvidersManager

        link = ProvidersManager().providers["airflow-provider-smtp2go"].data["documentation-url"]
    else:  # 2.11: the FAB Providers view
        from airflow.utils.docs import get_doc_url_for_provider

        link = get_doc_url_for_provider("airflow-provider-smtp2go", version("airflow-provider-smtp2go"))
    # 3.1 keeps the space after the comma of "Documentation, <url>"; browsers trim it from an href.
    assert link.strip() == README_URL
