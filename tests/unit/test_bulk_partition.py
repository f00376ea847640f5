"""``partition_rows``: the split pattern for one mailing over several mapped tasks."""

from __future__ import annotations

import random

import pytest

from airflow_provider_smtp2go.bulk import partition_rows

ROWS = [{"email": f"reader{i:04d}@example.com", "n": i} for i in range(2000)]


def test_contiguous_parts_cover_every_row_once_in_order() -> None:
    parts = partition_rows(ROWS, 8)
    assert [len(p["rows"]) for p in parts] == [250] * 8
    assert [row for p in parts for row in p["rows"]] == ROWS
    assert all(set(p) == {"rows"} for p in parts)  # no cap given: none passed to the operator


def test_uneven_sizes_differ_by_at_most_one() -> None:
    sizes = [len(p["rows"]) for p in partition_rows(ROWS[:11], 4)]
    assert sizes == [3, 3, 3, 2]


def test_caps_are_divided_so_the_parts_sum_to_the_whole() -> None:
    parts = partition_rows(ROWS, 8, max_per_second=72, max_per_hour=200_000)
    assert [p["max_per_second"] for p in parts] == [9.0] * 8
    assert sum(p["max_per_hour"] for p in parts) == pytest.approx(200_000)


def test_fewer_rows_than_parts_gives_no_empty_part_and_divides_by_the_parts_made() -> None:
    parts = partition_rows(ROWS[:3], 8, max_per_second=30)
    assert [len(p["rows"]) for p in parts] == [1, 1, 1]
    assert [p["max_per_second"] for p in parts] == [10.0] * 3
    assert partition_rows([], 8, max_per_second=30) == [{"rows": [], "max_per_second": 30.0}]


def test_by_field_keeps_each_row_in_its_part_whatever_the_order() -> None:
    shuffled = ROWS[:]
    random.Random(7).shuffle(shuffled)
    first = partition_rows(ROWS, 8, by="email", max_per_second=8)
    second = partition_rows(shuffled, 8, by="email", max_per_second=8)
    assert len(first) == len(second) == 8
    for a, b in zip(first, second, strict=True):
        assert sorted(r["n"] for r in a["rows"]) == sorted(r["n"] for r in b["rows"])
        assert a["max_per_second"] == 1.0
    assert sorted(r["n"] for p in first for r in p["rows"]) == list(range(2000))
    assert min(len(p["rows"]) for p in first) > 150  # a hash spreads them


def test_by_field_keeps_every_part_even_an_empty_one() -> None:
    # A row's part is its map index: dropping an empty part would move the parts after it.
    parts = partition_rows(ROWS[:2], 8, by="email", max_per_hour=800)
    assert len(parts) == 8
    assert sum(len(p["rows"]) for p in parts) == 2
    assert {p["max_per_hour"] for p in parts} == {100.0}


@pytest.mark.parametrize("parts", [0, -1, 2.5, True, "8"])
def test_parts_must_be_a_positive_integer(parts: object) -> None:
    with pytest.raises(ValueError, match="parts must be a positive integer"):
        partition_rows(ROWS, parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("cap", [0, -5.0, float("nan")])
def test_caps_must_be_positive(cap: float) -> None:
    with pytest.raises(ValueError, match="max_per_second must be positive"):
        partition_rows(ROWS, 2, max_per_second=cap)


def test_a_row_without_the_by_field_is_named() -> None:
    with pytest.raises(ValueError, match="row 1 has no field 'email'"):
        partition_rows([{"email": "a@example.com"}, {"name": "b"}], 2, by="email")
