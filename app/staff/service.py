import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.actions import ACTIONS, CHANGE_RULE_SET
from app.audit.record import insert_operator_event, stage
from app.core.audit import note_patients, note_resource
from app.core.deps import Services
from app.core.domain_errors import AlreadyExists, NotFound, changes_of
from app.core.security import Principal, hash_password
from app.rules.ruleset import RuleSet, rule_set
from app.staff.models import Clinic, StaffUser
from app.staff.schemas import ClinicOut, ClinicUpdate, Me, StaffCreate
from app.staff.statements import me_statement


async def create_clinic_with_admin(
    services: Services, *, clinic_name: str, email: str, password: str, name: str
) -> tuple[Clinic, StaffUser]:
    password_hash = await hash_password(password)
    now = services.clock.now()
    async with services.db.write() as session:
        if await _email_taken(session, email):
            raise AlreadyExists("a staff user with this email already exists")
        clinic = Clinic(id=uuid.uuid4(), name=clinic_name, created_at=now)
        admin = StaffUser(
            id=uuid.uuid4(),
            clinic_id=clinic.id,
            email=email.lower(),
            name=name,
            role="admin",
            password_hash=password_hash,
            created_at=now,
        )
        session.add(clinic)
        await session.flush()
        session.add(admin)
        # Made from the command line: the clinic's trail starts with who its first admin is.
        action = ACTIONS["create_staff_user"]
        await insert_operator_event(session, action, str(admin.id), now, clinic.id)
    return clinic, admin


async def _email_taken(session: AsyncSession, email: str) -> bool:
    found = await session.scalar(select(StaffUser.id).where(StaffUser.email == email.lower()))
    return found is not None


async def create_staff(services: Services, caller: Principal, body: StaffCreate) -> StaffUser:
    password_hash = await hash_password(body.password)
    user = StaffUser(
        id=uuid.uuid4(),
        clinic_id=caller.clinic_id,
        email=str(body.email).lower(),
        name=body.name,
        role=body.role,
        password_hash=password_hash,
        created_at=services.clock.now(),
    )
    try:
        async with services.db.write() as session:
            if await _email_taken(session, user.email):
                raise AlreadyExists("a staff user with this email already exists")
            session.add(user)
            note_resource(user.id)
            await stage(session, user.created_at)
    except IntegrityError as exc:  # a concurrent insert won the race
        raise AlreadyExists("a staff user with this email already exists") from exc
    return user


async def describe_caller(services: Services, caller: Principal) -> Me:
    for_patient = caller.patient_id is not None
    subject_id = caller.patient_id if for_patient else caller.subject_id
    params = {"subject_id": subject_id, "clinic_id": caller.clinic_id}
    row = await services.db.lookup_row(me_statement(for_patient), params)
    if row is None:
        raise NotFound("user")
    if for_patient:
        note_patients(row.id)
    return Me(
        id=row.id,
        role="patient" if for_patient else caller.role,
        clinic_id=caller.clinic_id,
        clinic_name=row.clinic_name,
        name=row.name,
        email=None if for_patient else row.email,
        patient_id=row.id if for_patient else None,
    )


async def _clinic(session: AsyncSession, caller: Principal, *, for_update: bool = False) -> Clinic:
    clinic = await session.get(
        Clinic, caller.clinic_id, with_for_update={"key_share": True} if for_update else None
    )
    if clinic is None:
        raise NotFound("clinic")
    return clinic


async def clinic_rule_set(session: AsyncSession, clinic_id: uuid.UUID) -> RuleSet:
    """The rule set the clinic runs now (404 "clinic" for none): the one read of
    `clinics.rule_set_version` for everything that is not already reading the clinic's row
    (report judging and the clock read it with the block, in one statement)."""
    version = await session.scalar(select(Clinic.rule_set_version).where(Clinic.id == clinic_id))
    if version is None:
        raise NotFound("clinic")
    return rule_set(version)


async def get_clinic(services: Services, caller: Principal) -> ClinicOut:
    async with services.db.read() as session:
        return ClinicOut.model_validate(await _clinic(session, caller))


async def update_clinic(services: Services, caller: Principal, body: ClinicUpdate) -> ClinicOut:
    changes = changes_of(
        body,
        required=("escalate_emergency_minutes", "escalate_urgent_minutes", "rule_set_version"),
    )
    async with services.db.write() as session:
        # Locked: of two admins switching at once, the second sees the first's version.
        clinic = await _clinic(session, caller, for_update=True)
        action = None
        new_version = changes.get("rule_set_version", clinic.rule_set_version)
        if new_version != clinic.rule_set_version:
            # A safety event of its own: its own action, and the version moved to as the
            # event's resource (a rule set, by version: no patient data).
            action = CHANGE_RULE_SET
            note_resource(str(new_version))
        for field, value in changes.items():
            setattr(clinic, field, value)
        await stage(session, services.clock.now(), action=action)
        return ClinicOut.model_validate(clinic)
