"""``bench/tracing_side_by_side.py``: which platform is traced alternates from run to run, so
that what differs between the two platforms (ports, start order) falls on both settings."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[3]


def _side_by_side() -> ModuleType:
    sys.path.insert(0, str(REPO / "bench"))  # it imports booking.py beside it
    try:
        spec = importlib.util.spec_from_file_location(
            "tracing_side_by_side", REPO / "bench/tracing_side_by_side.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "bench"))


def test_the_traced_platform_alternates_and_the_two_never_share_a_port_or_a_folder() -> None:
    bench = _side_by_side()
    runs = [bench.sides_of_run(number, "0.1") for number in range(4)]
    traced_folders = [next(s.state_dir for s in sides if s.sampling == "0.1") for sides in runs]
    assert traced_folders[0] != traced_folders[1]
    assert traced_folders[0::2] == [traced_folders[0]] * 2
    assert traced_folders[1::2] == [traced_folders[1]] * 2
    for sides in runs:
        assert sorted(s.sampling for s in sides) == ["0.1", "off"]
        assert len({s.port_offset for s in sides}) == 2
        assert len({s.state_dir for s in sides}) == 2
    assert all(s.sampling == "off" for s in bench.sides_of_run(1, "off"))


def _figures(bench: ModuleType, confirmed_per_second: float) -> object:
    return bench.PhaseFigures(
        label="300/s", confirmed_per_second=confirmed_per_second, accepted_per_second=0.0,
        refused=0, confirmed=0, expired=0, p99_ms=0.0, cpu_ms_per_booking={}, loop_shares={},
    )  # fmt: skip


def test_a_change_is_the_second_platforms_throughput_against_the_firsts() -> None:
    bench = _side_by_side()
    assert bench.throughput_change(_figures(bench, 200.0), _figures(bench, 170.0)) == pytest.approx(
        -0.15
    )


def test_the_load_is_open_at_a_rate_unless_connections_close_the_loop() -> None:
    bench = _side_by_side()
    assert bench.load_arguments(bench.parse_arguments(["--rate", "250"])) == ["--rates", "250"]
    closed = bench.parse_arguments(["--connections", "32"])
    assert bench.load_arguments(closed) == ["--overload", "32"]
