"""Parking records that can never be processed in ``<topic>.dlt``, with headers saying why.

The original key, value and headers are kept byte-for-byte, so a parked record can be
replayed onto its topic once the cause is fixed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from contract.topics import dead_letter_topic
from eventing.cloudevents import KafkaRecord
from eventing.consumer_types import RecordContext
from eventing.producer import AsyncProducer
from eventing.redaction import redacted_message


class DeadLetterReason(StrEnum):
    MALFORMED = "malformed"  # not a CloudEvent, or data that does not fit the contract
    PERMANENT_FAILURE = "permanent-failure"  # the handler said it can never succeed
    RETRIES_EXHAUSTED = "retries-exhausted"  # a transient failure that did not pass


def dead_letter_headers(
    record: RecordContext,
    *,
    reason: DeadLetterReason,
    error: BaseException,
    attempts: int,
    consumer_group: str,
) -> list[tuple[str, bytes]]:
    why = {
        "dlt-reason": reason.value,
        "dlt-exception": type(error).__name__,
        # Said without the record's values: operators read DLT headers, and a bad date of
        # birth must not travel on in pydantic's ``input_value`` (the value keeps the bytes).
        "dlt-exception-message": redacted_message(error),
        "dlt-original-topic": record.topic,
        "dlt-original-partition": str(record.partition),
        "dlt-original-offset": str(record.offset),
        "dlt-original-timestamp": str(record.timestamp),
        "dlt-consumer-group": consumer_group,
        "dlt-attempts": str(attempts),
        "dlt-failed-at": datetime.now(UTC).isoformat(),
    }
    return [*record.headers, *((name, value.encode()) for name, value in why.items())]


class DeadLetterPublisher:
    def __init__(self, producer: AsyncProducer, consumer_group: str) -> None:
        self._producer = producer
        self._consumer_group = consumer_group

    async def park(
        self,
        record: RecordContext,
        *,
        reason: DeadLetterReason,
        error: BaseException,
        attempts: int,
    ) -> None:
        """Returns once the broker has the record: only then may its offset be committed."""
        headers = dead_letter_headers(
            record,
            reason=reason,
            error=error,
            attempts=attempts,
            consumer_group=self._consumer_group,
        )
        parked = KafkaRecord(key=record.key, value=record.value or b"", headers=headers)
        await self._producer.send_and_wait(dead_letter_topic(record.topic), parked)
