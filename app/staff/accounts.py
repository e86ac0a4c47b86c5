"""An admin's management of the clinic's staff: list, change, deactivate, end sessions."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.core.deps import Services
from app.core.domain_errors import NotFound, StateConflict, changes_of
from app.core.security import Principal
from app.credentials.models import StaffSession
from app.credentials.revocation import end_sessions
from app.staff.models import Clinic, StaffUser
from app.staff.schemas import StaffOut, StaffUpdate


async def list_staff(services: Services, caller: Principal) -> list[StaffOut]:
    async with services.db.read() as session:
        rows = await session.scalars(
            select(StaffUser)
            .where(StaffUser.clinic_id == caller.clinic_id)
            .order_by(StaffUser.name, StaffUser.id)
        )
        return [StaffOut.model_validate(row) for row in rows]


async def _load(session: AsyncSession, caller: Principal, user_id: uuid.UUID) -> StaffUser:
    user = await session.scalar(
        select(StaffUser)
        .where(StaffUser.id == user_id, StaffUser.clinic_id == caller.clinic_id)
        .with_for_update(key_share=True)
    )
    if user is None:
        raise NotFound("staff user")
    return user


async def _other_active_admins(session: AsyncSession, user: StaffUser) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(
            StaffUser.clinic_id == user.clinic_id,
            StaffUser.role == "admin",
            StaffUser.active.is_(True),
            StaffUser.id != user.id,
        )
    )
    return int(count or 0)


async def update_staff(
    services: Services, caller: Principal, user_id: uuid.UUID, body: StaffUpdate
) -> StaffOut:
    changes = changes_of(body, required=("name", "role", "active"))
    now = services.clock.now()
    async with services.db.write() as session:
        # The clinic row first: two admins demoting each other at once take turns, so the
        # second sees the first's change and the clinic keeps an admin.
        await session.execute(
            select(Clinic.id).where(Clinic.id == caller.clinic_id).with_for_update(key_share=True)
        )
        user = await _load(session, caller, user_id)
        loses_admin = (
            user.role == "admin"
            and user.active
            and (changes.get("role", "admin") != "admin" or changes.get("active", True) is False)
        )
        # A clinic with no active admin could never add staff or undo this again.
        if loses_admin and await _other_active_admins(session, user) == 0:
            raise StateConflict("the clinic's last active admin cannot be demoted or deactivated")
        if changes.get("active") is False and user.active:
            user.deactivated_at = now
            await end_sessions(session, now, "deactivated", StaffSession.user_id == user.id)
        elif changes.get("active") is True:
            user.deactivated_at = None
        for field, value in changes.items():
            setattr(user, field, value)
        await stage(session, now)
        return StaffOut.model_validate(user)


async def end_staff_sessions(services: Services, caller: Principal, user_id: uuid.UUID) -> None:
    now = services.clock.now()
    async with services.db.write() as session:
        user = await _load(session, caller, user_id)
        await end_sessions(session, now, "revoked by admin", StaffSession.user_id == user.id)
        await stage(session, now)
