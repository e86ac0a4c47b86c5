import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, uuid_pk


class AuditEvent(Base):
    """Who did what to which record, and how it ended. Append-only: nothing in the API
    changes or deletes a row, and on both databases triggers refuse UPDATE and any DELETE
    inside the retention period (migration 0007). Never holds names, MRNs, notes, search
    text, passwords or tokens: ids, the route template and the outcome only."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_clinic_at", "clinic_id", "at", "id"),
        Index("ix_audit_events_actor_at", "actor_id", "at", "id"),
        Index("ix_audit_events_at", "at"),  # retention deletes oldest first
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    at: Mapped[datetime]
    clinic_id: Mapped[uuid.UUID | None]
    actor_type: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    resource_type: Mapped[str | None] = mapped_column(String(40))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(8))
    route: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[int]
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))


class AuditEventPatient(Base):
    """The patients an event disclosed or changed: one row each, so "who viewed this
    patient" is one index range scan, lists and searches included."""

    __tablename__ = "audit_event_patients"
    __table_args__ = (Index("ix_audit_event_patients_patient_at", "patient_id", "at", "event_id"),)

    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("audit_events.id"), primary_key=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    at: Mapped[datetime]
