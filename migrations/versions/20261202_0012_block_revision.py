"""A block's revision: a counter the database bumps whenever the block, or any of its
reports, alerts or check-ins, is inserted, changed or deleted (issue 11).

The clinician views drawn from a block (its timeline items, summary and chart) are cached
keyed by it (app/core/view_cache.py). Triggers rather than application code do the bumping,
so that no write path, bulk statement or hand-run SQL can change what a view shows without
changing its key. Every writer of a block's children already holds the block's row lock
(report submission and the worker lock it first; acknowledging or resolving an alert takes
it first since this revision), so the triggers add no new lock order.

SQLite drops a table's triggers with the table: a later migration that recreates `procedures`,
`reports`, `alerts` or `checkins` (batch mode "recreate") must create these again.

Existing blocks start at revision 0.

Revision ID: 20261202_0012
Revises: 20261201_0011

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261202_0012"
down_revision: str | None = "20261201_0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHILD_TABLES = ("reports", "alerts", "checkins")
_BUMP = "UPDATE procedures SET revision = revision + 1 WHERE id = {row}.procedure_id"


def _sqlite_triggers() -> None:
    for table in CHILD_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_touch_block_insert AFTER INSERT ON {table} "
            f"BEGIN {_BUMP.format(row='NEW')}; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_touch_block_update AFTER UPDATE ON {table} "
            f"BEGIN {_BUMP.format(row='OLD')}; "
            f"{_BUMP.format(row='NEW')} AND NEW.procedure_id IS NOT OLD.procedure_id; END"
        )
        op.execute(
            f"CREATE TRIGGER {table}_touch_block_delete AFTER DELETE ON {table} "
            f"BEGIN {_BUMP.format(row='OLD')}; END"
        )
    # The block's own changes. SQLite cannot assign NEW in a trigger, so it updates the row
    # again; the WHEN keeps that (and the children's bumps) from counting twice.
    op.execute(
        "CREATE TRIGGER procedures_bump_revision AFTER UPDATE ON procedures "
        "WHEN NEW.revision = OLD.revision "
        "BEGIN UPDATE procedures SET revision = OLD.revision + 1 WHERE id = NEW.id; END"
    )


def _postgresql_triggers() -> None:
    op.execute(
        f"""
        CREATE FUNCTION aftercare_touch_block() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP <> 'INSERT' THEN
                {_BUMP.format(row="OLD")};
            END IF;
            IF TG_OP = 'INSERT'
               OR (TG_OP = 'UPDATE' AND NEW.procedure_id IS DISTINCT FROM OLD.procedure_id) THEN
                {_BUMP.format(row="NEW")};
            END IF;
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION aftercare_bump_revision() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.revision = OLD.revision THEN
                NEW.revision := OLD.revision + 1;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    for table in CHILD_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_touch_block AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION aftercare_touch_block()"
        )
    op.execute(
        "CREATE TRIGGER procedures_bump_revision BEFORE UPDATE ON procedures "
        "FOR EACH ROW EXECUTE FUNCTION aftercare_bump_revision()"
    )


def upgrade() -> None:
    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revision", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_triggers()
    else:
        _postgresql_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in CHILD_TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_touch_block_{event}")
        op.execute("DROP TRIGGER IF EXISTS procedures_bump_revision")
    else:
        for table in CHILD_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_touch_block ON {table}")
        op.execute("DROP TRIGGER IF EXISTS procedures_bump_revision ON procedures")
        op.execute("DROP FUNCTION IF EXISTS aftercare_touch_block()")
        op.execute("DROP FUNCTION IF EXISTS aftercare_bump_revision()")
    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.drop_column("revision")
