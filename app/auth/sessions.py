"""A staff user's own sessions and password."""

from sqlalchemy import select

from app.audit.record import stage
from app.auth.schemas import PasswordChange, StaffSessionOut
from app.auth.throttling import AccountLockout
from app.core.audit import note_resource
from app.core.deps import Services
from app.core.domain_errors import InvalidField, NotFound
from app.core.models import entity_values
from app.core.security import Principal, hash_password, verify_password
from app.credentials.models import StaffSession
from app.credentials.password_policy import password_weakness
from app.credentials.revocation import end_sessions
from app.staff.models import StaffUser

SESSIONS_SHOWN = 50


async def list_sessions(services: Services, caller: Principal) -> list[StaffSessionOut]:
    """The newest sessions first: the open ones, and recent ended ones for the record."""
    async with services.db.read() as session:
        rows = await session.scalars(
            select(StaffSession)
            .where(StaffSession.user_id == caller.subject_id)
            .order_by(StaffSession.created_at.desc(), StaffSession.id.desc())
            .limit(SESSIONS_SHOWN)
        )
        return [
            StaffSessionOut.model_validate(
                {**entity_values(row, StaffSessionOut), "current": row.id == caller.session_id}
            )
            for row in rows
        ]


async def change_password(services: Services, caller: Principal, body: PasswordChange) -> None:
    """Sets a new password and ends every other session of the user."""
    async with services.db.read() as session:
        user = await session.get(StaffUser, caller.subject_id)
    if user is None:
        raise NotFound("user")
    lockout = AccountLockout(services, user.email)
    await lockout.check()
    if not await verify_password(body.current_password, user.password_hash):
        await lockout.failed()
        raise InvalidField("current_password", "the current password is wrong")
    if body.new_password == body.current_password:
        raise InvalidField("new_password", "must differ from the current password")
    weakness = password_weakness(body.new_password, email=user.email, name=user.name)
    if weakness:
        raise InvalidField("new_password", weakness)
    new_hash = await hash_password(body.new_password)
    now = services.clock.now()
    async with services.db.write() as session:
        user = await session.get_one(
            StaffUser, caller.subject_id, with_for_update={"key_share": True}
        )
        user.password_hash = new_hash
        others = (StaffSession.user_id == caller.subject_id, StaffSession.id != caller.session_id)
        await end_sessions(session, now, "password changed", *others)
        note_resource(caller.subject_id)
        await stage(session, now)
