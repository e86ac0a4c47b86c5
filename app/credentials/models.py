import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, uuid_pk


class EnrollmentCode(Base):
    """A one-time code the clinic prints as a QR code; only its digest is stored."""

    __tablename__ = "enrollment_codes"

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class PatientDevice(Base):
    """One enrolment of the patient's app. Its id is the refresh-token family and the `sid`
    of every access token it is given, so revoking it cuts off both at the next request."""

    __tablename__ = "patient_devices"
    __table_args__ = (Index("ix_patient_devices_patient", "patient_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"))
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    device_name: Mapped[str | None] = mapped_column(String(100))
    platform: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime]
    last_refreshed_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # Why: "re-enrolled", "revoked by staff", "revoked by the patient", "refresh token reused".
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class RefreshToken(Base):
    """Rotating refresh tokens. A token used twice means it was stolen: the whole family
    (the device: every token descended from one enrollment) is revoked."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = uuid_pk()
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patient_devices.id"), index=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class StaffSession(Base):
    """One staff login. Its id is the token's `sid`; every request checks it is still open."""

    __tablename__ = "staff_sessions"
    __table_args__ = (Index("ix_staff_sessions_user", "user_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # "logout", "password changed", "deactivated", "revoked by admin".
    ended_reason: Mapped[str | None] = mapped_column(String(40))
    client_address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(200))
