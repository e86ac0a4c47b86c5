"""A patient's enrolled phones: staff and the patient list them and sign one out."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEvent, AuditEventPatient
from app.credentials.models import PatientDevice, RefreshToken
from tests.helpers import Actor, Api
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Phone:
    device_id: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def _enroll(
    api: Api, staff: Actor, patient_id: str, name: str = "Phone", platform: str = "ios"
) -> Phone:
    """Through the real API, keeping the refresh token (Api.enroll returns only access)."""
    code = await api.client.post(
        f"/v1/patients/{patient_id}/enrollment-codes", headers=staff.headers
    )
    assert code.status_code == 201, code.text
    tokens = await api.client.post(
        "/v1/auth/enroll",
        json={"code": code.json()["code"], "device_name": name, "platform": platform},
    )
    assert tokens.status_code == 200, tokens.text
    access, refresh = tokens.json()["access_token"], tokens.json()["refresh_token"]
    mine = await api.client.get("/v1/me/devices", headers={"Authorization": f"Bearer {access}"})
    assert mine.status_code == 200, mine.text
    (current,) = [d for d in mine.json() if d["current"]]
    return Phone(current["id"], access, refresh)


async def _two_live_phones(api: Api, staff: Actor, patient_id: str) -> tuple[Phone, Phone]:
    """Two phones both signed in. Enrolling with a new code signs earlier phones out
    ("re-enrolled"), so the first one is put back as it was before the second enrolled:
    these tests are about revoking one phone among several live ones."""
    first = await _enroll(api, staff, patient_id, "Old phone", "android")
    api.clock.advance(timedelta(minutes=5))
    second = await _enroll(api, staff, patient_id, "New phone", "ios")
    async with api.db.write() as session:
        device_id = uuid.UUID(first.device_id)
        await session.execute(
            update(PatientDevice)
            .where(PatientDevice.id == device_id, PatientDevice.revoked_reason == "re-enrolled")
            .values(revoked_at=None, revoked_reason=None)
        )
        await session.execute(
            update(RefreshToken).where(RefreshToken.family_id == device_id).values(revoked_at=None)
        )
    return first, second


async def _new_patient(api: Api) -> str:
    return str((await api.create_patient(api.world.a.clinician))["id"])


async def _signed_in(api: Api, phone: Phone) -> bool:
    return (await api.client.get("/v1/me", headers=phone.headers)).status_code == 200


async def _refresh(api: Api, phone: Phone) -> int:
    response = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": phone.refresh_token}
    )
    return response.status_code


async def _staff_list(api: Api, patient_id: str, staff: Actor | None = None) -> list[Any]:
    staff = staff or api.world.a.clinician
    response = await api.client.get(f"/v1/patients/{patient_id}/devices", headers=staff.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def _by_id(devices: list[Any]) -> dict[str, Any]:
    return {d["id"]: d for d in devices}


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


async def test_staff_list_the_patients_phones_newest_first(api: Api) -> None:
    patient_id = await _new_patient(api)
    assert await _staff_list(api, patient_id) == []
    first, second = await _two_live_phones(api, api.world.a.clinician, patient_id)

    devices = await _staff_list(api, patient_id, api.world.a.admin)

    assert [d["id"] for d in devices] == [second.device_id, first.device_id]
    assert devices[0]["device_name"] == "New phone" and devices[0]["platform"] == "ios"
    assert devices[1]["device_name"] == "Old phone" and devices[1]["platform"] == "android"
    assert _at(devices[0]["created_at"]) == api.clock.now()
    assert _at(devices[1]["created_at"]) == api.clock.now() - timedelta(minutes=5)
    assert all(d["revoked_at"] is None and d["revoked_reason"] is None for d in devices)
    assert "current" not in devices[0]  # staff have no phone of their own


async def test_staff_revoking_a_phone_cuts_off_that_phone_alone(api: Api) -> None:
    patient_id = await _new_patient(api)
    first, second = await _two_live_phones(api, api.world.a.clinician, patient_id)
    api.clock.advance(timedelta(minutes=1))

    response = await api.client.delete(
        f"/v1/patients/{patient_id}/devices/{first.device_id}", headers=api.world.a.admin.headers
    )

    assert response.status_code == 204 and response.content == b""
    assert not await _signed_in(api, first)
    assert await _refresh(api, first) == 401
    assert await _signed_in(api, second)
    assert await _refresh(api, second) == 200
    devices = _by_id(await _staff_list(api, patient_id))
    assert _at(devices[first.device_id]["revoked_at"]) == api.clock.now()
    assert devices[first.device_id]["revoked_reason"] == "revoked by staff"
    assert devices[second.device_id]["revoked_at"] is None


async def test_a_revoked_phones_refresh_tokens_are_all_revoked(api: Api) -> None:
    patient_id = await _new_patient(api)
    phone = await _enroll(api, api.world.a.clinician, patient_id)
    rotated = await api.client.post("/v1/auth/refresh", json={"refresh_token": phone.refresh_token})
    assert rotated.status_code == 200, rotated.text
    fresh = Phone(phone.device_id, rotated.json()["access_token"], rotated.json()["refresh_token"])

    response = await api.client.delete(
        f"/v1/patients/{patient_id}/devices/{phone.device_id}",
        headers=api.world.a.clinician.headers,
    )

    assert response.status_code == 204
    assert not await _signed_in(api, fresh)
    assert await _refresh(api, fresh) == 401
    async with api.db.read() as session:
        tokens = list(
            await session.scalars(
                select(RefreshToken).where(RefreshToken.family_id == uuid.UUID(phone.device_id))
            )
        )
    assert len(tokens) == 2 and all(t.revoked_at is not None for t in tokens)


async def test_revoking_a_revoked_phone_is_204_and_keeps_the_first_revocation(api: Api) -> None:
    patient_id = await _new_patient(api)
    first, second = await _two_live_phones(api, api.world.a.clinician, patient_id)
    url = f"/v1/patients/{patient_id}/devices/{first.device_id}"
    assert (await api.client.delete(url, headers=api.world.a.admin.headers)).status_code == 204
    revoked_at = api.clock.now()
    api.clock.advance(timedelta(minutes=10))  # within the access token's 15 minutes

    again = await api.client.delete(url, headers=api.world.a.clinician.headers)
    by_patient = await api.client.delete(
        f"/v1/me/devices/{first.device_id}", headers=second.headers
    )

    assert again.status_code == 204 and by_patient.status_code == 204
    device = _by_id(await _staff_list(api, patient_id))[first.device_id]
    assert _at(device["revoked_at"]) == revoked_at
    assert device["revoked_reason"] == "revoked by staff"
    assert await _signed_in(api, second)


async def test_a_patient_lists_their_phones_with_the_current_one_marked(api: Api) -> None:
    patient_id = await _new_patient(api)
    first, second = await _two_live_phones(api, api.world.a.clinician, patient_id)

    from_second = (await api.client.get("/v1/me/devices", headers=second.headers)).json()
    from_first = (await api.client.get("/v1/me/devices", headers=first.headers)).json()

    assert [(d["id"], d["current"]) for d in from_second] == [
        (second.device_id, True),
        (first.device_id, False),
    ]
    assert [(d["id"], d["current"]) for d in from_first] == [
        (second.device_id, False),
        (first.device_id, True),
    ]
    assert from_second[0]["device_name"] == "New phone"


async def test_a_patient_signs_out_another_phone_then_this_one(api: Api) -> None:
    patient_id = await _new_patient(api)
    first, second = await _two_live_phones(api, api.world.a.clinician, patient_id)

    other = await api.client.delete(f"/v1/me/devices/{first.device_id}", headers=second.headers)

    assert other.status_code == 204
    assert not await _signed_in(api, first)
    assert await _refresh(api, first) == 401
    assert await _signed_in(api, second)
    device = _by_id(await _staff_list(api, patient_id))[first.device_id]
    assert device["revoked_reason"] == "revoked by the patient"

    this = await api.client.delete(f"/v1/me/devices/{second.device_id}", headers=second.headers)

    assert this.status_code == 204
    assert not await _signed_in(api, second)
    assert await _refresh(api, second) == 401


async def test_another_clinics_staff_get_404_and_change_nothing(api: Api) -> None:
    patient_id = await _new_patient(api)
    phone = await _enroll(api, api.world.a.clinician, patient_id)
    outsider = api.world.b.admin

    listed = await api.client.get(f"/v1/patients/{patient_id}/devices", headers=outsider.headers)
    revoked = await api.client.delete(
        f"/v1/patients/{patient_id}/devices/{phone.device_id}", headers=outsider.headers
    )
    nobody = await api.client.get(f"/v1/patients/{uuid.uuid4()}/devices", headers=outsider.headers)

    assert listed.status_code == revoked.status_code == 404
    assert listed.content == nobody.content  # indistinguishable from a patient that is not there
    assert await _signed_in(api, phone)


async def test_unknown_device_or_another_patients_is_404(api: Api) -> None:
    patient_id, other_patient_id = await _new_patient(api), await _new_patient(api)
    phone = await _enroll(api, api.world.a.clinician, patient_id)
    others_phone = await _enroll(api, api.world.a.clinician, other_patient_id)
    staff = api.world.a.clinician.headers

    unknown = await api.client.delete(
        f"/v1/patients/{patient_id}/devices/{uuid.uuid4()}", headers=staff
    )
    wrong_patient = await api.client.delete(
        f"/v1/patients/{patient_id}/devices/{others_phone.device_id}", headers=staff
    )
    by_patient = await api.client.delete(
        f"/v1/me/devices/{others_phone.device_id}", headers=phone.headers
    )

    assert unknown.status_code == wrong_patient.status_code == by_patient.status_code == 404
    assert unknown.json()["detail"] == "device not found"
    assert unknown.content == wrong_patient.content == by_patient.content
    assert await _signed_in(api, others_phone)


async def test_patients_are_403_on_the_staff_routes_and_staff_on_the_patients(api: Api) -> None:
    patient_id, other_patient_id = await _new_patient(api), await _new_patient(api)
    phone = await _enroll(api, api.world.a.clinician, patient_id)
    staff = api.world.a.clinician.headers

    responses = [
        await api.client.get(f"/v1/patients/{other_patient_id}/devices", headers=phone.headers),
        await api.client.get(f"/v1/patients/{patient_id}/devices", headers=phone.headers),
        await api.client.delete(
            f"/v1/patients/{patient_id}/devices/{phone.device_id}", headers=phone.headers
        ),
        await api.client.get("/v1/me/devices", headers=staff),
        await api.client.delete(f"/v1/me/devices/{phone.device_id}", headers=staff),
    ]

    for response in responses:
        assert_problem(response, 403)
    assert await _signed_in(api, phone)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/patients/{patient}/devices"),
        ("DELETE", "/v1/patients/{patient}/devices/{device}"),
        ("GET", "/v1/me/devices"),
        ("DELETE", "/v1/me/devices/{device}"),
    ],
)
async def test_without_a_token_is_401(api: Api, method: str, path: str) -> None:
    url = path.format(patient=uuid.uuid4(), device=uuid.uuid4())
    assert (await api.client.request(method, url)).status_code == 401


async def test_a_malformed_device_id_is_422(api: Api) -> None:
    patient_id = await _new_patient(api)
    response = await api.client.delete(
        f"/v1/patients/{patient_id}/devices/not-a-uuid", headers=api.world.a.clinician.headers
    )
    assert response.status_code == 422


async def test_a_revocation_is_audited_once_with_the_patient(api: Api) -> None:
    patient_id = await _new_patient(api)
    first, second = await _two_live_phones(api, api.world.a.clinician, patient_id)
    admin = api.world.a.admin
    url = f"/v1/patients/{patient_id}/devices/{first.device_id}"
    assert (await api.client.delete(url, headers=admin.headers)).status_code == 204
    assert (
        await api.client.delete(f"/v1/me/devices/{second.device_id}", headers=second.headers)
    ).status_code == 204

    async with api.db.read() as session:
        events = list(
            await session.scalars(
                select(AuditEvent)
                .join(AuditEventPatient, AuditEventPatient.event_id == AuditEvent.id)
                .where(
                    AuditEventPatient.patient_id == uuid.UUID(patient_id),
                    AuditEvent.action == "device.revoke",
                )
                .order_by(AuditEvent.at, AuditEvent.actor_type.desc())
            )
        )
    assert [(e.actor_type, e.actor_id, e.resource_id, e.status) for e in events] == [
        ("staff", admin.id, first.device_id, 204),
        ("patient_device", uuid.UUID(second.device_id), second.device_id, 204),
    ]
