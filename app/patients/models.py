import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, uuid_pk


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (
        UniqueConstraint("clinic_id", "mrn"),
        Index("ix_patients_clinic_created", "clinic_id", "created_at", "id"),
        # Bulk export: a clinic's patients in id order, a batch at a time (keyset on id).
        Index("ix_patients_clinic_id_id", "clinic_id", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    mrn: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date | None]
    timezone: Mapped[str] = mapped_column(String(64))
    temperature_unit: Mapped[str] = mapped_column(String(1))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
