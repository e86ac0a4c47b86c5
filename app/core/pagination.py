"""Opaque keyset cursors: base64url JSON of the last row's sort key."""

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import ColumnElement, and_, literal, or_, tuple_

from app.core.domain_errors import InvalidCursor
from app.core.types import to_utc

R = TypeVar("R")
LimitQuery = Annotated[int, Query(ge=1, le=200, description="Page size.")]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=512,
        pattern=r"^[A-Za-z0-9_\-=]*$",
        description="next_cursor of the previous page.",
    ),
]


def encode_cursor(*key: Any) -> str:
    raw = json.dumps([str(k) for k in key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor() from exc
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, str) for v in values)
    ):
        raise InvalidCursor()
    return values


def cursor_time(value: str) -> datetime:
    """A timestamp from a cursor, held to the same rules as request timestamps."""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("naive")
        return to_utc(moment)
    except ValueError as exc:
        raise InvalidCursor() from exc


def cursor_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidCursor() from exc


def decode_time_id_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, row_id = decode_cursor(cursor, 2)
    return cursor_time(at), cursor_uuid(row_id)


def decode_number_cursor(cursor: str) -> int:
    (value,) = decode_cursor(cursor, 1)
    if not re.fullmatch(r"[0-9]{1,9}", value):  # ASCII digits only; fits every integer column
        raise InvalidCursor()
    return int(value)


def newer_first_after(at_column: Any, id_column: Any, cursor: str) -> ColumnElement[bool]:
    """Rows after the cursor in (at DESC, id DESC) order."""
    at, last_id = decode_time_id_cursor(cursor)
    return or_(at_column < at, and_(at_column == at, id_column < last_id))


Bound = datetime | uuid.UUID | ColumnElement[Any]  # a value, or a bound parameter for it


def newer_first_within(
    at: Any,
    row_id: Any,
    *,
    since: Bound | None,
    until: Bound | None,
    after: tuple[Bound, Bound] | None,
) -> list[ColumnElement[bool]]:
    """A newest-first page's bounds: `since` inclusive, `until` exclusive, and rows after the
    last one shown. A row comparison (not OR/AND) is an index range condition on both
    databases, so a page of (at, id) is one range scan from the cursor on. Values may be bound
    parameters, for a statement built once and run with each request's values."""
    where: list[ColumnElement[bool]] = []
    if after is not None:
        bound = tuple_(*(_sql(v, c) for v, c in zip(after, (at, row_id), strict=True)))
        where.append(tuple_(at, row_id) < bound)
    if since is not None:
        where.append(at >= since)
    if until is not None:
        where.append(at < until)
    return where


def _sql(value: Bound, column: Any) -> ColumnElement[Any]:
    return value if isinstance(value, ColumnElement) else literal(value, column.type)


def cut_page(
    rows: Sequence[R], limit: int, key: Callable[[R], tuple[Any, ...]]
) -> tuple[list[R], str | None]:
    """Rows were fetched with limit + 1: the extra one only says another page exists."""
    page = list(rows[:limit])
    return page, encode_cursor(*key(page[-1])) if len(rows) > limit else None
