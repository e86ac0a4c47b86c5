"""A patient's enrolled phones: listing them and signing one out (revoking it).

Staff see and revoke the devices of their clinic's patients; the patient sees and revokes
their own. Revoking ends the device and its refresh-token family (credentials/revocation.py,
`revoke_devices`), so the phone is refused at its next request (auth/identity.py).
"""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.core.audit import note_patients
from app.core.deps import Services
from app.core.domain_errors import NotFound
from app.core.models import entity_values
from app.core.security import Principal
from app.credentials.models import PatientDevice
from app.credentials.revocation import revoke_devices
from app.patients.device_schemas import DeviceOut, MyDeviceOut
from app.patients.service import load_patient

REVOKED_BY_STAFF = "revoked by staff"
REVOKED_BY_PATIENT = "revoked by the patient"


def _devices_of(clinic_id: uuid.UUID, patient_id: uuid.UUID) -> Select[tuple[PatientDevice]]:
    # The clinic as well as the patient: every device query is scoped to the caller's tenant.
    return select(PatientDevice).where(
        PatientDevice.clinic_id == clinic_id, PatientDevice.patient_id == patient_id
    )


def _newest_first(query: Select[tuple[PatientDevice]]) -> Select[tuple[PatientDevice]]:
    # No paging: a patient has a handful of phones, one per enrolment.
    return query.order_by(PatientDevice.created_at.desc(), PatientDevice.id.desc())


async def list_patient_devices(
    services: Services, caller: Principal, patient_id: uuid.UUID
) -> list[DeviceOut]:
    async with services.db.read() as session:
        await load_patient(session, caller, patient_id)  # 404 for another clinic's patient
        rows = await session.scalars(_newest_first(_devices_of(caller.clinic_id, patient_id)))
        return [DeviceOut.model_validate(row) for row in rows]


async def list_my_devices(services: Services, caller: Principal) -> list[MyDeviceOut]:
    patient_id = caller.patient_id
    assert patient_id is not None  # PatientDep
    note_patients(patient_id)
    async with services.db.read() as session:
        rows = await session.scalars(_newest_first(_devices_of(caller.clinic_id, patient_id)))
        return [
            MyDeviceOut.model_validate(
                {**entity_values(row, DeviceOut), "current": row.id == caller.session_id}
            )
            for row in rows
        ]


async def revoke_patient_device(
    services: Services, caller: Principal, patient_id: uuid.UUID, device_id: uuid.UUID
) -> None:
    now = services.clock.now()
    async with services.db.write() as session:
        await load_patient(session, caller, patient_id)  # 404 for another clinic's patient
        query = _devices_of(caller.clinic_id, patient_id)
        await _revoke_one(session, query, device_id, REVOKED_BY_STAFF, now)


async def revoke_my_device(services: Services, caller: Principal, device_id: uuid.UUID) -> None:
    """The current device may be revoked too: that signs this phone out."""
    patient_id = caller.patient_id
    assert patient_id is not None  # PatientDep
    now = services.clock.now()
    async with services.db.write() as session:
        query = _devices_of(caller.clinic_id, patient_id)
        await _revoke_one(session, query, device_id, REVOKED_BY_PATIENT, now)


async def _revoke_one(
    session: AsyncSession,
    devices: Select[tuple[PatientDevice]],
    device_id: uuid.UUID,
    reason: str,
    now: datetime,
) -> None:
    """Revokes one of `devices`; 404 if it is not among them (another patient's device is
    indistinguishable from none). Revoking a revoked device is a success that changes
    nothing: its first time and reason stand (the middleware audits the request as a no-op)."""
    device = await session.scalar(devices.where(PatientDevice.id == device_id).with_for_update())
    if device is None:
        raise NotFound("device")
    note_patients(device.patient_id)  # only now: a 404 names no patient, not even the caller
    if device.revoked_at is None:
        await revoke_devices(session, now, reason, PatientDevice.id == device.id)
        await stage(session, now)
