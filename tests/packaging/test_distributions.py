"""The built wheel and sdist hold what an installed provider needs, and nothing from the checkout.

``scripts/test.sh`` builds them once and points ``SMTP2GO_DIST_DIR`` at them; run alone, this module
builds them itself with ``python -m build`` (skipped where ``build`` is not installed).
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from configparser import ConfigParser
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import airflow_provider_smtp2go
from airflow_provider_smtp2go import EXCLUDED_AIRFLOW_MINORS, MIN_AIRFLOW_VERSION

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("airflow_provider_smtp2go", "logging_handler")
#: Files that are not Python modules but must ship: templates the notifier renders, type markers.
DATA_FILES = {
    "airflow_provider_smtp2go/py.typed",
    "logging_handler/py.typed",
    "airflow_provider_smtp2go/notifications/templates/email.html",
    "airflow_provider_smtp2go/notifications/templates/subject.jinja2",
}
README_URL = "https://pypi.org/project/airflow-provider-smtp2go/#description"


@pytest.fixture(scope="module")
def dist_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("SMTP2GO_DIST_DIR")
    if given:
        return Path(given)
    if importlib.util.find_spec("build") is None:
        pytest.skip("needs `build` (scripts/test.sh installs it) or SMTP2GO_DIST_DIR")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO_ROOT)], check=True, capture_output=True
    )
    return out


@pytest.fixture(scope="module")
def wheel(dist_dir: Path) -> zipfile.ZipFile:
    (path,) = dist_dir.glob("*.whl")
    return zipfile.ZipFile(path)


@pytest.fixture(scope="module")
def sdist_names(dist_dir: Path) -> list[str]:
    (path,) = dist_dir.glob("*.tar.gz")
    with tarfile.open(path) as archive:
        # Drop the leading "airflow_provider_smtp2go-X.Y.Z/".
        return [name.split("/", 1)[1] for name in archive.getnames() if "/" in name]


def _wheel_text(wheel: zipfile.ZipFile, suffix: str) -> str:
    (name,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{suffix}")]
    return wheel.read(name).decode()


def _source_files() -> set[str]:
    found = set()
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(REPO_ROOT).as_posix())
    return found


def test_wheel_holds_every_module_template_and_type_marker(wheel: zipfile.ZipFile) -> None:
    names = {n for n in wheel.namelist() if ".dist-info/" not in n}
    assert names >= DATA_FILES
    assert _source_files() - names == set()


def test_wheel_holds_no_tests_venvs_or_examples(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == set(PACKAGES)


def test_wheel_entry_points(wheel: zipfile.ZipFile) -> None:
    entry_points = ConfigParser()
    entry_points.read_string(_wheel_text(wheel, "entry_points.txt"))
    assert dict(entry_points["apache_airflow_provider"]) == {
        "provider_info": "airflow_provider_smtp2go:get_provider_info"
    }
    assert dict(entry_points["pytest11"]) == {"smtp2go_sandbox": "airflow_provider_smtp2go.sandbox.pytest_plugin"}
    assert dict(entry_points["console_scripts"]) == {
        "smtp2go-sandbox": "airflow_provider_smtp2go.sandbox.__main__:main"
    }


def test_metadata_declares_the_supported_airflow_range_and_the_docs(wheel: zipfile.ZipFile) -> None:
    metadata = email.parser.Parser().parsestr(_wheel_text(wheel, "METADATA"))
    requirements = [Requirement(r) for r in metadata.get_all("Requires-Dist", [])]
    airflow = [r for r in requirements if r.name == "apache-airflow"]  # not the e2e extra's providers
    assert len(airflow) == 1 and airflow[0].marker is not None and "airflow" in str(airflow[0].marker)
    expected = SpecifierSet(f">={MIN_AIRFLOW_VERSION}," + ",".join(f"!={m}.*" for m in EXCLUDED_AIRFLOW_MINORS))
    assert airflow[0].specifier == expected  # the range _compat enforces at import
    assert not any(r.startswith("apache-airflow") for r in metadata.get_all("Requires-Dist", []) if "extra" not in r)
    # Airflow's Providers page links the "Documentation" URL (2.11, 3.1+).
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL", []))
    assert urls["Documentation"] == README_URL
    assert metadata["Version"] == airflow_provider_smtp2go.__version__


def test_the_wheel_carries_the_license_file_and_declares_it(wheel: zipfile.ZipFile) -> None:
    # PEP 639: the file under .dist-info/licenses/, named by License-File, beside the SPDX expression.
    assert _wheel_text(wheel, "licenses/LICENSE") == (REPO_ROOT / "LICENSE").read_text()
    metadata = email.parser.Parser().parsestr(_wheel_text(wheel, "METADATA"))
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]


def test_sdist_holds_the_sources_readme_and_changelog_but_no_tests(sdist_names: list[str]) -> None:
    names = set(sdist_names)
    assert {"README.md", "CHANGELOG.md", "LICENSE", "pyproject.toml", "PKG-INFO"} <= names
    assert _source_files() - names == set()
    assert not [n for n in names if n.startswith(("tests/", ".venv", "dist/", "build/"))]


@pytest.mark.skipif(
    not os.environ.get("SMTP2GO_EXPECT_INSTALLED"), reason="only where scripts/test.sh installed the wheel"
)
def test_the_tests_import_the_installed_wheel_not_the_checkout() -> None:
    package_dir = Path(airflow_provider_smtp2go.__file__).resolve().parent
    assert package_dir != REPO_ROOT / "airflow_provider_smtp2go"
    assert Path(sys.prefix).resolve() in package_dir.parents, package_dir
    direct_url = json.loads(distribution("airflow-provider-smtp2go").read_text("direct_url.json") or "{}")
    assert not direct_url.get("dir_info", {}).get("editable"), direct_url
