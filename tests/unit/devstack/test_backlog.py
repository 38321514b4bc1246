"""The lag `careplan status` prints: records between a group's commit and each partition's end."""

from __future__ import annotations

from devstack.backlog import QueueDepth, lag


def test_lag_adds_the_gaps_of_the_partitions_the_group_committed_on() -> None:
    committed = {("t", 0): 10, ("t", 1): 5, ("u", 0): 7}
    ends = {("t", 0): 10, ("t", 1): 9, ("u", 0): 9, ("u", 1): 100}
    assert lag(committed, ends) == (6, 2)


def test_a_group_at_the_end_has_no_lag() -> None:
    assert lag({("t", 0): 3}, {("t", 0): 3}) == (0, 0)


def test_a_partition_whose_end_is_unknown_counts_as_caught_up() -> None:
    assert lag({("t", 0): 3}, {}) == (0, 0)


def test_a_queue_depth_counts_messages_in_flight() -> None:
    assert QueueDepth("q", visible=2, in_flight=3).total == 5
