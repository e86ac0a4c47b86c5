"""A patient's enrolment code: made when the clinic prints one (the patients router), claimed
once by the patient's app at POST /v1/auth/enroll (app/auth/service.py)."""

import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.deps import Services
from app.core.security import Principal, digest, new_enrollment_code, normalize_enrollment_code
from app.core.types import Text
from app.credentials.models import EnrollmentCode


class EnrollmentCodeOut(BaseModel):
    code: Text = Field(description="Shown once; print it as a QR code for the patient's app.")
    expires_at: datetime


async def issue_enrollment_code(
    session: AsyncSession, services: Services, caller: Principal, patient_id: uuid.UUID
) -> EnrollmentCodeOut:
    now = services.clock.now()
    # A fresh code replaces any unused one: only the latest printout works.
    await session.execute(
        update(EnrollmentCode)
        .where(EnrollmentCode.patient_id == patient_id, EnrollmentCode.used_at.is_(None))
        .values(used_at=now)
    )
    code = new_enrollment_code()
    expires_at = now + timedelta(hours=services.settings.enrollment_code_hours)
    session.add(
        EnrollmentCode(
            patient_id=patient_id,
            code_digest=digest(normalize_enrollment_code(code)),
            created_by=caller.subject_id,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return EnrollmentCodeOut(code=code, expires_at=expires_at)
