"""Request bodies: the dates the contract allows, ordered ranges, closed enums, clean names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contract.events import EncounterType
from provider_schedule.api.schemas import AvailabilityIn, ProviderIn, ProviderPatch


def test_iso_and_legacy_dates_are_read_as_utc_instants() -> None:
    body = AvailabilityIn.model_validate(
        {"fromDate": "01.12.2026", "toDate": "2026-12-01T10:00:00+02:00"}
    )
    assert body.from_date == datetime(2026, 12, 1, tzinfo=UTC)
    assert body.to_date == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert body.to_date.utcoffset() is not None
    assert body.encounter_type is EncounterType.NOT_SELECTED


@pytest.mark.parametrize(
    ("from_date", "to_date", "problem"),
    [
        ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z", "must be before"),
        ("02.12.2026", "01.12.2026", "must be before"),
        ("31.02.2026", "01.03.2026", "day is out of range"),
        ("tomorrow", "2026-12-01T10:00:00Z", "ISO-8601 date-time or a dd.MM.yyyy"),
        ("0.5", "2026-12-01T10:00:00Z", "ISO-8601 date-time or a dd.MM.yyyy"),
        (1_764_579_600, "2026-12-01T10:00:00Z", "as a string"),
        ("0001-01-01T00:00:00+05:00", "2026-12-01T10:00:00Z", "expressed in UTC"),
    ],
)
def test_bad_ranges_and_dates_are_refused(from_date: object, to_date: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        AvailabilityIn.model_validate({"fromDate": from_date, "toDate": to_date})


def test_unknown_encounter_type_is_refused() -> None:
    with pytest.raises(ValidationError, match="ONSITE"):
        AvailabilityIn.model_validate({"fromDate": "01.12.2026", "toDate": "02.12.2026",
                                       "encounterType": "TELEPATHIC"})  # fmt: skip


@pytest.mark.parametrize(
    "first_name", ["", "   ", 42, None, "x" * 101, "Jo\x00hn"], ids=["empty", "blank", "number",
                                                                       "null", "long", "nul"]
)  # fmt: skip
def test_names_must_be_short_printable_text(first_name: object) -> None:
    with pytest.raises(ValidationError):
        ProviderIn.model_validate({"firstName": first_name, "lastName": "Doe",
                                   "speciality": "Dentist", "gender": "MALE"})  # fmt: skip


def test_names_are_trimmed() -> None:
    body = ProviderIn.model_validate({"firstName": "  John ", "lastName": "Doe",
                                      "speciality": "Dentist", "gender": "MALE"})  # fmt: skip
    assert body.first_name == "John"


def test_patch_takes_some_fields_but_no_nulls() -> None:
    assert ProviderPatch.model_validate({"speciality": "Orthodontist"}).changes().speciality == (
        "Orthodontist"
    )
    assert ProviderPatch.model_validate({}).changes().first_name is None
    with pytest.raises(ValidationError, match="cannot be null"):
        ProviderPatch.model_validate({"firstName": None})
