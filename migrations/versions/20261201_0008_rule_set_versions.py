"""Rule set versions chosen per clinic, and blood glucose on reports.

Every clinic, report and alert already stored gets rule set version 1: the only rule set there
was when they were made. New clinics start on the latest version (the application's default,
app/staff/models.py), so an upgrade never changes the rules a running clinic is judged by.

Revision ID: 20261201_0008
Revises: 20261201_0007

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "20261201_0008"
down_revision: str | None = "20261201_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _version_column() -> sa.Column[int]:
    # A constant server default fills existing rows without rewriting the table on PostgreSQL
    # (11+), and lets SQLite add a NOT NULL column in place.
    return sa.Column("rule_set_version", sa.Integer(), server_default="1", nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(_version_column())

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(_version_column())
        batch_op.add_column(sa.Column("blood_glucose_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("blood_glucose_unit", sa.String(length=6), nullable=True))
        batch_op.add_column(sa.Column("blood_glucose_mmol", sa.Float(), nullable=True))

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(_version_column())


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_column("rule_set_version")

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("blood_glucose_mmol")
        batch_op.drop_column("blood_glucose_unit")
        batch_op.drop_column("blood_glucose_value")
        batch_op.drop_column("rule_set_version")

    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("rule_set_version")
