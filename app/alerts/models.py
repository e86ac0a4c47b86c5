import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk

ACTIVE = ("open", "acknowledged")


class Alert(Base):
    """A red flag a clinician works: one per (procedure, rule) while open or acknowledged."""

    __tablename__ = "alerts"
    __table_args__ = (
        # The database, not just the code, keeps one active alert per (procedure, rule).
        Index(
            "uq_alerts_active_procedure_rule",
            "procedure_id",
            "rule_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'acknowledged')"),
            postgresql_where=text("status IN ('open', 'acknowledged')"),
        ),
        # The worklist: a clinic's alerts by status, most severe then oldest first.
        Index("ix_alerts_worklist", "clinic_id", "status", "severity_rank", "created_at", "id"),
        Index("ix_alerts_patient_created", "patient_id", "created_at", "id"),
        # Bulk export: a clinic's alerts in id order, a batch at a time (keyset on id).
        Index("ix_alerts_clinic_id_id", "clinic_id", "id"),
        # FHIR Task search without `patient`: the clinic's alerts, newest first, whatever the
        # status (the worklist index leads with status and severity).
        Index("ix_alerts_clinic_created", "clinic_id", "created_at", "id"),
        Index("ix_alerts_escalate_at", "escalate_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    procedure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procedures.id"))
    # The report that first raised it; null for alerts raised by the clock (missed check-in).
    report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reports.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int]
    # The rule set that raised it, or last re-triggered it (1 for alerts from before rule sets
    # were chosen per clinic). Always set by plan_alerts; the default only fills old rows.
    rule_set_version: Mapped[int] = mapped_column(server_default="1")
    severity: Mapped[str] = mapped_column(String(10))
    severity_rank: Mapped[int]  # 0 emergency, 1 urgent, 2 routine: the worklist's sort key
    title: Mapped[str] = mapped_column(String(200))
    explanation: Mapped[list[str]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime]
    last_triggered_at: Mapped[datetime]
    occurrences: Mapped[int]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # Set instead of acknowledged_by / resolved_by when an integration client acted.
    acknowledged_by_client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_clients.id")
    )
    resolved_by_client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_clients.id")
    )
    # When the open alert escalates unless acknowledged first; cleared when it escalates (once)
    # or is acknowledged or resolved. Null for routine alerts.
    escalate_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
