"""Turn what a DAG author writes as an attachment into a client ``Attachment``.

Accepted, in any mix:

* a local path (``str`` or ``os.PathLike``): read now, so a missing file fails before sending;
* an ``http(s)://`` URL: SMTP2GO downloads it itself (no bytes pass through the worker);
* an ``ObjectStoragePath`` or a ``scheme://`` string (``s3://``, ``gs://``, ``file://``...):
  read through Airflow's object storage, which on Airflow 3 is the way to hand a file from
  one task to another (workers do not share a disk);
* a dict ``{"path" | "url" | "content": ..., "filename": ..., "mimetype": ...}`` (handy from XCom);
* a ready ``airflow_provider_smtp2go.client.Attachment``.

>>> [a.filename for a in resolve_attachments(["https://example.com/logo.png"])]
['logo.png']
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client import Attachment

AttachmentSpec = Any


def resolve_attachments(specs: Iterable[AttachmentSpec] | AttachmentSpec | None) -> list[Attachment]:
    """Resolve every spec (a single spec is treated as a one-item list)."""
    if specs is None:
        return []
    if isinstance(specs, (str, bytes, dict, os.PathLike)) or not isinstance(specs, Iterable):
        specs = [specs]
    return [resolve_attachment(spec) for spec in specs]


def resolve_attachment(spec: AttachmentSpec) -> Attachment:
    """Resolve one attachment spec (see the module docstring)."""
    from airflow_provider_smtp2go.client import Attachment, Smtp2goValidationError

    if isinstance(spec, Attachment):
        return spec
    if isinstance(spec, dict):
        return _from_dict(spec)
    if isinstance(spec, str):
        value = spec.strip()
        if value.lower().startswith(("http://", "https://")):
            return Attachment.from_url(value)
        if "://" in value:
            return _from_object_storage(_object_storage_path(value))
        return Attachment.from_path(value)
    if _is_object_storage_path(spec):
        return _from_object_storage(spec)
    if isinstance(spec, os.PathLike):
        return Attachment.from_path(spec)
    raise Smtp2goValidationError(
        "attachments",
        "type",
        f"cannot attach a {type(spec).__name__}; give a path, a URL, an ObjectStoragePath or a dict",
    )


def _from_dict(spec: dict[str, Any]) -> Attachment:
    from airflow_provider_smtp2go.client import Attachment, Smtp2goValidationError

    filename = spec.get("filename")
    mimetype = spec.get("mimetype")
    sources = [key for key in ("path", "url", "content") if spec.get(key) is not None]
    if len(sources) != 1:
        raise Smtp2goValidationError(
            "attachments", "source", f"a dict attachment needs exactly one of path, url or content; got {sources}"
        )
    if "url" in sources:
        return Attachment.from_url(str(spec["url"]), filename=filename, mimetype=mimetype)
    if "content" in sources:
        if not filename:
            raise Smtp2goValidationError("attachments", "required", "a content attachment needs a filename")
        content = spec["content"]
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        return Attachment.from_bytes(str(filename), data, mimetype=mimetype)
    attachment = resolve_attachment(spec["path"])
    if filename or mimetype:
        return Attachment(
            filename=filename or attachment.filename,
            content=attachment.content,
            url=attachment.url,
            mimetype=mimetype or (attachment.mimetype if not filename else None),
        )
    return attachment


def _object_storage_path(value: str) -> Any:
    from airflow_provider_smtp2go._compat import object_storage_path_class

    return object_storage_path_class()(value)


def _is_object_storage_path(value: Any) -> bool:
    # Only ask Airflow when the object could be one: importing ObjectStoragePath pulls in fsspec.
    # (It subclasses pathlib.Path, so a plain Path is recognised by its exact type; that type
    # lives in pathlib._local from Python 3.13.)
    if not hasattr(value, "read_bytes") or type(value).__module__.split(".")[0] == "pathlib":
        return False
    from airflow_provider_smtp2go._compat import object_storage_path_class

    return isinstance(value, object_storage_path_class())


def _from_object_storage(path: Any) -> Attachment:
    from airflow_provider_smtp2go.client import Attachment, Smtp2goValidationError

    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise Smtp2goValidationError("attachments", "file", f"{path} does not exist") from None
    except IsADirectoryError:
        raise Smtp2goValidationError("attachments", "file", f"{path} is a directory") from None
    return Attachment.from_bytes(path.name or "attachment", content)
