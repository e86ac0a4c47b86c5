"""How a hot-path statement is written, once for every domain (bench/README.md explains why
these are prebuilt).

Each domain keeps its hot statements in its own `statements.py` (alerts, audit, auth,
procedures, reports, timelines; core knows no domain table), each one a `@cache`d function
built on first use, when every foreign-key column knows its type, with every value a typed bound
parameter, so SQLAlchemy compiles it once and asyncpg prepares it once. Where SQLAlchemy
cannot cache a statement (a dialect ON CONFLICT insert, an insert feeding another in a CTE)
it is text, and its INSERT is written here from the table's own columns."""

from typing import Any

from sqlalchemy import BindParameter, Table, bindparam


def insert_every_column(
    table: Table, prefix: str = "", only_if: str = ""
) -> tuple[str, list[BindParameter[Any]]]:
    """`INSERT INTO <table> (<every column>) VALUES (:<prefix><every column>)`, and a typed
    bound parameter for each column. A prefix keeps the parameters apart from another
    table's in one statement; `only_if`, SQL of ours, makes it `SELECT ... WHERE only_if`
    (both drivers cast each parameter to its type, so the values need no VALUES list). Only
    the table's own names are interpolated."""
    names = [c.name for c in table.columns]
    columns, values = ", ".join(names), ", ".join(f":{prefix}{n}" for n in names)
    rows = f"SELECT {values} WHERE {only_if}" if only_if else f"VALUES ({values})"
    sql = f"INSERT INTO {table.name} ({columns}) {rows}"
    return sql, [bindparam(prefix + c.name, type_=c.type) for c in table.columns]
