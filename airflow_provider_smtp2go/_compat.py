"""The one place that knows where Airflow 2.11 and Airflow 3.x keep things.

Every other module imports Airflow names from here. On Airflow 3 the Task SDK paths
(``airflow.sdk``) are tried first, so nothing we import emits a ``DeprecationWarning``; the
Airflow 2 paths are only reached when the SDK is absent.

>>> from airflow_provider_smtp2go._compat import AIRFLOW_V_3_0_PLUS, BaseHook  # doctest: +SKIP
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version

from airflow_provider_smtp2go import EXCLUDED_AIRFLOW_MINORS, MIN_AIRFLOW_VERSION, __version__


def _version_tuple(version: str) -> tuple[int, int, int]:
    """``"3.3.0rc1"`` -> ``(3, 3, 0)``: a pre-release counts as its final version."""
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if match is None:
        raise RuntimeError(f"cannot parse the Airflow version {version!r}")
    return int(match[1]), int(match[2]), int(match[3] or 0)


AIRFLOW_VERSION = _version_tuple(_airflow_version)


def _refuse_unsupported_airflow() -> None:
    # Fail here, where every Airflow-facing module starts, rather than with an ImportError of some
    # moved class deep inside; the client and logging_handler still work without Airflow.
    minor = "{}.{}".format(*AIRFLOW_VERSION[:2])
    required = _version_tuple(MIN_AIRFLOW_VERSION)
    if required > AIRFLOW_VERSION:
        reason = f"needs Apache Airflow {MIN_AIRFLOW_VERSION} or newer"
    elif minor in EXCLUDED_AIRFLOW_MINORS:
        reason = f"does not support Airflow {minor}: {EXCLUDED_AIRFLOW_MINORS[minor]}"
    else:
        return
    raise RuntimeError(
        f"airflow-provider-smtp2go {__version__} {reason}; Airflow {_airflow_version} is installed. "
        "Upgrade Airflow (with its constraints file)."
    )


_refuse_unsupported_airflow()
AIRFLOW_V_3_0_PLUS = AIRFLOW_VERSION >= (3, 0, 0)
#: ``BaseNotifier.__init__`` accepts ``context`` (needed for Deadline Alerts) from 3.1.
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION >= (3, 1, 0)

if TYPE_CHECKING:
    # Type checkers see the Airflow 3 names; at runtime the branch below picks the right ones.
    from airflow.sdk import (
        DAG,
        BaseHook,
        BaseNotifier,
        BaseOperator,
        BaseSensorOperator,
        Connection,
        Context,
        PokeReturnValue,
    )
    from airflow.sdk.configuration import conf
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
elif AIRFLOW_V_3_0_PLUS:
    from airflow.sdk import (
        DAG,
        BaseHook,
        BaseNotifier,
        BaseOperator,
        BaseSensorOperator,
        Connection,
        Context,
        PokeReturnValue,
    )

    try:
        from airflow.sdk.configuration import conf
    except ImportError:  # 3.0/3.1 keep it in core only
        from airflow.configuration import conf
    try:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
    except ImportError:  # 3.0 still raised the core classes
        from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
else:
    from airflow.configuration import conf
    from airflow.exceptions import AirflowException, AirflowFailException, AirflowSkipException
    from airflow.hooks.base import BaseHook
    from airflow.models.baseoperator import BaseOperator
    from airflow.models.connection import Connection
    from airflow.models.dag import DAG
    from airflow.notifications.basenotifier import BaseNotifier
    from airflow.sensors.base import BaseSensorOperator, PokeReturnValue
    from airflow.utils.context import Context

if TYPE_CHECKING:
    from airflow.sdk.exceptions import AirflowNotFoundException
else:
    try:  # what BaseHook.get_connection raises for an unknown conn_id
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:  # Airflow 2 (and a Task SDK without it)
        from airflow.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger, BaseTrigger, TriggerEvent

    HAS_EVENT_TRIGGERS: bool


def _trigger_names() -> dict[str, Any]:
    # Triggers still live in core on Airflow 3.3 (``airflow.sdk`` does not export them).
    # ``BaseEventTrigger`` (AssetWatcher-capable triggers) exists from Airflow 3.0; on 2.x the
    # name is ``BaseTrigger`` so subclasses import, and ``HAS_EVENT_TRIGGERS`` says they cannot
    # be used in an ``AssetWatcher``.
    from airflow.triggers import base

    event_trigger = getattr(base, "BaseEventTrigger", None)
    return {
        "BaseTrigger": base.BaseTrigger,
        "TriggerEvent": base.TriggerEvent,
        "BaseEventTrigger": event_trigger or base.BaseTrigger,
        "HAS_EVENT_TRIGGERS": event_trigger is not None,
    }


def __getattr__(name: str) -> Any:
    # The trigger classes load on first use: importing airflow.triggers.base costs ~20 ms, which
    # every DAG file importing only the operator would otherwise pay at parse time.
    if name in ("BaseTrigger", "TriggerEvent", "BaseEventTrigger", "HAS_EVENT_TRIGGERS"):
        names = _trigger_names()
        globals().update(names)
        return names[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _first_attribute(attribute: str, *module_names: str) -> Any:
    """``attribute`` from the first of ``module_names`` that has it (newest location first)."""
    for module_name in module_names:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attribute):
            return getattr(module, attribute)
    raise ImportError(f"none of {module_names} provides {attribute}")


def mask_secret(secret: str, name: str | None = None) -> None:
    """Register ``secret`` with Airflow's log masker, so it shows as ``***`` in task logs."""
    mask = _first_attribute(
        "mask_secret",
        "airflow.sdk.log",  # 3.2+
        "airflow.sdk.execution_time.secrets_masker",  # 3.0/3.1
        "airflow.utils.log.secrets_masker",  # 2.x
    )
    mask(secret, name)


def object_storage_path_class() -> type[Any]:
    """``ObjectStoragePath``, imported on first use (it pulls in fsspec/universal_pathlib)."""
    cls: type[Any] = _first_attribute("ObjectStoragePath", "airflow.sdk", "airflow.io.path")
    return cls


def asset_class() -> type[Any]:
    """``Asset`` (Airflow 3), or ``Dataset``, its Airflow 2 name; imported on first use."""
    try:
        from airflow.sdk import Asset
    except ImportError:  # Airflow 2
        from airflow.datasets import Dataset

        return Dataset  # type: ignore[no-any-return,unused-ignore]
    return Asset


async def get_async_connection(conn_id: str) -> Connection:
    """Fetch a connection without blocking the event loop (triggerer, Deadline Alerts).

    Airflow 3 offers ``BaseHook.aget_connection``; on Airflow 2 the sync lookup runs in a
    worker thread instead.
    """
    aget = getattr(BaseHook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)  # type: ignore[no-any-return]
    import asyncio

    return await asyncio.to_thread(BaseHook.get_connection, conn_id)


async def async_connection_extra(conn: Connection) -> dict[str, Any]:
    """``conn.extra_dejson`` without the sync masking call that can deadlock inside the loop."""
    aextra = getattr(conn, "aextra_dejson", None)
    if aextra is not None:
        return dict(await aextra())
    return dict(conn.extra_dejson)


def previous_task_instance(ti: Any, earlier: Any = None, *, success: bool = False) -> Any:
    """The task's instance in the run before ``earlier`` (a value this returned), else before ``ti``'s.

    ``ti`` is the callback context's task instance. ``None`` when there is no earlier run.
    Airflow 3.2+ asks the Execution API (``RuntimeTaskInstance.get_previous_ti``, runs ordered
    by logical date; ``success`` keeps successful task instances only). Airflow 2 reads the
    ORM (``TaskInstance.get_previous_ti``), where ``success`` can only filter on the DAG run's
    state. Airflow 3.0 and 3.1 offer no such call in a task: ``NotImplementedError``.
    """
    if AIRFLOW_V_3_0_PLUS:
        get_previous_ti = getattr(ti, "get_previous_ti", None)
        if get_previous_ti is None:
            raise NotImplementedError("this Airflow version cannot read a task's previous runs from a task")
        logical_date = None if earlier is None else earlier.logical_date
        return get_previous_ti(state="success" if success else None, logical_date=logical_date, map_index=ti.map_index)
    from airflow.utils.state import DagRunState

    base = ti if earlier is None else earlier
    if getattr(base, "task", None) is None:  # an instance read from the DB: the lookup needs its DAG
        base.task = ti.task
    return base.get_previous_ti(state=DagRunState.SUCCESS if success else None)


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_0_PLUS",
    "AIRFLOW_V_3_1_PLUS",
    "DAG",
    "HAS_EVENT_TRIGGERS",
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "BaseEventTrigger",
    "BaseHook",
    "BaseNotifier",
    "BaseOperator",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "PokeReturnValue",
    "TriggerEvent",
    "asset_class",
    "async_connection_extra",
    "conf",
    "get_async_connection",
    "mask_secret",
    "object_storage_path_class",
    "previous_task_instance",
]
