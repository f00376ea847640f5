"""A mailing split over mapped bulk tasks (``partition_rows`` + ``expand_kwargs``) on real Airflow."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

MAPPED_DAG = Path(__file__).parent / "dags" / "smtp2go_test_bulk_mapped_ledger.py"


def test_mapped_parts_sharing_a_ledger_path_keep_one_ledger_each(
    run_dag, smtp2go_conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Parts running at once on several workers append segments to their ledger; in one shared
    # directory they broke each other's chain (Smtp2goLedgerError on the next try).
    ledgers = tmp_path / "ledgers"
    monkeypatch.setenv("BULK_TEST_LEDGER_PATH", str(ledgers))
    sb = smtp2go_conn.sandbox

    result = run_dag(MAPPED_DAG)

    assert result.state == "success", result
    assert sb.duplicates() == {}
    assert sorted(m.to[0] for m in sb.messages()) == [f"part{i:02d}@example.com" for i in range(30)]
    heads = sorted(ledgers.rglob("head.json"))
    assert [h.parent.name for h in heads] == ["0", "1", "2"], heads
    for head in heads:
        run_dir = head.parent.parent
        assert run_dir.parent == ledgers / "smtp2go_test_bulk_mapped_ledger" / "send"
        assert run_dir.name == quote(result.run_id, safe=":+")
