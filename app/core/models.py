import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, cast

from pydantic import BaseModel
from sqlalchemy import JSON, ColumnElement, DateTime, MetaData, Row, Table, Uuid, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

# Stable constraint names, so migrations can drop or alter them on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; on SQLite a naive UTC text that sorts correctly.
    Values always come back timezone-aware in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime reached the database layer")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        # asyncpg already answers in UTC: every timestamp of every row read passes here.
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        uuid.UUID: Uuid(),
    }


def uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(Uuid(), primary_key=True, default=uuid.uuid4)


def id_in(
    column: ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID], name: str, dialect: str
) -> ColumnElement[bool]:
    """`column` is one of the ids in parameter `name`, a list. On PostgreSQL `= ANY(array)`:
    one SQL text whatever the list's length, so one prepared statement; an IN list is
    rendered anew per request, and each length is another statement for asyncpg to
    prepare and PostgreSQL to plan."""
    return value_in(column, name, dialect, Uuid())


def value_in(
    column: ColumnElement[Any] | InstrumentedAttribute[Any],
    name: str,
    dialect: str,
    item_type: TypeEngine[Any],
) -> ColumnElement[bool]:
    """id_in for values of any type."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type)))
    return column.in_(bindparam(name, expanding=True))


@cache
def column_fields(model: type[BaseModel], table: Table) -> tuple[str, ...]:
    """The fields of response `model` that are columns of `table`, by name (found once)."""
    return tuple(name for name in model.model_fields if name in table.c)


def row_values(row: Row[Any], names: Sequence[str]) -> dict[str, Any]:
    """Those columns of a Core row as a dict. The hot reads build their responses from dicts
    and validate a whole page in one pass: a model validated per item from an entity's
    attributes cost a third more of a page (bench/README.md, "Read path")."""
    values = row._mapping
    return {name: values[name] for name in names}


def entity_values(entity: Base, model: type[BaseModel]) -> dict[str, Any]:
    """row_values() for an ORM entity: its columns that are fields of `model`."""
    names = column_fields(model, cast(Table, entity.__table__))
    return {name: getattr(entity, name) for name in names}
