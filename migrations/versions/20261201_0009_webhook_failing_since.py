"""Webhook endpoints remember since when every attempt has failed, so that the worker can
disable one that has failed for days (issue 12).

Existing endpoints start with no failure on record: their stretch begins at their next failed
attempt, so an upgrade never disables an endpoint by itself.

Revision ID: 20261201_0009
Revises: 20261201_0008

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.models

revision: str = "20261201_0009"
down_revision: str | None = "20261201_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failing_since", app.core.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.drop_column("failing_since")
