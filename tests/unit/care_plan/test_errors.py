"""The refusals name what is missing: the API puts their text into the problem's detail."""

from __future__ import annotations

import uuid

from care_plan.domain.errors import BookingNotFoundError, PatientNotFoundError, SlotNotFoundError


def test_not_found_errors_name_the_missing_entity() -> None:
    some_id = uuid.uuid4()

    assert str(PatientNotFoundError(some_id)) == f"patient {some_id} does not exist"
    assert str(BookingNotFoundError(some_id)) == (
        f"booking {some_id} does not exist for this patient"
    )
    assert str(SlotNotFoundError(some_id)) == f"availability {some_id} is not known"
