import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk


class Procedure(Base):
    """One lumbar sympathetic block."""

    __tablename__ = "procedures"
    __table_args__ = (
        UniqueConstraint("patient_id", "sequence_number"),
        Index("ix_procedures_patient_performed", "patient_id", "performed_at", "id"),
        Index("ix_procedures_no_relief_due", "no_relief_checked_at", "performed_at"),
        # Bulk export: a clinic's blocks in id order, a batch at a time (keyset on id).
        Index("ix_procedures_clinic_id_id", "clinic_id", "id"),
        # FHIR Procedure search without `patient`: the clinic's blocks, latest performed first.
        Index("ix_procedures_clinic_performed", "clinic_id", "performed_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"), index=True)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    sequence_number: Mapped[int]
    performed_at: Mapped[datetime]
    side: Mapped[str] = mapped_column(String(10))
    levels: Mapped[list[str]] = mapped_column(JSONType)
    indication: Mapped[str] = mapped_column(String(20))
    baseline_pain: Mapped[int]
    baseline_symptoms: Mapped[list[str]] = mapped_column(JSONType)
    anesthetic: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    steroid: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    sedation: Mapped[bool]
    notes: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime]
    # Set once the 14-day no_relief check has run for this block (raised or not).
    no_relief_checked_at: Mapped[datetime | None]
    # Bumped by the database (triggers, migration 20261202_0012) on every change to the block
    # or to any of its reports, alerts and check-ins: the key of its cached views
    # (app/core/view_cache.py). Never written by the application.
    revision: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


def included_steroid(steroid: object) -> bool:
    """Whether a block included a steroid, from its stored `steroid` (the drug and dose, or
    None): the one definition the rules, the relief figures and the dry run all use. A JSON
    column may hold "no steroid" as JSON null, which reads back as None too, so this is
    decided on the value read, not in SQL."""
    return steroid is not None
