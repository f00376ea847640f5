"""A local SMTP2GO: the v3 HTTP API on loopback, for tests, demos and benchmarks.

Pure standard library; importing it is cheap.  See :class:`Smtp2goSandbox` for the Python API,
:mod:`.behaviours` for the recipient addresses that bounce/open/click, :mod:`.faults` for
scripted failures, :mod:`.control` for the ``/_sandbox/*`` inspection API (send
``CONTROL_HEADERS`` with every request to it) and :mod:`.webhooks` for webhook delivery (a
webhook registered through ``/webhook/add`` is POSTed for its events, on the sandbox clock).

Example::

    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    with Smtp2goSandbox() as sb:
        print(sb.base_url, sb.api_key)   # point a client here
"""

from __future__ import annotations

from airflow_provider_smtp2go.sandbox.behaviours import BEHAVIOURS, Behaviour
from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.control import Smtp2goSandbox
from airflow_provider_smtp2go.sandbox.control_routes import CONTROL_HEADER, CONTROL_HEADERS
from airflow_provider_smtp2go.sandbox.faults import FAULT_KINDS, Fault
from airflow_provider_smtp2go.sandbox.state import AttachmentInfo, ReceivedMessage

__all__ = [
    "BEHAVIOURS",
    "CONTROL_HEADER",
    "CONTROL_HEADERS",
    "FAULT_KINDS",
    "AttachmentInfo",
    "Behaviour",
    "Fault",
    "ReceivedMessage",
    "SandboxClock",
    "Smtp2goSandbox",
]
