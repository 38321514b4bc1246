"""The EKS and RDS versions Terraform pins are inside their standard support windows, as dated
in deploy/versions.json (past them AWS bills extended support, or upgrades on its own)."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest

from tests.unit.deploy.terraform import blocks, resources
from tests.unit.deploy.tools import DEPLOY

TABLE = DEPLOY / "versions.json"


def table() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(TABLE.read_text(encoding="utf-8"))
    return document


def entries() -> dict[str, dict[str, str]]:
    return {entry["variable"]: entry for entry in table()["versions"]}


@pytest.mark.parametrize("variable", ["kubernetes_version", "db_engine_version"])
def test_the_pinned_version_is_in_standard_support_today(variable: str) -> None:
    pinned = blocks("variable")[variable]["default"]
    entry = entries().get(variable)
    assert entry is not None, f"{variable} = {pinned} has no dated entry in {TABLE.name}"
    assert entry["version"] == pinned, (
        f"{variable} is {pinned} but {TABLE.name} dates {entry['version']}: update the table"
    )
    end = date.fromisoformat(entry["end_of_standard_support"])
    assert end > date.today(), (
        f"{entry['component']} {pinned} left standard support on {end} (source: "
        f"{entry['source']}); pick a newer version"
    )
    assert entry["source"].startswith("https://"), "every date names where it was read"


def test_the_table_says_when_it_was_checked() -> None:
    checked = date.fromisoformat(table()["checked"])
    assert checked <= date.today()
    for entry in table()["versions"]:
        assert date.fromisoformat(entry["released"]) < date.fromisoformat(
            entry["end_of_standard_support"]
        )


def test_rds_follows_minor_upgrades_instead_of_pinning_one() -> None:
    (db,) = resources("aws_db_instance").values()
    pinned = blocks("variable")["db_engine_version"]["default"]
    assert db["engine_version"] == "${var.db_engine_version}"
    if db["auto_minor_version_upgrade"] is True:
        assert re.fullmatch(r"\d+", pinned), (
            f"db_engine_version {pinned} pins a minor version while RDS upgrades minors itself: "
            "the next apply would attempt a downgrade"
        )
