"""Which failures the consumer waits out (the database or the network is away) instead of
parking the record, with and without the database extra installed."""

from __future__ import annotations

import sys

import pytest

from eventing.consumer import is_outage


def test_outages_are_the_networks_or_the_databases_not_the_records() -> None:
    assert is_outage(ConnectionResetError())
    assert is_outage(TimeoutError())
    assert not is_outage(ValueError())
    assert not is_outage(KeyError("x"))


class _Unimportable:
    """A meta path finder for which importing eventing.database fails as a lean install's does
    (no asyncpg), or for another missing module."""

    def __init__(self, missing: str) -> None:
        self._missing = missing

    def find_spec(self, name: str, path: object, target: object = None) -> None:
        if name == "eventing.database":
            raise ModuleNotFoundError(f"No module named {self._missing!r}", name=self._missing)


def test_without_the_database_extra_no_error_is_a_database_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "eventing.database")
    monkeypatch.setattr(sys, "meta_path", [_Unimportable("asyncpg"), *sys.meta_path])
    assert not is_outage(ValueError("a record's own failure"))
    assert is_outage(ConnectionResetError())


def test_a_missing_module_other_than_asyncpg_is_not_taken_for_a_lean_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "eventing.database")
    monkeypatch.setattr(sys, "meta_path", [_Unimportable("sqlalchemy"), *sys.meta_path])
    with pytest.raises(ModuleNotFoundError):
        is_outage(ValueError())
