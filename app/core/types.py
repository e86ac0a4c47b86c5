"""Request/response building blocks shared by every domain."""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, model_validator

EARLIEST_YEAR = 1900
LATEST_YEAR = 2200


def to_utc(value: datetime) -> datetime:
    try:
        converted = value.astimezone(UTC)
    except OverflowError as exc:  # e.g. 9999-12-31T23:00-05:00
        raise ValueError("timestamp is out of range") from exc
    if not EARLIEST_YEAR <= converted.year <= LATEST_YEAR:
        raise ValueError(f"timestamp must fall between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return converted


# Requests must carry an offset (naive -> 422); we keep everything in UTC from then on.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(to_utc)]


def _plausible_date(value: date) -> date:
    if value.year < EARLIEST_YEAR:
        raise ValueError(f"date must not be before {EARLIEST_YEAR}")
    return value


PastDate = Annotated[date, AfterValidator(_plausible_date)]


def _unstorable_text(value: Any) -> bool:
    """NUL (PostgreSQL refuses it) or a lone surrogate (not encodable as UTF-8), anywhere."""
    if isinstance(value, str):
        return "\x00" in value or (not value.isascii() and _has_surrogate(value))
    if isinstance(value, dict):
        return any(_unstorable_text(k) or _unstorable_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_unstorable_text(v) for v in value)
    return False


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable(value: str) -> str:
    if _unstorable_text(value):
        raise ValueError("text must not contain NUL characters or unpaired surrogates")
    return value


# Free text a client sends: the error then points at the field.
Text = Annotated[str, AfterValidator(storable)]


class RequestModel(BaseModel):
    """Every request body: unknown fields are refused, and so is text the databases cannot
    store (a NUL or a lone surrogate would otherwise surface as a 500)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=False)

    @model_validator(mode="after")
    def _storable_text(self) -> "RequestModel":
        # A safety net for any str field not typed as Text.
        if _unstorable_text(list(self.__dict__.values())):
            raise ValueError("text must not contain NUL characters or unpaired surrogates")
        return self


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
