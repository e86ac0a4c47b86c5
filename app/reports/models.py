import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        # The idempotency key: one report per device-made id for a patient.
        UniqueConstraint("patient_id", "client_report_id"),
        Index("ix_reports_procedure_recorded", "procedure_id", "recorded_at", "id"),
        # A patient's timeline, newest first: one range scan whatever other patients hold.
        Index("ix_reports_patient_recorded", "patient_id", "recorded_at", "id"),
        # Bulk export: a clinic's reports in id order, a batch at a time (keyset on id).
        Index("ix_reports_clinic_id_id", "clinic_id", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    # Looked up by ix_reports_clinic_id_id, which starts with it.
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    procedure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procedures.id"))
    client_report_id: Mapped[uuid.UUID]
    # Digest of the normalised request: a replay with another body is a 409.
    request_digest: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
    received_at: Mapped[datetime]
    pain_score: Mapped[int]
    relief_percent: Mapped[int | None]
    relief_ended_at: Mapped[datetime | None]
    temperature_value: Mapped[float | None]
    temperature_unit: Mapped[str | None] = mapped_column(String(1))
    temperature_c: Mapped[float | None]
    # As the patient read it, and converted for the rules (reports.schemas.to_mmol_per_l).
    blood_glucose_value: Mapped[float | None]
    blood_glucose_unit: Mapped[str | None] = mapped_column(String(6))
    blood_glucose_mmol: Mapped[float | None]
    side_effects: Mapped[list[dict[str, str]]] = mapped_column(JSONType)
    notes: Mapped[str | None] = mapped_column(Text)
    # The rule set that judged it: its clinic's at the moment it was stored (1 for reports
    # stored before rule sets were chosen per clinic). Re-judging it later uses this one.
    rule_set_version: Mapped[int] = mapped_column(server_default="1")
    entered_by_staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    # The response first sent for this report, returned verbatim on an idempotent replay.
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
