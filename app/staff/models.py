import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, uuid_pk
from app.rules.ruleset import LATEST_RULE_SET_VERSION


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # An open alert nobody acknowledged within this long emits alert.escalated (once).
    escalate_emergency_minutes: Mapped[int] = mapped_column(default=15, server_default="15")
    escalate_urgent_minutes: Mapped[int] = mapped_column(default=120, server_default="120")
    # The rule set its reports are judged with (docs/clinical-rules.md). Clinics made before
    # version 2 existed stay on 1 (the server default) until an admin moves them; new ones
    # start on the latest.
    rule_set_version: Mapped[int] = mapped_column(
        default=LATEST_RULE_SET_VERSION, server_default="1"
    )
    # The identifier system of the clinic's MRNs in FHIR (Patient.identifier.system); unset,
    # Aftercare's own (app/fhir). Migration 0011.
    fhir_mrn_system: Mapped[str | None] = mapped_column(String(255))


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"), index=True)
    # Stored lower-cased; unique across clinics because it is the login name.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # Staff are deactivated, never deleted: what they recorded keeps its author.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    deactivated_at: Mapped[datetime | None]
