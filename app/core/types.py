"""Request/response building blocks shared by every domain."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    model_validator,
)

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


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _rfc3339_text(value: Any) -> Any:
    # pydantic would read 1795261500 or "1795261500" as Unix time; the contract is RFC 3339.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-21T09:30:00-06:00"
        )
    return value


def _iso_date_text(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


# Requests must carry an offset (naive -> 422); we keep everything in UTC from then on.
UtcDatetime = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text), AfterValidator(to_utc)]


def _plausible_date(value: date) -> date:
    if value.year < EARLIEST_YEAR:
        raise ValueError(f"date must not be before {EARLIEST_YEAR}")
    return value


PastDate = Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_plausible_date)]


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


def rfc3339(moment: datetime) -> str:
    """UTC with a Z, the form every response and webhook gives times in."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
