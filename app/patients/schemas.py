import uuid
import zoneinfo
from datetime import date, datetime
from functools import cache
from typing import Annotated

from pydantic import AfterValidator, ConfigDict, Field

from app.core.types import PastDate, RequestModel, ResponseModel, Text
from app.rules.temperature import TemperatureUnit


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _iana_timezone(name: str) -> str:
    if name not in _known_timezones():
        raise ValueError("must be an IANA time zone name such as America/Chicago")
    return name


Timezone = Annotated[str, Field(max_length=64), AfterValidator(_iana_timezone)]
Mrn = Annotated[
    Text,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x20\x7f](?:[^\x00-\x1f\x7f]*[^\x00-\x20\x7f])?$",
    ),
]
DisplayName = Annotated[Text, Field(min_length=1, max_length=200, pattern=r"\S")]


class PatientCreate(RequestModel):
    mrn: Mrn = Field(description="Medical record number, unique within the clinic.")
    display_name: DisplayName
    birth_date: PastDate | None = None
    timezone: Timezone
    temperature_unit: TemperatureUnit = "C"

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mrn": "MRN-004217",
                    "display_name": "Jordan Alvarez",
                    "birth_date": "1971-04-02",
                    "timezone": "America/Chicago",
                    "temperature_unit": "F",
                }
            ]
        }
    )


class PatientUpdate(RequestModel):
    mrn: Mrn | None = None
    display_name: DisplayName | None = None
    birth_date: PastDate | None = None
    timezone: Timezone | None = None
    temperature_unit: TemperatureUnit | None = None


class PatientOut(ResponseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    mrn: str
    display_name: str
    birth_date: date | None = None
    timezone: str
    temperature_unit: TemperatureUnit
    created_at: datetime
    updated_at: datetime
