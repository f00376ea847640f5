"""Email alerts from Python logging through SMTP2GO: never blocking, never flooding.

``Smtp2goHandler`` is a standard ``logging.Handler``; it works in any Python program, with or
without Airflow.  Importing this package imports neither Airflow nor httpx, nor even the HTTP
client (that happens when a handler is created).

>>> import logging, logging_handler
>>> handler = logging_handler.Smtp2goHandler(  # doctest: +SKIP
...     recipients="ops@example.com", sender="alerts@example.com", region="eu")
>>> logging.getLogger().addHandler(handler)  # doctest: +SKIP
"""

from __future__ import annotations

from logging_handler.alert import Alert
from logging_handler.formatting import MailFormatter, RenderedMail
from logging_handler.handler import IGNORED_LOGGERS, Smtp2goHandler
from logging_handler.storm import GroupReport, Outgoing, StormControl, fingerprint

__all__ = [
    "IGNORED_LOGGERS",
    "Alert",
    "GroupReport",
    "MailFormatter",
    "Outgoing",
    "RenderedMail",
    "Smtp2goHandler",
    "StormControl",
    "fingerprint",
]
