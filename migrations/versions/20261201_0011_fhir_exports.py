"""FHIR bulk export jobs (issue 14), and the clinic's MRN identifier system for FHIR.

Existing clinics get no MRN system (null): their patients' identifiers use Aftercare's own
system until an admin sets the clinic's.

Revision ID: 20261201_0011
Revises: 20261201_0010

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.models

revision: str = "20261201_0011"
down_revision: str | None = "20261201_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_TIME = app.core.models.UTCDateTime(timezone=True)
_INDEXES = (
    ("patients", "ix_patients_clinic_id_id", ["clinic_id", "id"]),
    ("procedures", "ix_procedures_clinic_id_id", ["clinic_id", "id"]),
    ("procedures", "ix_procedures_clinic_performed", ["clinic_id", "performed_at", "id"]),
    ("reports", "ix_reports_clinic_id_id", ["clinic_id", "id"]),
    ("alerts", "ix_alerts_clinic_id_id", ["clinic_id", "id"]),
    ("alerts", "ix_alerts_clinic_created", ["clinic_id", "created_at", "id"]),
)


def upgrade() -> None:
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fhir_mrn_system", sa.String(length=255), nullable=True))
    op.create_table(
        "fhir_export_jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("actor_type", sa.String(length=20), nullable=False),
        sa.Column("requested_by_staff_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_client_id", sa.Uuid(), nullable=True),
        sa.Column("types", _JSON, nullable=False),
        sa.Column("since", _TIME, nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("progress", sa.String(length=200), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("transaction_time", _TIME, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("completed_at", _TIME, nullable=True),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("cursor", _JSON, nullable=False),
        sa.Column("lease_owner", sa.Uuid(), nullable=True),
        sa.Column("lease_until", _TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_fhir_export_jobs_clinic_id_clinics")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_fhir_export_jobs_requested_by_staff_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_client_id"],
            ["integration_clients.id"],
            name=op.f("fk_fhir_export_jobs_requested_by_client_id_integration_clients"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_export_jobs")),
    )
    with op.batch_alter_table("fhir_export_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fhir_export_jobs_status_created", ["status", "created_at"], unique=False
        )
        batch_op.create_index("ix_fhir_export_jobs_expires_at", ["expires_at"], unique=False)
    # Bulk export reads a clinic's rows in id order a batch at a time; the FHIR Procedure and
    # Task searches without `patient` page a clinic's rows newest first.
    for table, name, columns in _INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade() -> None:
    for table, name, _ in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    # The files of any export are left in the export directory: delete it by hand.
    with op.batch_alter_table("fhir_export_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_fhir_export_jobs_expires_at")
        batch_op.drop_index("ix_fhir_export_jobs_status_created")
    op.drop_table("fhir_export_jobs")
    with op.batch_alter_table("clinics", schema=None) as batch_op:
        batch_op.drop_column("fhir_mrn_system")
