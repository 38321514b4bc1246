"""The supervisor's decisions without processes: backoff, the last error line, its state file."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.processes import size_of, tail
from devstack.supervision import (
    Backoff,
    PartRecord,
    PartState,
    SupervisorState,
    last_error_line,
)


def test_backoff_doubles_from_one_second_up_to_the_cap() -> None:
    backoff = Backoff(initial=1.0, cap=30.0)

    assert [backoff.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_backoff_of_a_long_failing_part_stays_at_the_cap() -> None:
    assert Backoff(cap=30.0).delay(10_000) == 30.0


def _json_line(**fields: object) -> str:
    return json.dumps({"time": "2026-01-01 10:00:00", "logger": "x", **fields})


def test_a_json_error_reads_as_message_and_last_line_of_its_traceback() -> None:
    lines = [
        _json_line(level="INFO", message="consumer started"),
        _json_line(
            level="ERROR",
            message="application failed",
            exc_info='Traceback (most recent call last):\n  File "x.py", line 1, in <module>\n'
            "ConnectionRefusedError: [Errno 111] Connection refused",
        ),
        _json_line(level="INFO", message="Finished server process [42]"),
    ]

    assert last_error_line(lines) == (
        "application failed: ConnectionRefusedError: [Errno 111] Connection refused"
    )


def test_a_json_error_field_is_read_when_there_is_no_traceback() -> None:
    lines = [
        _json_line(level="ERROR", message="consumer failed", error="Broker: Unknown topic"),
        _json_line(level="WARNING", message="record parked", error="Rejected: too big"),
    ]

    assert last_error_line(lines) == "consumer failed: Broker: Unknown topic"


def test_a_plain_python_traceback_gives_its_exception_line() -> None:
    lines = [
        "Traceback (most recent call last):",
        '  File "/x/main.py", line 9, in <module>',
        "    raise SystemExit(main())",
        "ValueError: API_KEY must not be empty",
    ]

    assert last_error_line(lines) == "ValueError: API_KEY must not be empty"


def test_a_jvm_error_line_is_found_above_later_noise() -> None:
    lines = [
        "[2026-01-01 10:00:00,000] ERROR Exiting Kafka due to fatal exception (kafka.Kafka$)",
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 0.0.0.0:9092",
        "\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:700)",
    ]

    assert last_error_line(lines) == (
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 0.0.0.0:9092"
    )


def test_without_an_error_the_last_line_is_read_not_shown_raw() -> None:
    lines = [_json_line(level="INFO", message="stopping"), ""]

    assert last_error_line(lines) == "no error logged; last line: stopping"


def test_a_long_error_is_one_clipped_line() -> None:
    line = last_error_line([f"RuntimeError: {'x' * 1000}\n  with a second line"])

    assert "\n" not in line
    assert len(line) == 240
    assert line.endswith("…")


def test_an_empty_log_has_no_error() -> None:
    assert last_error_line([]) == ""


def test_the_state_file_round_trips_and_a_broken_one_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "supervisor" / "state.json"
    state = SupervisorState()
    state.parts["kafka"] = PartRecord(
        state=PartState.BACKING_OFF, restarts=2, failures=2, last_error="boom", next_attempt=3.0
    )

    state.save(path)

    assert SupervisorState.load(path) == state
    path.write_text("{not json")
    assert SupervisorState.load(path) == SupervisorState()


def test_a_death_is_explained_by_what_the_process_logged_not_by_an_older_one(
    tmp_path: Path,
) -> None:
    log = tmp_path / "care-plan.log"
    log.write_text('{"level": "ERROR", "message": "TypeError: from the previous run"}\n')
    started_at = size_of(log)
    with log.open("a") as handle:
        handle.write('{"level": "INFO", "message": "booking confirmed"}\n')
    assert last_error_line(tail(log, 50, since=started_at)) == (
        "no error logged; last line: booking confirmed"
    )
    assert "previous run" in last_error_line(tail(log, 50))
    assert tail(log, 50, since=10**9) == tail(log, 50), "a log cut shorter is read whole"
