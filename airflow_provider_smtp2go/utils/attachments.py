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


def attachment_specs(value: Any) -> list[Any] | None:
    """The specs as a list: one spec (a path, a URL, a dict...) is a list of one.

    >>> attachment_specs("report.csv"), attachment_specs(["a.csv", "b.csv"]), attachment_specs(None)
    (['report.csv'], ['a.csv', 'b.csv'], None)
    """
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict, os.PathLike)) or not isinstance(value, (list, tuple, set, frozenset)):
        return [value]
    return list(value)


def resolve_attachments(
    specs: Iterable[AttachmentSpec] | AttachmentSpec | None,
    *,
    field_name: str = "attachments",
    max_bytes: int | None = None,
) -> list[Attachment]:
    """Resolve every spec (a single spec is treated as a one-item list); errors name ``attachments[i]``.

    A file (local or in object storage) larger than ``max_bytes`` is refused before it is read;
    by default that is the client's default size limit, which a larger file can never fit.
    """
    return [
        resolve_attachment(spec, field_name=f"{field_name}[{index}]", max_bytes=max_bytes)
        for index, spec in enumerate(attachment_specs(specs) or ())
    ]


def resolve_attachment(
    spec: AttachmentSpec, *, field_name: str = "attachments", max_bytes: int | None = None
) -> Attachment:
    """Resolve one attachment spec (see the module docstring)."""
    from airflow_provider_smtp2go.client import Attachment, Smtp2goValidationError
    from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES

    max_bytes = DEFAULT_MAX_SIZE_BYTES if max_bytes is None else max_bytes

    if isinstance(spec, Attachment):
        return spec
    if isinstance(spec, dict):
        return _from_dict(spec, field_name, max_bytes)
    if isinstance(spec, str):
        value = spec.strip()
        if value.lower().startswith(("http://", "https://")):
            return Attachment.from_url(value, field_name=field_name)
        if "://" in value:
            return _from_object_storage(_object_storage_path(value), field_name, max_bytes)
        return Attachment.from_path(value, max_bytes=max_bytes, field_name=field_name)
    if _is_object_storage_path(spec):
        return _from_object_storage(spec, field_name, max_bytes)
    if isinstance(spec, os.PathLike):
        return Attachment.from_path(spec, max_bytes=max_bytes, field_name=field_name)
    raise Smtp2goValidationError(
        field_name,
        "type",
        f"cannot attach a {type(spec).__name__}; give a path, a URL, an ObjectStoragePath or a dict",
    )


def _from_dict(spec: dict[str, Any], field_name: str, max_bytes: int) -> Attachment:
    from airflow_provider_smtp2go.client import Attachment, Smtp2goValidationError

    filename = spec.get("filename")
    mimetype = spec.get("mimetype")
    sources = [key for key in ("path", "url", "content") if spec.get(key) is not None]
    if len(sources) != 1:
        raise Smtp2goValidationError(
            field_name, "source", f"a dict attachment needs exactly one of path, url or content; got {sources}"
        )
    if "url" in sources:
        return Attachment.from_url(str(spec["url"]), filename=filename, mimetype=mimetype, field_name=field_name)
    if "content" in sources:
        if not filename:
            raise Smtp2goValidationError(field_name, "required", "a content attachment needs a filename")
        content = spec["content"]
        if not isinstance(content, (str, bytes, bytearray)):
            raise Smtp2goValidationError(
                field_name, "type", f"content must be text or bytes, got {type(content).__name__}"
            )
        data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
        return Attachment.from_bytes(filename, data, mimetype=mimetype, field_name=field_name)
    attachment = resolve_attachment(spec["path"], field_name=field_name, max_bytes=max_bytes)
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


def _from_object_storage(path: Any, field_name: str, max_bytes: int) -> Attachment:
    from airflow_provider_smtp2go.client import Attachment
    from airflow_provider_smtp2go.client.messages import read_regular_file

    name = path.name or "attachment"
    if getattr(path, "protocol", None) in ("file", "local"):
        # A local file: the same checks as a plain path (a FIFO must not hang the worker).
        return Attachment.from_bytes(
            name, read_regular_file(path.path, max_bytes=max_bytes, field_name=field_name), field_name=field_name
        )
    return Attachment.from_bytes(name, _read_remote(path, field_name, max_bytes), field_name=field_name)


def _read_remote(path: Any, field_name: str, max_bytes: int) -> bytes:
    from airflow_provider_smtp2go.client import Smtp2goValidationError
    from airflow_provider_smtp2go.client.messages import check_file_size

    try:
        info = path.stat()
        kind, size = info.get("type"), info.get("size")
        if kind not in (None, "file"):
            raise Smtp2goValidationError(field_name, "file_type", f"{path} is not a file (its type is {kind!r})")
        if isinstance(size, int):
            check_file_size(size, max_bytes, str(path), field_name)
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # bounded: the object may have grown since stat
    except FileNotFoundError:
        raise Smtp2goValidationError(field_name, "file", f"{path} does not exist") from None
    except IsADirectoryError:
        raise Smtp2goValidationError(field_name, "file_type", f"{path} is a directory") from None
    check_file_size(len(data), max_bytes, str(path), field_name, measured=False)
    return bytes(data)
