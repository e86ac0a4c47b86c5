import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.auth.oauth import OAuthProblem
from app.auth.schemas import AccessToken, EnrollRequest, PatientTokens
from app.auth.throttling import SignInThrottle
from app.core.audit import (
    current_record,
    note_actor,
    note_patients,
    note_resource,
)
from app.core.deps import Services
from app.core.domain_errors import InvalidEnrollmentCode, NotAuthenticated
from app.core.security import (
    Principal,
    Role,
    digest,
    issue_access_token,
    new_refresh_token,
    normalize_enrollment_code,
    refuse_when_hashing_is_full,
    verify_password,
)
from app.credentials.models import EnrollmentCode, PatientDevice, RefreshToken, StaffSession
from app.credentials.revocation import end_sessions, revoke_devices
from app.patients.models import Patient
from app.staff.models import StaffUser


def _wrong_password() -> OAuthProblem:
    # RFC 6749 5.2: the resource owner's credentials are the grant, so invalid_grant (400).
    return OAuthProblem("invalid_grant", "wrong email or password")


async def login_staff(services: Services, email: str, password: str, address: str) -> AccessToken:
    async with SignInThrottle(services, "token", address, account=email).attempt():
        return await _login_staff(services, email, password)


async def _login_staff(services: Services, email: str, password: str) -> AccessToken:
    refuse_when_hashing_is_full()  # a flood's overflow costs no database read
    async with services.db.read() as session:
        user = await session.scalar(select(StaffUser).where(StaffUser.email == email.lower()))
    session_id = uuid.uuid4()
    if user is not None:  # a sign-in for a known account is theirs, whether or not it succeeds
        role: Role = "admin" if user.role == "admin" else "clinician"
        principal = Principal(user.id, role, user.clinic_id, session_id=session_id)
        note_actor(principal)
    password_ok = await verify_password(password, user.password_hash if user else None)
    if user is None or not password_ok or not user.active:
        raise _wrong_password()
    now = services.clock.now()
    lifetime = timedelta(minutes=services.settings.staff_token_minutes)
    record = current_record()
    staff_session = StaffSession(
        id=session_id,
        user_id=user.id,
        clinic_id=user.clinic_id,
        created_at=now,
        expires_at=now + lifetime,
        client_address=record.client_address if record else None,
        user_agent=record.user_agent if record else None,
    )
    async with services.db.write() as session:
        # The password checked and the user's state, as they are now, under the row lock a
        # password change or deactivation also takes: a sign-in racing either cannot outlive it.
        current = await session.get_one(StaffUser, user.id, with_for_update={"key_share": True})
        if current.password_hash != user.password_hash or not current.active:
            raise _wrong_password()
        session.add(staff_session)
        key = await services.keyring.current(session)
        note_resource(staff_session.id)
        await stage(session, now)
    token = issue_access_token(principal, key=key, now=now, lifetime=lifetime)
    return AccessToken(access_token=token, expires_in=int(lifetime.total_seconds()))


async def logout(services: Services, caller: Principal) -> None:
    now = services.clock.now()
    async with services.db.write() as session:
        await end_sessions(session, now, "logout", StaffSession.id == caller.session_id)
        assert caller.session_id is not None  # every staff token names its session
        note_resource(caller.session_id)
        await stage(session, now)


async def enroll(services: Services, body: EnrollRequest, address: str) -> PatientTokens:
    async with SignInThrottle(services, "enroll", address).attempt():
        return await _enroll(services, body)


async def _enroll(services: Services, body: EnrollRequest) -> PatientTokens:
    now = services.clock.now()
    usable = (
        EnrollmentCode.code_digest == digest(normalize_enrollment_code(body.code)),
        EnrollmentCode.used_at.is_(None),
        EnrollmentCode.expires_at > now,
    )
    # A wrong code is refused after a read: guesses never queue for the write lock that
    # patients' reports need (on SQLite one writer at a time).
    async with services.db.read() as session:
        if await session.scalar(select(EnrollmentCode.id).where(*usable)) is None:
            raise InvalidEnrollmentCode()
    async with services.db.write() as session:
        # Claiming with a conditional UPDATE makes a code single-use under concurrency too.
        claimed = await session.execute(
            update(EnrollmentCode)
            .where(*usable)
            .values(used_at=now)
            .returning(EnrollmentCode.patient_id)
        )
        patient_id = claimed.scalar_one_or_none()
        if patient_id is None:
            raise InvalidEnrollmentCode()
        patient = await session.get_one(Patient, patient_id)
        # A new code, once used, cuts off every earlier phone: re-enrolling is how a lost
        # phone is stopped.
        await revoke_devices(session, now, "re-enrolled", PatientDevice.patient_id == patient.id)
        device = PatientDevice(
            id=uuid.uuid4(),
            patient_id=patient.id,
            clinic_id=patient.clinic_id,
            device_name=body.device_name,
            platform=body.platform,
            created_at=now,
        )
        session.add(device)
        return await _issue_patient_tokens(session, services, patient, device.id)


async def refresh(services: Services, refresh_token: str, address: str) -> PatientTokens:
    async with SignInThrottle(services, "refresh", address).attempt():
        return await _refresh(services, refresh_token)


async def _refresh(services: Services, refresh_token: str) -> PatientTokens:
    now = services.clock.now()
    async with services.db.write() as session:
        token = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_digest == digest(refresh_token))
        )
        if token is None or token.revoked_at is not None or token.expires_at <= now:
            raise NotAuthenticated("the refresh token is invalid or has expired")
        # The device first, locked, as a revocation locks it (then its tokens): one lock
        # order, and a revocation that committed meanwhile is seen here.
        device = await session.get_one(PatientDevice, token.family_id, with_for_update=True)
        if device.revoked_at is not None:
            raise NotAuthenticated("the refresh token is invalid or has expired")
        rotated = await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.id == token.id,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
            )
            .values(used_at=now)
        )
        if rotated.rowcount == 1:  # type: ignore[attr-defined]
            patient = await session.get_one(Patient, token.patient_id)
            device.last_refreshed_at = now
            return await _issue_patient_tokens(session, services, patient, device.id)
    # Replay of a rotated token: someone else holds a copy. Revoke the device, in its own
    # transaction so the revocation sticks although this request fails.
    async with services.db.write() as session:
        device = await session.get_one(PatientDevice, token.family_id)
        note_actor(
            Principal(device.patient_id, "patient", device.clinic_id, device.patient_id, device.id)
        )
        note_patients(device.patient_id)
        note_resource(device.id)
        await revoke_devices(
            session, now, "refresh token reused", PatientDevice.id == token.family_id
        )
        await stage(session, now, status=401)  # the revocation and its event, together
    raise NotAuthenticated("the refresh token was already used; sign in to the app again")


async def _issue_patient_tokens(
    session: AsyncSession, services: Services, patient: Patient, device_id: uuid.UUID
) -> PatientTokens:
    now = services.clock.now()
    settings = services.settings
    raw_refresh = new_refresh_token()
    session.add(
        RefreshToken(
            patient_id=patient.id,
            family_id=device_id,
            token_digest=digest(raw_refresh),
            created_at=now,
            expires_at=now + timedelta(days=settings.refresh_token_days),
        )
    )
    lifetime = timedelta(minutes=settings.patient_token_minutes)
    principal = Principal(patient.id, "patient", patient.clinic_id, patient.id, device_id)
    key = await services.keyring.current(session)
    note_actor(principal)  # the device acts from here on
    note_patients(patient.id)
    note_resource(device_id)
    await stage(session, now)
    access = issue_access_token(principal, key=key, now=now, lifetime=lifetime)
    return PatientTokens(
        access_token=access,
        expires_in=int(lifetime.total_seconds()),
        refresh_token=raw_refresh,
        patient_id=patient.id,
    )
