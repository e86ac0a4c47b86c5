"""Procedures remember that their 14-day no_relief check has run.

Revision ID: 20261121_0004
Revises: 20261121_0003

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.models

revision: str = "20261121_0004"
down_revision: str | None = "20261121_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "no_relief_checked_at", app.core.models.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            "ix_procedures_no_relief_due", ["no_relief_checked_at", "performed_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.drop_index("ix_procedures_no_relief_due")
        batch_op.drop_column("no_relief_checked_at")
