"""Request/response building blocks shared by every domain."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, model_validator

EARLIEST_YEAR = 1900
LATEST_YEAR = 2200


def _to_utc(value: datetime) -> datetime:
    try:
        converted = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00-05:00
        raise ValueError("timestamp is out of range") from exc
    if not EARLIEST_YEAR <= converted.year <= LATEST_YEAR:
        raise ValueError(f"timestamp must fall between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return converted


# Requests must carry an offset (naive -> 422); we keep everything in UTC from then on.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def _plausible_date(value: date) -> date:
    if value.year < EARLIEST_YEAR:
        raise ValueError(f"date must not be before {EARLIEST_YEAR}")
    return value


PastDate = Annotated[date, AfterValidator(_plausible_date)]


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(v) for v in value)
    return False


class RequestModel(BaseModel):
    """Every request body: unknown fields are refused, and so is any NUL character
    (PostgreSQL cannot store one, so it would otherwise surface as a 500)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=False)

    @model_validator(mode="before")
    @classmethod
    def _no_nul_characters(cls, data: Any) -> Any:
        if _contains_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
