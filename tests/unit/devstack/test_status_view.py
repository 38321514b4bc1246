"""`careplan status`: the table stays one row per part, and a dead part's error is one line."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from rich.console import Console

from devstack import cli
from devstack.platform import ComponentStatus

TRACEBACK = (
    "background worker failed, restarting:\n  cimpl.KafkaException: "
    'KafkaError{code=ILLEGAL_GENERATION,val=22,str="Commit failed: [broker] generation"}'
)


@dataclass
class StubPlatform:
    rows: list[ComponentStatus] = field(default_factory=list)

    def supervisor_process(self) -> int | None:
        return 4242

    def status(self) -> list[ComponentStatus]:
        return self.rows


def render(platform: StubPlatform, monkeypatch: pytest.MonkeyPatch) -> tuple[str, bool]:
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=80, color_system=None))
    crashed = cli._print_status(platform)  # type: ignore[arg-type]
    return out.getvalue(), crashed


def test_a_dead_part_s_last_error_is_one_line_below_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    platform = StubPlatform(
        [
            ComponentStatus("kafka", "ready", 101, "127.0.0.1:9092"),
            ComponentStatus("care-plan", "crashed", None, "http://127.0.0.1:8080", TRACEBACK, 3),
        ]
    )
    text, crashed = render(platform, monkeypatch)
    assert crashed
    table, _, errors = text.partition("last error of each part that died")
    assert "ILLEGAL_GENERATION" not in table
    assert "│ care-plan" in table
    assert "│ 3 " in table
    lines = [line for line in errors.splitlines() if line.startswith("care-plan:")]
    assert len(lines) == 1
    assert "background worker failed, restarting: cimpl" in lines[0]
    assert len(lines[0]) <= 80


def test_no_error_section_when_nothing_died(monkeypatch: pytest.MonkeyPatch) -> None:
    text, crashed = render(
        StubPlatform([ComponentStatus("kafka", "ready", 101, "127.0.0.1:9092")]), monkeypatch
    )
    assert not crashed
    assert "last error" not in text
