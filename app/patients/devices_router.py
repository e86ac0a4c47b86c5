"""A patient's enrolled phones: staff manage their patients' phones, a patient their own."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.core.deps import PatientDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.patients import devices
from app.patients.device_schemas import DeviceOut, MyDeviceOut

router = APIRouter(prefix="/v1", tags=["devices"])

PatientIdPath = Annotated[
    uuid.UUID, Path(description="The patient's id. Another clinic's patient is a 404.")
]
DeviceIdPath = Annotated[
    uuid.UUID,
    Path(description="The phone's id, from the device list. Another patient's phone is a 404."),
]


_REVOKE_DESCRIPTION = (
    "The phone's access token is refused from its next request and its refresh tokens at "
    "once; the patient signs it in again with a new enrollment code. Revoking a revoked "
    "phone succeeds and changes nothing (the first revocation's time and reason stand)."
)


@router.get(
    "/patients/{patient_id}/devices",
    operation_id="list_patient_devices",
    summary="The patient's enrolled phones, newest first, revoked ones included",
    description="For clinic staff. Each enrolment of the patient's app: the name and platform "
    "the app gave, when it enrolled and last renewed its sign-in, and, once revoked, when "
    "and why. Not paged.",
    response_model=list[DeviceOut],
    responses=problem_responses(401, 403, 404, 422),
)
async def list_patient_devices(
    services: ServicesDep, caller: StaffDep, patient_id: PatientIdPath
) -> list[DeviceOut]:
    return await devices.list_patient_devices(services, caller, patient_id)


@router.delete(
    "/patients/{patient_id}/devices/{device_id}",
    operation_id="revoke_patient_device",
    summary="Sign one of the patient's phones out (revoke it)",
    description=_REVOKE_DESCRIPTION,
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_patient_device(
    services: ServicesDep, caller: StaffDep, patient_id: PatientIdPath, device_id: DeviceIdPath
) -> Response:
    await devices.revoke_patient_device(services, caller, patient_id, device_id)
    return Response(status_code=204)


@router.get(
    "/me/devices",
    operation_id="list_my_devices",
    summary="The calling patient's phones, newest first; `current` marks this one",
    description="For the patient's app only (staff get 403): every phone enrolled for this "
    "patient, revoked ones included, so the patient can spot one they do not recognise and "
    "sign it out. Not paged.",
    response_model=list[MyDeviceOut],
    responses=problem_responses(401, 403),
)
async def list_my_devices(services: ServicesDep, caller: PatientDep) -> list[MyDeviceOut]:
    return await devices.list_my_devices(services, caller)


@router.delete(
    "/me/devices/{device_id}",
    operation_id="revoke_my_device",
    summary="Sign one of the calling patient's phones out; this one included",
    description=_REVOKE_DESCRIPTION,
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_my_device(
    services: ServicesDep, caller: PatientDep, device_id: DeviceIdPath
) -> Response:
    await devices.revoke_my_device(services, caller, device_id)
    return Response(status_code=204)
