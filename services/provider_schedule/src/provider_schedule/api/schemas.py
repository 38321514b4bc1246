"""Request and response bodies of the HTTP API (CONTRACT.md section 4), camelCase on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import SkipJsonSchema

from contract.dates import FlexibleDateTime
from contract.events import EncounterType
from provider_schedule.domain.model import Availability, Profile, ProfileChanges, Provider

NAME_MAX_LENGTH = 100


def _printable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and no name needs a control character (C0 or C1).
    if any(ord(character) < 32 or 127 <= ord(character) < 160 for character in value):
        raise ValueError("must not contain control characters")
    return value


# What ``Name`` accepts, stated in the schema: no control character, and something left once
# surrounding whitespace is stripped.
_NOT_CONTROL = r"\u0000-\u001f\u007f-\u009f"
NAME_PATTERN = rf"^[^{_NOT_CONTROL}]*[^\s{_NOT_CONTROL}][^{_NOT_CONTROL}]*$"


def _text_date(value: Any) -> Any:
    # pydantic would read a number as a Unix timestamp; the contract has only text dates.
    if not isinstance(value, str | datetime):
        # ValueError, not TypeError: only the former becomes a validation error (a 422).
        raise ValueError("must be an ISO-8601 date-time or a dd.MM.yyyy date, as a string")  # noqa: TRY004
    return value


def _in_utc(value: datetime) -> datetime:
    # Stored and published in UTC (FlexibleDateTime already refused times without a UTC form).
    return value.astimezone(UTC)


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_LENGTH),
    AfterValidator(_printable),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": NAME_MAX_LENGTH, "pattern": NAME_PATTERN}
    ),
]
DateInput = Annotated[FlexibleDateTime, BeforeValidator(_text_date), AfterValidator(_in_utc)]


class ApiModel(BaseModel):
    # Unknown fields are ignored, as the Java clients may send more than we read.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


# --- providers -------------------------------------------------------------------------------

_PROVIDER_EXAMPLE: dict[str, Any] = {
    "firstName": "John",
    "lastName": "Doe",
    "speciality": "Dentist",
    "gender": "MALE",
}


class ProviderIn(ApiModel):
    """A provider's profile; PUT replaces it whole."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PROVIDER_EXAMPLE]})

    first_name: Name
    last_name: Name
    speciality: Name
    gender: Name

    def profile(self) -> Profile:
        return Profile(self.first_name, self.last_name, self.speciality, self.gender)

    def changes(self) -> ProfileChanges:
        return ProfileChanges(self.first_name, self.last_name, self.speciality, self.gender)


def _patch_schema(schema: dict[str, Any]) -> None:
    # No ``default: null`` either: null is refused, an absent field keeps its value.
    for field in schema.get("properties", {}).values():
        field.pop("default", None)
    schema["examples"] = [{"speciality": "Orthodontist"}]


class ProviderPatch(ApiModel):
    """Some fields of a provider's profile; absent fields stay as they are."""

    model_config = ConfigDict(json_schema_extra=_patch_schema)

    # Optional but never null: the schema says so too (no ``null`` in it).
    first_name: Name | SkipJsonSchema[None] = None
    last_name: Name | SkipJsonSchema[None] = None
    speciality: Name | SkipJsonSchema[None] = None
    gender: Name | SkipJsonSchema[None] = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            # Unknown fields are ignored, null or not; a known one must not be null.
            fields = cls.model_fields.items()
            known = {name for field, info in fields for name in (field, info.alias)}
            nulls = sorted(key for key, value in data.items() if value is None and key in known)
            if nulls:
                raise ValueError(f"fields cannot be null (omit them to keep them): {nulls}")
        return data

    def changes(self) -> ProfileChanges:
        return ProfileChanges(self.first_name, self.last_name, self.speciality, self.gender)


class ProviderOut(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "3c8e5b1a-5f0c-4c55-9c43-2f3b3bb0e7a1", **_PROVIDER_EXAMPLE}]
        }
    )

    id: UUID
    first_name: str
    last_name: str
    speciality: str
    gender: str

    @classmethod
    def of(cls, provider: Provider) -> ProviderOut:
        profile = provider.profile
        return cls(
            id=provider.id,
            first_name=profile.first_name,
            last_name=profile.last_name,
            speciality=profile.speciality,
            gender=profile.gender,
        )


# --- availability ----------------------------------------------------------------------------

_AVAILABILITY_EXAMPLE: dict[str, Any] = {
    "fromDate": "2026-12-01T09:00:00+00:00",
    "toDate": "2026-12-01T09:30:00+00:00",
    "encounterType": "ONSITE",
}


class AvailabilityIn(ApiModel):
    """A slot: ISO-8601 date-times (an offset is advised; none means UTC) or the legacy
    ``dd.MM.yyyy`` form (midnight UTC). ``fromDate`` must be before ``toDate``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _AVAILABILITY_EXAMPLE,
                {"fromDate": "01.12.2026", "toDate": "02.12.2026", "encounterType": "VIRTUAL"},
            ]
        }
    )

    from_date: DateInput
    to_date: DateInput
    encounter_type: EncounterType = EncounterType.NOT_SELECTED

    @model_validator(mode="after")
    def _ordered(self) -> AvailabilityIn:
        if self.from_date >= self.to_date:
            raise ValueError(
                f"fromDate ({self.from_date.isoformat()}) must be before toDate "
                f"({self.to_date.isoformat()})"
            )
        return self


class AvailabilityOut(ApiModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9d4f2a57-1d3e-4f7e-8e43-6a5b3a0e2c11",
                    **_AVAILABILITY_EXAMPLE,
                    "providerId": "3c8e5b1a-5f0c-4c55-9c43-2f3b3bb0e7a1",
                    "bookingReferenceId": None,
                    "version": 1,
                }
            ]
        }
    )

    id: UUID
    from_date: FlexibleDateTime
    to_date: FlexibleDateTime
    provider_id: UUID
    booking_reference_id: UUID | None = Field(description="The booking that holds the slot, if any")
    encounter_type: EncounterType
    version: int = Field(description="Grows by one with every change of the slot")

    @classmethod
    def of(cls, slot: Availability) -> AvailabilityOut:
        return cls(
            id=slot.id,
            from_date=slot.time_range.start,
            to_date=slot.time_range.end,
            provider_id=slot.provider_id,
            booking_reference_id=slot.booking_reference_id,
            encounter_type=slot.encounter_type,
            version=slot.version,
        )


# --- errors ----------------------------------------------------------------------------------


class FieldError(BaseModel):
    location: str = Field(description="Where the problem is, e.g. body.fromDate")
    message: str


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": 404,
                    "error": "Not Found",
                    "message": "provider 3c8e... does not exist",
                    "path": "/providers/3c8e...",
                }
            ]
        }
    )

    status: int
    error: str
    message: str
    path: str
    errors: list[FieldError] | None = None
