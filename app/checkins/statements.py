"""The check-in a report completes, written as app/core/prebuilt.py says: it runs with every
report, on its own (SQLite) or inside the report's statement (PostgreSQL,
reports/statements.py `storing_statement`), so both run the same SQL."""

from functools import cache

from sqlalchemy import TextualSelect, Uuid, bindparam, column, text

from app.core.models import UTCDateTime

OPEN = ("pending", "missed", "skipped")
_OPEN_SQL = ", ".join(f"'{status}'" for status in OPEN)


def completing_update(only_if: str = "") -> str:
    """The earliest open window [due, closes) of the block holding the report's recorded_at
    is completed by it. Parameters are named as the report's own columns (`id` is the
    report's), so the report's statement carries them. The status test is repeated outside
    the subquery: on PostgreSQL a concurrent report may complete the same row first, and
    after waiting for its lock only the outer WHERE is checked again; without it the second
    report would overwrite the first. `only_if` is one more condition, as SQL."""
    guard = f" AND {only_if}" if only_if else ""
    return (
        "UPDATE checkins SET status = 'completed', report_id = :id, completed_at = :received_at "  # noqa: S608
        "WHERE id = (SELECT id FROM checkins WHERE procedure_id = :procedure_id "
        f"AND status IN ({_OPEN_SQL}) AND due_at <= :recorded_at AND closes_at > :recorded_at "
        f"ORDER BY due_at LIMIT 1) AND status IN ({_OPEN_SQL}){guard} RETURNING id"
    )


@cache
def complete_checkin_statement() -> TextualSelect:
    statement = text(completing_update()).bindparams(
        bindparam("id", type_=Uuid()),
        bindparam("received_at", type_=UTCDateTime()),
        bindparam("procedure_id", type_=Uuid()),
        bindparam("recorded_at", type_=UTCDateTime()),
    )
    return statement.columns(column("id", Uuid()))
