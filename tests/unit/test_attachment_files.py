"""Attachment files: only regular files, their size checked before reading, the read bounded.

These files are what an unlucky operator or an attacker hands over as an attachment path: a
FIFO nobody writes to, ``/dev/zero``, a directory, a huge file, one that grows while read.
Each is refused with a ``Smtp2goValidationError`` naming the attachment, quickly and without
reading (much of) it.
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_smtp2go.client import Attachment, Email, Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES
from airflow_provider_smtp2go.client.messages import read_regular_file

MIB = 1024 * 1024
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")


def make(**overrides: object) -> Email:
    fields: dict[str, object] = {"sender": "bot@example.com", "to": "ops@example.com", "subject": "s", "text_body": "b"}
    fields.update(overrides)
    return Email(**fields)  # type: ignore[arg-type]


def refused_within(seconds: float, call: Callable[[], object]) -> Smtp2goValidationError:
    """Run ``call`` in a thread; it must raise a validation error before ``seconds`` pass."""
    outcome: list[BaseException | object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still running after {seconds} s (blocked on the file?)"
    (result,) = outcome
    assert isinstance(result, Smtp2goValidationError), result
    return result


@needs_fifo
def test_a_fifo_without_a_writer_is_refused_at_once_naming_its_position(tmp_path: Path) -> None:
    ok = tmp_path / "ok.txt"
    ok.write_text("fine")
    fifo = tmp_path / "report.csv"
    os.mkfifo(fifo)
    error = refused_within(10, lambda: make(attachments=[ok, fifo]))
    assert (error.field, error.rule) == ("attachments[1]", "file_type")
    assert "FIFO" in str(error)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_before_it_is_read() -> None:
    error = refused_within(10, lambda: make(inlines=["/dev/zero"]))
    assert (error.field, error.rule) == ("inlines[0]", "file_type")
    assert "character device" in str(error)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        Attachment.from_path(tmp_path)
    assert excinfo.value.rule == "file_type"
    assert "directory" in str(excinfo.value)


def test_a_file_over_the_limit_is_refused_from_stat_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as handle:  # sparse: 50 MiB on paper, nothing on disk
        handle.truncate(50 * MIB)
    tracemalloc.start()
    try:
        with pytest.raises(Smtp2goValidationError) as excinfo:
            make(attachments=[big])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (excinfo.value.field, excinfo.value.rule) == ("attachments[0]", "max_size")
    assert "50.0 MiB" in str(excinfo.value)
    assert peak < 1 * MIB  # the file was never read (it used to cost 4x its size)


def test_the_read_is_bounded_even_when_stat_understates_the_size(tmp_path: Path) -> None:
    grows = tmp_path / "grows.log"
    grows.write_bytes(b"x" * 100)
    real_stat = os.stat

    def stale_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        # What a file that grows between stat and read looks like: stat saw it small.
        result = real_stat(path, *args, **kwargs)  # type: ignore[arg-type]
        fields = list(result)
        fields[6] = 10  # st_size
        return os.stat_result(fields)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "stat", stale_stat)
        with pytest.raises(Smtp2goValidationError) as excinfo:
            read_regular_file(grows, max_bytes=50)
    assert excinfo.value.rule == "max_size"
    assert "grew" in str(excinfo.value)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")
def test_a_file_whose_stat_size_is_zero_is_still_read_with_a_bound() -> None:
    # /proc files report size 0 but have content: the read must not trust stat alone.
    assert len(read_regular_file("/proc/self/status", max_bytes=1 * MIB)) > 0
    with pytest.raises(Smtp2goValidationError) as excinfo:
        read_regular_file("/proc/self/status", max_bytes=16)
    assert excinfo.value.rule == "max_size"


def test_a_file_at_the_limit_is_read_whole(tmp_path: Path) -> None:
    exact = tmp_path / "exact.bin"
    exact.write_bytes(b"\x01" * 4096)
    assert Attachment.from_path(exact, max_bytes=4096).content == b"\x01" * 4096
    with pytest.raises(Smtp2goValidationError):
        Attachment.from_path(exact, max_bytes=4095)


def test_the_default_bound_is_the_default_size_limit(tmp_path: Path) -> None:
    big = tmp_path / "just-over.bin"
    with big.open("wb") as handle:
        handle.truncate(DEFAULT_MAX_SIZE_BYTES + 1)
    with pytest.raises(Smtp2goValidationError) as excinfo:
        Attachment.from_path(big)
    assert excinfo.value.rule == "max_size"


@pytest.mark.parametrize("name", ["report\x00.exe.txt", "a\r\nContent-Type: text/html", "a\u2028b.txt", "a\x85.txt"])
def test_attachment_filenames_with_control_characters_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        Attachment.from_bytes(name, b"x")
    assert excinfo.value.field == "attachments.filename"
    path = tmp_path / "plain.txt"
    path.write_text("x")
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(attachments=[Attachment.from_path(path, filename=name, field_name="attachments[0]")])
    assert excinfo.value.field == "attachments[0].filename"


def test_huge_in_memory_attachments_are_refused_before_base64(tmp_path: Path) -> None:
    mail = make(attachments=[Attachment.from_bytes("big.bin", b"\x00" * (3 * MIB))])
    tracemalloc.start()
    try:
        with pytest.raises(Smtp2goValidationError) as excinfo:
            mail.to_payload(max_size_bytes=2 * MIB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert excinfo.value.rule == "max_size"
    assert peak < 1 * MIB  # the size was computed, not encoded
