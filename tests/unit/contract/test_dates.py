from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contract.events import AvailabilityData

SLOT = "5f7a0d4e-2b6c-4d9b-9e3f-8a1b2c3d4e5f"


def test_legacy_and_iso_dates_are_read() -> None:
    data = AvailabilityData.model_validate(
        {"id": SLOT, "fromDate": "01.12.2026", "toDate": "2026-12-01T09:30:00"}
    )

    assert data.from_date == datetime(2026, 12, 1, tzinfo=UTC)
    assert data.to_date == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_time_without_a_utc_equivalent_is_a_validation_error(when: str) -> None:
    # A validation error makes a consumer park the record at once (it can never succeed)
    # instead of retrying it as if the database had failed.
    with pytest.raises(ValidationError, match="UTC"):
        AvailabilityData.model_validate({"id": SLOT, "fromDate": when, "toDate": when})
