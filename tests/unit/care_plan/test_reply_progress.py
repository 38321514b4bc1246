"""Closing the reply-progress reader waits for a query still running in its worker thread."""

from __future__ import annotations

import contextlib
import threading

from care_plan.messaging.reply_progress import ReplyProgress


class BlockingConsumer:
    """Stands in for the librdkafka consumer: its first query blocks until released."""

    def __init__(self) -> None:
        self.querying = threading.Event()
        self.release = threading.Event()
        self.closed_while_querying = False
        self._in_query = False

    def list_topics(self, topic: str, timeout: float) -> object:
        self._in_query = True
        self.querying.set()
        self.release.wait(10)
        self._in_query = False
        raise RuntimeError("stop the query here")

    def close(self) -> None:
        self.closed_while_querying = self._in_query


def test_close_waits_for_the_query_in_flight() -> None:
    progress = ReplyProgress({"bootstrap.servers": "127.0.0.1:1"}, group_id="g", topic="t")
    progress._consumer.close()
    fake = BlockingConsumer()
    progress._consumer = fake  # type: ignore[assignment]

    query = threading.Thread(target=lambda: _swallow(progress._caught_up_as_of))
    query.start()
    assert fake.querying.wait(10)
    closing = threading.Thread(target=progress.close)
    closing.start()
    # Unguarded, close would run now, in the middle of the query; guarded, it is still blocked
    # (it can only ever be later than this, never spuriously early).
    closing.join(1.0)
    fake.release.set()
    closing.join(10)
    query.join(10)

    assert not fake.closed_while_querying


def _swallow(call: object) -> None:
    with contextlib.suppress(RuntimeError):
        call()  # type: ignore[operator]
