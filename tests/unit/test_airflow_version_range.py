"""Outside the supported Airflow range, the first Airflow-facing import says so, naming the range.

A stand-in ``airflow`` package (only ``__version__``) shadows any real one in a child interpreter,
so no old Airflow needs installing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_smtp2go import MIN_AIRFLOW_VERSION


def import_compat_under(version: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "airflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(f"__version__ = {version!r}\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-P", "-c", "import airflow_provider_smtp2go.hooks.smtp2go"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


@pytest.mark.parametrize("version", ["2.10.5", "2.9.0", "1.10.15"])
def test_older_airflow_is_refused_naming_the_minimum(version: str, tmp_path: Path) -> None:
    result = import_compat_under(version, tmp_path)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("RuntimeError: airflow-provider-smtp2go")
    assert f"needs Apache Airflow {MIN_AIRFLOW_VERSION} or newer" in last_line
    assert f"Airflow {version} is installed" in last_line


def test_airflow_3_0_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = import_compat_under("3.0.6", tmp_path)
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("RuntimeError: airflow-provider-smtp2go")
    assert "does not support Airflow 3.0" in last_line
    assert "apache/airflow#53135" in last_line


def test_supported_airflow_passes_the_check(tmp_path: Path) -> None:
    # The stand-in has nothing but __version__, so the import fails later, on a real Airflow name.
    result = import_compat_under("2.11.0", tmp_path)
    assert "RuntimeError: airflow-provider-smtp2go" not in result.stderr
    assert "ModuleNotFoundError" in result.stderr or "ImportError" in result.stderr
