"""``Smtp2goWebhooksPlugin``: mounts the SMTP2GO webhook receiver in Airflow 3.1+'s api-server.

Registered twice, as official providers do: in the provider info (``plugins``) and as an
``airflow.plugins`` entry point.  Airflow reads provider-declared plugins only when
``[core] lazy_discover_providers`` is False (it defaults to True), while entry-point plugins
are always loaded; a plugin name seen twice is skipped with a warning, so both are safe.

On Airflow older than 3.1 the plugin registers no app and logs once that the receiver needs
3.1+; everything else in the provider works as before.

Example::

    >>> from airflow_provider_smtp2go.plugins.webhooks import Smtp2goWebhooksPlugin  # doctest: +SKIP
    >>> Smtp2goWebhooksPlugin.fastapi_apps[0]["url_prefix"]  # doctest: +SKIP
    '/smtp2go/webhooks'
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS, AIRFLOW_VERSION
from airflow_provider_smtp2go.webhooks.receiver import NEEDS, URL_PREFIX

PLUGIN_NAME = "smtp2go_webhooks"
log = logging.getLogger(__name__)


def _apps() -> list[dict[str, Any]]:
    if not AIRFLOW_V_3_1_PLUS:
        log.info(NEEDS.format(".".join(map(str, AIRFLOW_VERSION))))
        return []
    from airflow.configuration import conf  # noqa: PLC0415

    from airflow_provider_smtp2go.webhooks.heap import StartupHeap  # noqa: PLC0415
    from airflow_provider_smtp2go.webhooks.receiver import create_app  # noqa: PLC0415  (imports FastAPI)

    freeze = conf.getboolean("smtp2go", "webhook_freeze_startup_heap", fallback=True)
    app = create_app(heap=StartupHeap() if freeze else None)
    return [{"app": app, "url_prefix": URL_PREFIX, "name": "SMTP2GO webhooks"}]


class Smtp2goWebhooksPlugin(AirflowPlugin):
    """The SMTP2GO webhook receiver, at ``/smtp2go/webhooks`` of the api-server."""

    name = PLUGIN_NAME
    fastapi_apps = _apps()
