"""Ending what a token points at: patient devices (for staff, the patient, re-enrolment and a
reused refresh token alike) and staff sessions (logout, password change, deactivation, an
admin's sign-out). Each is one statement; the tokens fail at their next request."""

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.credentials.models import PatientDevice, RefreshToken, StaffSession


async def revoke_devices(
    session: AsyncSession, now: datetime, reason: str, *device_filter: object
) -> None:
    """Revokes the devices matched (and their refresh tokens): their access tokens fail at
    the next request, their refresh tokens at once."""
    revoked = await session.execute(
        update(PatientDevice)
        .where(PatientDevice.revoked_at.is_(None), *device_filter)  # type: ignore[arg-type]
        .values(revoked_at=now, revoked_reason=reason)
        .returning(PatientDevice.id)
    )
    device_ids = list(revoked.scalars())
    if device_ids:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id.in_(device_ids), RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )


async def end_sessions(
    session: AsyncSession, now: datetime, reason: str, *session_filter: object
) -> None:
    """Ends the staff sessions matched that are still open."""
    await session.execute(
        update(StaffSession)
        .where(StaffSession.ended_at.is_(None), *session_filter)  # type: ignore[arg-type]
        .values(ended_at=now, ended_reason=reason)
    )
