"""Alerts: red flags raised by reports and by the clock, one active per (procedure, rule).

Revision ID: 20261121_0003
Revises: 20261121_0002

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.models

revision: str = "20261121_0003"
down_revision: str | None = "20261121_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("procedure_id", sa.Uuid(), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("severity_rank", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column(
            "explanation",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_triggered_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", app.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("acknowledgement_note", sa.Text(), nullable=True),
        sa.Column("resolved_at", app.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.Uuid(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["staff_users.id"],
            name=op.f("fk_alerts_acknowledged_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_alerts_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_alerts_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["procedures.id"], name=op.f("fk_alerts_procedure_id_procedures")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_alerts_report_id_reports")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["staff_users.id"], name=op.f("fk_alerts_resolved_by_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_patient", ["patient_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_alerts_worklist",
            ["clinic_id", "status", "severity_rank", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_alerts_active_procedure_rule",
            ["procedure_id", "rule_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('open', 'acknowledged')"),
            postgresql_where=sa.text("status IN ('open', 'acknowledged')"),
        )


def downgrade() -> None:

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alerts_active_procedure_rule",
            sqlite_where=sa.text("status IN ('open', 'acknowledged')"),
            postgresql_where=sa.text("status IN ('open', 'acknowledged')"),
        )
        batch_op.drop_index("ix_alerts_worklist")
        batch_op.drop_index("ix_alerts_patient")

    op.drop_table("alerts")
