"""Drop `ix_reports_clinic_id`: `ix_reports_clinic_id_id` (clinic_id, id, from 20261201_0011)
serves every lookup by clinic it served, and each report insert kept both up to date.

A plain DROP INDEX on both databases, not a batch "recreate": on SQLite that would drop the
block-revision triggers of 20261202_0012 with the table.

Revision ID: 20261202_0013
Revises: 20261202_0012

"""

from collections.abc import Sequence

from alembic import op

revision: str = "20261202_0013"
down_revision: str | None = "20261202_0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_reports_clinic_id", table_name="reports")


def downgrade() -> None:
    op.create_index("ix_reports_clinic_id", "reports", ["clinic_id"], unique=False)
