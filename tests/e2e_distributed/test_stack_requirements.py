"""The distributed tier fails, never skips, when the machine lacks PostgreSQL or Redis."""

from __future__ import annotations

import pytest

from . import conftest


@pytest.mark.parametrize(
    ("postgres", "redis", "named"),
    [(False, True, "postgresql"), (True, False, "redis-server"), (False, False, "postgresql and redis-server")],
)
def test_missing_system_packages_fail_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, postgres: bool, redis: bool, named: str
) -> None:
    monkeypatch.setattr(conftest.glob, "glob", lambda _: ["/usr/lib/postgresql/15/bin/initdb"] if postgres else [])
    monkeypatch.setattr(conftest.shutil, "which", lambda _: "/usr/bin/redis-server" if redis else None)
    with pytest.raises(pytest.fail.Exception) as failure:
        conftest.system_binaries()
    assert f"needs {named};" in str(failure.value)
    assert "bash scripts/install_system_packages.sh" in str(failure.value)
    assert "apt-get install -y postgresql redis-server" in str(failure.value)
