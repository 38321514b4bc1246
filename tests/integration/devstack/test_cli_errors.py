"""The CLI says in one line what is wrong and what to run, for the situations an operator meets
every day: a port already taken when `careplan up` starts, the platform (or the part a command
needs) not running, a part name that does not exist. No traceback."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devstack.cli import app
from devstack.ports import ephemeral_ports
from devstack.settings import DevstackSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def idle_offset(devstack_settings: DevstackSettings) -> int:
    """Ports shifted away from this session's platform, where nothing of ours runs."""
    return devstack_settings.port_offset + 700


def _careplan(state_dir: Path, offset: int, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        list(args),
        env={
            "CAREPLAN_STATE_DIR": str(state_dir),
            "CAREPLAN_PORT_OFFSET": str(offset),
            "COLUMNS": "200",
        },
    )
    return result.exit_code, result.output


@pytest.fixture
def squatter(idle_offset: int) -> Iterator[int]:
    """Another program listening on the port PostgreSQL would take."""
    port = 5432 + idle_offset
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        yield port


def test_up_names_a_taken_port_and_its_holder_before_starting_anything(
    tmp_path: Path, idle_offset: int, squatter: int
) -> None:
    code, output = _careplan(tmp_path, idle_offset, "up", "--only", "postgres")

    assert code == 1
    assert "Traceback" not in output
    assert f"postgres: port {squatter} is taken" in output
    assert f"pid {os.getpid()}" in output
    assert f"CAREPLAN_PORT_OFFSET={idle_offset + 100} careplan up" in output
    assert f"postgres on {squatter + 100}" in output
    assert not list(tmp_path.glob("pids/*"))  # nothing was started
    assert not (tmp_path / "logs" / "postgres.log").exists()


def test_up_refuses_ports_in_the_kernels_ephemeral_range_before_starting_anything(
    tmp_path: Path,
) -> None:
    ephemeral = ephemeral_ports()
    offset = ephemeral.start - 5432 + 10  # PostgreSQL's port just inside the range
    code, output = _careplan(tmp_path, offset, "up", "--only", "postgres")

    assert code == 1
    assert "Traceback" not in output
    assert f"ports {5432 + offset} lie in the kernel's ephemeral range" in output
    assert f"below {ephemeral.start}" in output
    assert not list(tmp_path.glob("pids/*"))  # nothing was started


def test_commands_that_need_a_stopped_part_say_which_and_how_to_start_it(
    tmp_path: Path, idle_offset: int
) -> None:
    # (`clinic visits` with moto away: tests/unit/devstack/test_cli_errors.py; run here, its
    # attempted DynamoDB call would count as a call of the deployables in the IAM recording.)
    rebuild_code, rebuild = _careplan(tmp_path, idle_offset, "care-plan", "rebuild")

    assert rebuild_code == 1
    assert "Not running: kafka, postgres" in rebuild
    assert "careplan up --only kafka --only postgres" in rebuild


def test_an_unknown_part_is_named_with_the_parts_there_are(
    tmp_path: Path, idle_offset: int
) -> None:
    code, output = _careplan(tmp_path, idle_offset, "up", "--only", "kafak")

    assert code == 2
    assert "Traceback" not in output
    assert "kafak" in output
    assert "care-plan" in output
