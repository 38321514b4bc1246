"""Kafka topics of the wire contract (CONTRACT.md section 2).

Every deployable, the launcher and the Kubernetes manifests read topic names from here,
so that the local and the cloud platform cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

PROVIDER_AVAILABILITY = "provider.availability"
BOOKING_REQUESTS = "provider.availability.booking.requests"
BOOKING_REPLIES = "provider.availability.booking.replies"
CAREPLAN_BOOKINGS = "careplan.bookings"
CAREPLAN_BOOKINGS_INSURED = "careplan.bookings.insured"

DEAD_LETTER_SUFFIX = ".dlt"


def dead_letter_topic(topic: str) -> str:
    """The topic where records of ``topic`` that can never be processed are parked."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    # Compaction keeps the newest event per key forever, so that a consumer can rebuild
    # its read model from the beginning of the topic.
    compacted: bool = False


CONTRACT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(PROVIDER_AVAILABILITY, compacted=True),
    TopicSpec(BOOKING_REQUESTS),
    TopicSpec(BOOKING_REPLIES),
    TopicSpec(CAREPLAN_BOOKINGS),
    TopicSpec(CAREPLAN_BOOKINGS_INSURED),
)


def all_topics() -> tuple[TopicSpec, ...]:
    """The contract's topics followed by their dead-letter topics (never compacted)."""
    dead_letters = tuple(TopicSpec(dead_letter_topic(t.name)) for t in CONTRACT_TOPICS)
    return CONTRACT_TOPICS + dead_letters
