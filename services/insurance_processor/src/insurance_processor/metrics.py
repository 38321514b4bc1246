"""What happened to the input records, counted with prometheus-client and served on ``/metrics``."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, generate_latest

from eventing.dead_letter import DeadLetterReason

RECORDS = "insurance_processor_records"


class Outcome(StrEnum):
    INSURED = "insured"
    NOT_INSURED = "not_insured"
    OTHER_TYPE = "other_type"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


# The reasons the processor parks a record for; the others belong to the consumer runner.
PARKED_FOR = (DeadLetterReason.MALFORMED, DeadLetterReason.PERMANENT_FAILURE)


class ProcessorMetrics:
    """Counters of the records by outcome (and, when parked, by reason).

    Each instance has a registry of its own rather than the process-wide one: a test or a
    benchmark builds as many processors as it likes and no count leaks from one into another.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._records = Counter(
            RECORDS,
            "Input records by what the processor did with them.",
            ["outcome", "reason"],
            registry=self.registry,
        )
        # Every series exists from the start at 0, so a rate over it is defined at once; the
        # children are kept, since ``labels()`` per record was 5 % of the processing loop.
        self._by_outcome: dict[Outcome, Counter] = {
            outcome: self._records.labels(outcome.value, "")
            for outcome in Outcome
            if outcome is not Outcome.DEAD_LETTERED
        }
        self._parked = {
            reason: self._records.labels(Outcome.DEAD_LETTERED.value, reason.value)
            for reason in PARKED_FOR
        }

    def count(self, outcome: Outcome) -> None:
        self._by_outcome[outcome].inc()

    def count_parked(self, reason: DeadLetterReason) -> None:
        self._parked[reason].inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def _value(self, outcome: Outcome, reason: str = "") -> int:
        labels = {"outcome": outcome.value, "reason": reason}
        return int(self.registry.get_sample_value(f"{RECORDS}_total", labels) or 0)

    @property
    def insured(self) -> int:
        return self._value(Outcome.INSURED)

    @property
    def not_insured(self) -> int:
        return self._value(Outcome.NOT_INSURED)

    @property
    def other_types(self) -> int:
        return self._value(Outcome.OTHER_TYPE)

    @property
    def duplicates(self) -> int:
        return self._value(Outcome.DUPLICATE)

    @property
    def dead_lettered(self) -> dict[str, int]:
        return {r.value: self._value(Outcome.DEAD_LETTERED, r.value) for r in PARKED_FOR}
