import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import EnrollmentCode, RefreshToken
from app.auth.schemas import EnrollmentCodeOut, PatientTokens, StaffToken
from app.core.deps import Services
from app.core.errors import Problem, unauthorized
from app.core.security import (
    Principal,
    digest,
    issue_access_token,
    new_enrollment_code,
    new_refresh_token,
    normalize_enrollment_code,
    verify_password,
)
from app.patients.models import Patient
from app.staff.models import StaffUser


async def login_staff(services: Services, email: str, password: str) -> StaffToken:
    async with services.db.read() as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
    if not await verify_password(password, user.password_hash if user else None) or user is None:
        raise unauthorized("wrong email or password")
    lifetime = timedelta(minutes=services.settings.staff_token_minutes)
    principal = Principal(user.id, "admin" if user.role == "admin" else "clinician", user.clinic_id)
    token = issue_access_token(
        principal, key=services.settings.secret_key, now=services.clock.now(), lifetime=lifetime
    )
    return StaffToken(access_token=token, expires_in=int(lifetime.total_seconds()))


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


def _bad_code() -> Problem:
    return Problem(400, "the enrollment code is unknown, used or expired", slug="invalid-code")


async def enroll(services: Services, code: str) -> PatientTokens:
    now = services.clock.now()
    async with services.db.write() as session:
        # Claiming with a conditional UPDATE makes a code single-use under concurrency too.
        claimed = await session.execute(
            update(EnrollmentCode)
            .where(
                EnrollmentCode.code_digest == digest(normalize_enrollment_code(code)),
                EnrollmentCode.used_at.is_(None),
                EnrollmentCode.expires_at > now,
            )
            .values(used_at=now)
            .returning(EnrollmentCode.patient_id)
        )
        patient_id = claimed.scalar_one_or_none()
        if patient_id is None:
            raise _bad_code()
        patient = await session.get_one(Patient, patient_id)
        return await _issue_patient_tokens(session, services, patient, family_id=uuid.uuid4())


async def refresh(services: Services, refresh_token: str) -> PatientTokens:
    now = services.clock.now()
    async with services.db.write() as session:
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_digest == digest(refresh_token))
        )
        if token is None or token.revoked_at is not None or token.expires_at <= now:
            raise unauthorized("the refresh token is invalid or has expired")
        rotated = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
            .values(used_at=now)
        )
        if rotated.rowcount == 1:  # type: ignore[attr-defined]
            patient = await session.get_one(Patient, token.patient_id)
            return await _issue_patient_tokens(session, services, patient, token.family_id)
    # Replay of a rotated token: someone else holds a copy. Revoke the whole family, in its own
    # transaction so the revocation sticks although this request fails.
    async with services.db.write() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == token.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    raise unauthorized("the refresh token was already used; sign in to the app again")


async def _issue_patient_tokens(
    session: AsyncSession, services: Services, patient: Patient, family_id: uuid.UUID
) -> PatientTokens:
    now = services.clock.now()
    settings = services.settings
    raw_refresh = new_refresh_token()
    session.add(
        RefreshToken(
            patient_id=patient.id,
            family_id=family_id,
            token_digest=digest(raw_refresh),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    lifetime = timedelta(minutes=settings.patient_token_minutes)
    principal = Principal(patient.id, "patient", patient.clinic_id, patient.id)
    access = issue_access_token(principal, key=settings.secret_key, now=now, lifetime=lifetime)
    return PatientTokens(
        access_token=access,
        expires_in=int(lifetime.total_seconds()),
        refresh_token=raw_refresh,
        patient_id=patient.id,
    )
