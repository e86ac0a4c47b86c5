import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
)


class FhirExportJob(Base):
    """One FHIR Bulk Data export ($export): its request, where the worker has got to, and
    what it wrote. The files live in <export_dir>/<id>/; the row and the files go together
    when the job expires or is cancelled."""

    __tablename__ = "fhir_export_jobs"
    __table_args__ = (
        # The worker's claim: the oldest queued job, or a running one whose lease ran out.
        Index("ix_fhir_export_jobs_status_created", "status", "created_at"),
        Index("ix_fhir_export_jobs_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    actor_type: Mapped[str] = mapped_column(String(20))
    requested_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    requested_by_client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_clients.id")
    )
    types: Mapped[list[str]] = mapped_column(JSONType)
    since: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(12))
    # Counts only ("Observation: 12000 written"): never patient data.
    progress: Mapped[str | None] = mapped_column(String(200))
    # The kick-off URL as the client sent it (the manifest's `request`).
    request: Mapped[str] = mapped_column(Text)
    # Rows changed after this are left for the next export with _since (the manifest's
    # transactionTime; the worker filters on it, ExportType.unchanged_after); it is the
    # kick-off's time.
    transaction_time: Mapped[datetime]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    # Null until the job completes or fails (then that instant + the retention): a job still
    # queued or being written never expires under its worker.
    expires_at: Mapped[datetime | None]
    # A fixed sentence, never an exception's text (which can quote row values).
    error: Mapped[str | None] = mapped_column(String(500))
    # Where the worker has got to: the type being written, the last source id written, and
    # per type the resources and bytes written so far ({"type", "after", "files": {...}}).
    # A worker that dies mid-job leaves this; the next resumes from it, cutting each file
    # back to the bytes recorded here.
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONType)
    lease_owner: Mapped[uuid.UUID | None]
    lease_until: Mapped[datetime | None]
