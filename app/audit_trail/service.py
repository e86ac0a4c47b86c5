"""Reading the audit trail: the clinic's events for its admins, and one patient's access log
(who looked at or changed the record, in plain words) for staff and for the patient.

Both page on (at DESC, id DESC) with a row comparison, so a page is one index range scan from
the cursor on: the admin list on ix_audit_events_clinic_at, the access log on
ix_audit_event_patients_patient_at. Names are never in the audit; they are joined in at read
time, so a renamed staff user shows under the new name."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.actions import ACTIONS, OTHER_ACTIONS, UNKNOWN
from app.audit.models import AuditEvent, AuditEventPatient
from app.audit_trail.schemas import AccessLogActor, AccessLogEntry, AuditEventOut
from app.core.audit import note_patients
from app.core.deps import Services
from app.core.models import entity_values
from app.core.pagination import cut_page, decode_time_id_cursor, newer_first_within
from app.core.security import Principal
from app.core.types import Page
from app.credentials.models import PatientDevice
from app.patients.service import load_patient
from app.staff.models import StaffUser

# Actions a patient always sees in their own log, even when their own phone did them.
SECURITY_PREFIXES = ("auth.", "device.")


# Operations that share an action name share its words (tests/test_audit_api.py checks).
_WORDS = {a.name: a.words for a in (*ACTIONS.values(), *OTHER_ACTIONS)}


def action_words(action: str) -> str:
    return _WORDS.get(action, UNKNOWN.words)


@dataclass(frozen=True)
class PageRequest:
    """A page of a newest-first list: `since` inclusive, `until` exclusive."""

    since: datetime | None
    until: datetime | None
    limit: int
    cursor: str | None


def _within(at: Any, row_id: Any, asked: PageRequest) -> list[ColumnElement[bool]]:
    after = decode_time_id_cursor(asked.cursor) if asked.cursor else None
    return newer_first_within(at, row_id, since=asked.since, until=asked.until, after=after)


# The clinic's events (admins).


@dataclass(frozen=True)
class EventFilters:
    patient_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    action: str | None


def _events_query(
    clinic_id: uuid.UUID, filters: EventFilters, asked: PageRequest
) -> Select[tuple[AuditEvent]]:
    query = select(AuditEvent).where(AuditEvent.clinic_id == clinic_id)
    at, row_id = AuditEvent.at, AuditEvent.id
    if filters.patient_id is not None:
        # (event_id, patient_id) is the key: at most one row per event, so no duplicates.
        link = AuditEventPatient
        query = query.join(
            link, and_(link.event_id == AuditEvent.id, link.patient_id == filters.patient_id)
        )
        # The same values, but paging on them walks the patient's index, not the clinic's.
        at, row_id = link.at, link.event_id
    if filters.actor_id is not None:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    query = query.where(*_within(at, row_id, asked))
    return query.order_by(at.desc(), row_id.desc()).limit(asked.limit + 1)


async def _patients_of(
    session: AsyncSession, event_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The patients of a whole page of events, in one query."""
    found: dict[uuid.UUID, list[uuid.UUID]] = {}
    if not event_ids:
        return found
    rows = await session.execute(
        select(AuditEventPatient.event_id, AuditEventPatient.patient_id)
        .where(AuditEventPatient.event_id.in_(event_ids))
        .order_by(AuditEventPatient.event_id, AuditEventPatient.patient_id)
    )
    for event_id, patient_id in rows:
        found.setdefault(event_id, []).append(patient_id)
    return found


def _event_out(event: AuditEvent, patient_ids: list[uuid.UUID]) -> AuditEventOut:
    return AuditEventOut.model_validate(
        {**entity_values(event, AuditEventOut), "patient_ids": patient_ids}
    )


async def list_events(
    services: Services, caller: Principal, filters: EventFilters, asked: PageRequest
) -> Page[AuditEventOut]:
    async with services.db.read() as session:
        rows = list(await session.scalars(_events_query(caller.clinic_id, filters, asked)))
        page, next_cursor = cut_page(rows, asked.limit, lambda e: (e.at.isoformat(), e.id))
        patients = await _patients_of(session, [e.id for e in page])
    items = [_event_out(e, patients.get(e.id, [])) for e in page]
    return Page[AuditEventOut](items=items, next_cursor=next_cursor)


# One patient's access log (staff, and the patient).


def _access_log_query(
    patient_id: uuid.UUID, clinic_id: uuid.UUID, asked: PageRequest, *, for_patient: bool
) -> Select[Any]:
    link = AuditEventPatient
    query = (
        select(
            link.at,
            link.event_id,
            AuditEvent.action,
            AuditEvent.actor_type,
            AuditEvent.actor_id,
            AuditEvent.role,
            AuditEvent.status,
            StaffUser.name.label("staff_name"),
            PatientDevice.id.label("own_device_id"),
            PatientDevice.device_name,
        )
        .select_from(link)
        # The event must be this clinic's too: another clinic's events never show here.
        .join(AuditEvent, and_(AuditEvent.id == link.event_id, AuditEvent.clinic_id == clinic_id))
        .outerjoin(
            StaffUser,
            and_(
                AuditEvent.actor_type == "staff",
                StaffUser.id == AuditEvent.actor_id,
                StaffUser.clinic_id == clinic_id,
            ),
        )
        .outerjoin(
            PatientDevice,
            and_(
                AuditEvent.actor_type == "patient_device",
                PatientDevice.id == AuditEvent.actor_id,
                PatientDevice.patient_id == patient_id,
            ),
        )
        .where(link.patient_id == patient_id, *_within(link.at, link.event_id, asked))
    )
    if for_patient:
        # The app's own routine reads are noise to the patient; its security events are not.
        query = query.where(
            or_(
                PatientDevice.id.is_(None),
                *(AuditEvent.action.startswith(prefix) for prefix in SECURITY_PREFIXES),
            )
        )
    return query.order_by(link.at.desc(), link.event_id.desc()).limit(asked.limit + 1)


def _actor_name(row: Any) -> str:
    if row.actor_type == "staff":
        return str(row.staff_name or "A staff member")
    if row.actor_type == "patient_device":
        name = row.device_name if row.own_device_id is not None else None
        return f"The patient's app ({name})" if name else "The patient's app"
    if row.actor_type == "operator":
        return "An operator"
    if row.actor_type == "integration_client":
        return "An integration client"
    return "Someone not signed in"


def describe(name: str, role: str | None, actor_type: str, action: str, status: int) -> str:
    """ "Dr A. Rivera (clinician) viewed the timeline", with the outcome when it was not done."""
    who = f"{name} ({role})" if actor_type == "staff" and role else name
    text = f"{who} {action_words(action)}"
    if status >= 500:
        return text + " (failed)"
    if status >= 400:
        return text + " (refused)"
    return text


def _entry(row: Any) -> AccessLogEntry:
    name = _actor_name(row)
    return AccessLogEntry(
        at=row.at,
        action=row.action,
        actor=AccessLogActor(type=row.actor_type, id=row.actor_id, name=name, role=row.role),
        status=row.status,
        description=describe(name, row.role, row.actor_type, row.action, row.status),
    )


async def _access_log(
    session: AsyncSession,
    patient_id: uuid.UUID,
    clinic_id: uuid.UUID,
    asked: PageRequest,
    *,
    for_patient: bool,
) -> Page[AccessLogEntry]:
    query = _access_log_query(patient_id, clinic_id, asked, for_patient=for_patient)
    rows = (await session.execute(query)).all()
    page, next_cursor = cut_page(rows, asked.limit, lambda r: (r.at.isoformat(), r.event_id))
    return Page[AccessLogEntry](items=[_entry(r) for r in page], next_cursor=next_cursor)


async def patient_access_log(
    services: Services, caller: Principal, patient_id: uuid.UUID, asked: PageRequest
) -> Page[AccessLogEntry]:
    """For staff: every access to the patient's record. 404 for another clinic's patient."""
    async with services.db.read() as session:
        patient = await load_patient(session, caller, patient_id)  # notes the patient
        return await _access_log(session, patient.id, patient.clinic_id, asked, for_patient=False)


async def my_access_log(
    services: Services, caller: Principal, asked: PageRequest
) -> Page[AccessLogEntry]:
    """For the patient: as staff see it, less their own app's routine requests."""
    assert caller.patient_id is not None  # PatientDep; identity checked the device is theirs
    note_patients(caller.patient_id)
    async with services.db.read() as session:
        return await _access_log(
            session, caller.patient_id, caller.clinic_id, asked, for_patient=True
        )
