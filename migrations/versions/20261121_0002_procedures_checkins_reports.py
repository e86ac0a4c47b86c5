"""Procedures (blocks), their check-in schedule, and symptom reports.

Revision ID: 20261121_0002
Revises: 20261121_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.models

revision: str = "20261121_0002"
down_revision: str | None = "20261121_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "procedures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("sequence_number", sa.Integer(), nullable=False),
        sa.Column("performed_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column(
            "levels",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("indication", sa.String(length=20), nullable=False),
        sa.Column("baseline_pain", sa.Integer(), nullable=False),
        sa.Column(
            "baseline_symptoms",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "anesthetic",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "steroid",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("sedation", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_procedures_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["staff_users.id"], name=op.f("fk_procedures_created_by_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_procedures_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_procedures")),
        sa.UniqueConstraint(
            "patient_id", "sequence_number", name=op.f("uq_procedures_patient_id_sequence_number")
        ),
    )
    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_procedures_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(
            "ix_procedures_patient_performed", ["patient_id", "performed_at", "id"], unique=False
        )

    op.create_table(
        "reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("procedure_id", sa.Uuid(), nullable=False),
        sa.Column("client_report_id", sa.Uuid(), nullable=False),
        sa.Column("request_digest", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pain_score", sa.Integer(), nullable=False),
        sa.Column("relief_percent", sa.Integer(), nullable=True),
        sa.Column("relief_ended_at", app.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("temperature_value", sa.Float(), nullable=True),
        sa.Column("temperature_unit", sa.String(length=1), nullable=True),
        sa.Column("temperature_c", sa.Float(), nullable=True),
        sa.Column(
            "side_effects",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("entered_by_staff_id", sa.Uuid(), nullable=True),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_reports_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["entered_by_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_reports_entered_by_staff_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_reports_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["procedures.id"], name=op.f("fk_reports_procedure_id_procedures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "patient_id", "client_report_id", name=op.f("uq_reports_patient_id_client_report_id")
        ),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_clinic_id"), ["clinic_id"], unique=False)
        batch_op.create_index(
            "ix_reports_procedure_recorded", ["procedure_id", "recorded_at", "id"], unique=False
        )

    op.create_table(
        "checkins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("procedure_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("report_id", sa.Uuid(), nullable=True),
        sa.Column("completed_at", app.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["procedure_id"], ["procedures.id"], name=op.f("fk_checkins_procedure_id_procedures")
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_checkins_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkins")),
    )
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.create_index("ix_checkins_procedure_due", ["procedure_id", "due_at"], unique=False)
        batch_op.create_index("ix_checkins_status_closes", ["status", "closes_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_status_closes")
        batch_op.drop_index("ix_checkins_procedure_due")

    op.drop_table("checkins")

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_procedure_recorded")
        batch_op.drop_index(batch_op.f("ix_reports_clinic_id"))

    op.drop_table("reports")

    with op.batch_alter_table("procedures", schema=None) as batch_op:
        batch_op.drop_index("ix_procedures_patient_performed")
        batch_op.drop_index(batch_op.f("ix_procedures_clinic_id"))

    op.drop_table("procedures")
