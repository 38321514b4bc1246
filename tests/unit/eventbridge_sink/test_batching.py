"""PutEvents batches: at most 10 entries, combined size below 256 KB as EventBridge counts it."""

from __future__ import annotations

from datetime import UTC, datetime

from eventbridge_sink.batching import (
    batch_by_size,
    batch_entries,
    entry_size,
    is_oversized,
)


def _entry(name: str, detail_bytes: int = 10) -> dict[str, str]:
    """An entry whose Detail has exactly ``detail_bytes`` UTF-8 bytes (minimum 10)."""
    padding = "x" * (detail_bytes - 10)
    return {
        "Source": "kafka-connect.s",
        "DetailType": name,
        "EventBusName": "care-plan-events",
        "Detail": '{"p":"' + padding + '"}' + " " * 2,
    }


def _names(batches: list[list[dict[str, str]]]) -> list[list[str]]:
    return [[entry["DetailType"] for entry in batch] for batch in batches]


def test_entry_size_counts_utf8_bytes_of_source_detail_type_and_detail() -> None:
    entry = {
        "Source": "kafka-connect.x",  # 15 bytes
        "DetailType": "kafka-connect-t",  # 15 bytes
        "EventBusName": "not-counted-at-all",
        "Detail": '{"a":"é"}',  # 9 characters, 10 bytes
    }

    assert entry_size(entry) == 40


def test_entry_size_adds_14_bytes_for_time_resources_and_trace_header() -> None:
    entry = {
        "Time": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        "Source": "s",  # 1
        "DetailType": "d",  # 1
        "Detail": "{}",  # 2
        "Resources": ["arn:1", "ab"],  # 5 + 2
        "TraceHeader": "Root=1",  # 6
    }

    assert entry_size(entry) == 14 + 1 + 1 + 2 + 7 + 6


def test_more_than_ten_small_entries_are_split_ten_by_ten() -> None:
    entries = [_entry(f"e{i:02}") for i in range(23)]

    batches = batch_entries(entries)

    assert _names(batches) == [
        ["e00", "e01", "e02", "e03", "e04", "e05", "e06", "e07", "e08", "e09"],
        ["e10", "e11", "e12", "e13", "e14", "e15", "e16", "e17", "e18", "e19"],
        ["e20", "e21", "e22"],
    ]


def test_entries_adding_up_to_256_kb_start_a_new_batch() -> None:
    # Each entry: 15 (Source) + 2 (DetailType) + 100_000 (Detail) = 100_017 bytes.
    entries = [_entry(f"b{i}", detail_bytes=100_000) for i in range(5)]

    batches = batch_entries(entries)

    assert _names(batches) == [["b0", "b1"], ["b2", "b3"], ["b4"]]


def test_batch_exactly_at_256_kb_is_split_because_the_limit_is_exclusive() -> None:
    # 15 + 2 + 131_055 = 131_072 bytes: two of them are exactly 262_144 bytes.
    entries = [_entry(f"h{i}", detail_bytes=131_055) for i in range(2)]

    assert entry_size(entries[0]) == 131_072
    assert _names(batch_entries(entries)) == [["h0"], ["h1"]]


def test_oversized_entry_travels_alone_between_its_neighbours() -> None:
    entries = [
        _entry("small-1"),
        _entry("huge", detail_bytes=300_000),
        _entry("small-2"),
        _entry("small-3"),
    ]

    batches = batch_entries(entries)

    assert _names(batches) == [["small-1"], ["huge"], ["small-2", "small-3"]]
    assert is_oversized(entries[1])
    assert not is_oversized(entries[0])


def test_batch_by_size_keeps_items_paired_with_their_records() -> None:
    pairs = [(offset, _entry(f"o{offset}")) for offset in range(12)]

    batches = batch_by_size(pairs, size_of=lambda pair: entry_size(pair[1]), max_entries=5)

    assert [[offset for offset, _ in batch] for batch in batches] == [
        [0, 1, 2, 3, 4],
        [5, 6, 7, 8, 9],
        [10, 11],
    ]


def test_no_entries_give_no_batches() -> None:
    assert batch_entries([]) == []
