"""Reading the audit trail: the clinic's events for admins (/v1/audit-events) and a patient's
access log in plain words, for staff (/v1/patients/{id}/access-log) and for the patient
(/v1/me/access-log). Each test works in a clinic of its own."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Actor, Api, ClinicActors

pytestmark = pytest.mark.anyio

DEVICE = "Jordan's iPhone"
TIMELINE_ROUTE = "/v1/patients/{patient_id}/timeline"


async def named_clinic(api: Api) -> ClinicActors:
    """A fresh clinic whose clinician is called Dr A. Rivera."""
    clinic = await api.new_clinic()
    renamed = await api.client.patch(
        f"/v1/staff/{clinic.clinician.id}",
        json={"name": "Dr A. Rivera"},
        headers=clinic.admin.headers,
    )
    assert renamed.status_code == 200, renamed.text
    return clinic


async def enroll(api: Api, clinic: ClinicActors, patient_id: str) -> Actor:
    """The patient's app, enrolled the real way with a device name."""
    code = await api.client.post(
        f"/v1/patients/{patient_id}/enrollment-codes", headers=clinic.clinician.headers
    )
    assert code.status_code == 201, code.text
    tokens = await api.client.post(
        "/v1/auth/enroll", json={"code": code.json()["code"], "device_name": DEVICE}
    )
    assert tokens.status_code == 200, tokens.text
    pid = uuid.UUID(patient_id)
    return Actor(pid, "patient", clinic.clinic_id, tokens.json()["access_token"], patient_id=pid)


async def get_ok(api: Api, path: str, actor: Actor, **params: Any) -> dict[str, Any]:
    response = await api.client.get(path, params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def walk(api: Api, path: str, actor: Actor, **params: Any) -> list[dict[str, Any]]:
    """Every item of a paged list, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await get_ok(api, path, actor, **params, **({"cursor": cursor} if cursor else {}))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def view_timeline(api: Api, actor: Actor, patient_id: str) -> str:
    response = await api.client.get(f"/v1/patients/{patient_id}/timeline", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"]


async def test_a_clinicians_read_is_in_the_audit_and_both_access_logs(api: Api) -> None:
    clinic = await named_clinic(api)
    patient = await api.create_patient(clinic.clinician)
    other = await api.create_patient(clinic.clinician)
    app = await enroll(api, clinic, patient["id"])
    request_id = await view_timeline(api, clinic.clinician, patient["id"])
    # The patient's app reads its own record (routine), and a change is refused (409).
    assert (await api.client.get(f"/v1/patients/{patient['id']}", headers=app.headers)).is_success
    clash = await api.client.patch(
        f"/v1/patients/{patient['id']}",
        json={"mrn": other["mrn"]},
        headers=clinic.clinician.headers,
    )
    assert clash.status_code == 409, clash.text

    events = await walk(api, "/v1/audit-events", clinic.admin, patient_id=patient["id"])
    (read,) = [e for e in events if e["request_id"] == request_id]
    assert read["actor_type"] == "staff" and read["actor_id"] == str(clinic.clinician.id)
    assert (read["role"], read["action"], read["status"]) == ("clinician", "timeline.read", 200)
    assert (read["method"], read["route"]) == ("GET", TIMELINE_ROUTE)
    assert (read["resource_type"], read["resource_id"]) == ("patient", patient["id"])
    assert read["patient_ids"] == [patient["id"]]
    assert all(patient["id"] in e["patient_ids"] for e in events)

    staff_view = [
        e["description"]
        for e in await walk(api, f"/v1/patients/{patient['id']}/access-log", clinic.admin)
    ]
    assert "Dr A. Rivera (clinician) viewed the timeline" in staff_view
    assert "Dr A. Rivera (clinician) changed the patient's details (refused)" in staff_view
    assert f"The patient's app ({DEVICE}) viewed the patient's details" in staff_view

    mine = await walk(api, "/v1/me/access-log", app)
    (entry,) = [e for e in mine if e["action"] == "timeline.read"]
    assert entry["description"] == "Dr A. Rivera (clinician) viewed the timeline"
    assert entry["actor"] == {
        "type": "staff",
        "id": str(clinic.clinician.id),
        "name": "Dr A. Rivera",
        "role": "clinician",
    }
    descriptions = [e["description"] for e in mine]
    # The app's own routine reads are left out; its enrolment (a security event) is not.
    assert f"The patient's app ({DEVICE}) viewed the patient's details" not in descriptions
    assert f"The patient's app ({DEVICE}) enrolled a phone" in descriptions
    again = await walk(api, "/v1/me/access-log", app)  # after the app read it once
    reads = [e["actor"]["type"] for e in again if e["action"] == "access_log.read"]
    assert reads == ["staff"]  # the admin's read above; never the app's own


async def test_another_clinic_sees_none_of_it(api: Api) -> None:
    clinic = await named_clinic(api)
    patient = await api.create_patient(clinic.clinician)
    await view_timeline(api, clinic.clinician, patient["id"])
    stranger = await api.new_clinic()

    filtered = await get_ok(api, "/v1/audit-events", stranger.admin, patient_id=patient["id"])
    assert filtered["items"] == []
    theirs = await walk(api, "/v1/audit-events", stranger.admin, limit=200)
    ours = {str(a.id) for a in (clinic.admin, clinic.clinician)}
    assert not [e for e in theirs if e["actor_id"] in ours or patient["id"] in e["patient_ids"]]
    for actor in (stranger.admin, stranger.clinician):
        refused = await api.client.get(
            f"/v1/patients/{patient['id']}/access-log", headers=actor.headers
        )
        assert refused.status_code == 404, refused.text


async def test_pages_walk_every_event_once(api: Api) -> None:
    clinic = await named_clinic(api)
    patient = await api.create_patient(clinic.clinician)
    for step in range(7):
        if step % 3 == 0:  # some events share a timestamp: ties are broken by id
            api.clock.advance(timedelta(seconds=1))
        await view_timeline(api, clinic.clinician, patient["id"])
    api.clock.advance(timedelta(minutes=1))
    # Events written while walking are at `until` or later: both walks see the same events.
    until = api.clock.now().isoformat()
    for path in ("/v1/audit-events", f"/v1/patients/{patient['id']}/access-log"):
        everything = (await get_ok(api, path, clinic.admin, limit=200, until=until))["items"]
        paged = await walk(api, path, clinic.admin, limit=2, until=until)
        assert paged == everything
        keys = [(datetime.fromisoformat(e["at"]), e.get("id", "")) for e in paged]
        assert len(everything) >= 8 and keys == sorted(keys, reverse=True)
    ids = [e["id"] for e in await walk(api, "/v1/audit-events", clinic.admin, until=until)]
    assert len(ids) == len(set(ids))


async def test_filters(api: Api) -> None:
    clinic = await named_clinic(api)
    patient = await api.create_patient(clinic.clinician)
    api.clock.advance(timedelta(minutes=1))
    t1 = api.clock.now()
    await view_timeline(api, clinic.clinician, patient["id"])
    api.clock.advance(timedelta(minutes=1))
    t2 = api.clock.now()
    await get_ok(api, f"/v1/patients/{patient['id']}", clinic.admin)
    api.clock.advance(timedelta(minutes=1))
    t3 = api.clock.now()
    await view_timeline(api, clinic.clinician, patient["id"])
    api.clock.advance(timedelta(minutes=1))

    async def events(**params: Any) -> list[tuple[datetime, str, str]]:
        found = await walk(api, "/v1/audit-events", clinic.admin, **params)
        return [(datetime.fromisoformat(e["at"]), e["action"], e["actor_id"]) for e in found]

    clinician, admin = str(clinic.clinician.id), str(clinic.admin.id)
    window = {"since": t1.isoformat(), "until": (t3 + timedelta(seconds=1)).isoformat()}
    assert await events(**window) == [
        (t3, "timeline.read", clinician),
        (t2, "patient.read", admin),
        (t1, "timeline.read", clinician),
    ]
    assert await events(action="timeline.read", **window) == [
        (t3, "timeline.read", clinician),
        (t1, "timeline.read", clinician),
    ]
    assert await events(actor_id=admin, **window) == [(t2, "patient.read", admin)]
    # `since` is inclusive, `until` exclusive.
    assert [a for a, _, _ in await events(since=t2.isoformat(), until=t3.isoformat())] == [t2]
    before_t1 = (t1 - timedelta(seconds=30)).isoformat()
    assert await events(action="timeline.read", since=before_t1, until=t1.isoformat()) == []

    log = await walk(
        api,
        f"/v1/patients/{patient['id']}/access-log",
        clinic.clinician,
        since=t2.isoformat(),
        until=t3.isoformat(),
    )
    assert [e["action"] for e in log] == ["patient.read"]

    paths = ("/v1/audit-events", f"/v1/patients/{patient['id']}/access-log")
    for path, until in ((p, u) for p in paths for u in (t1, t2)):  # until <= since
        empty = await api.client.get(
            path,
            params={"since": t2.isoformat(), "until": until.isoformat()},
            headers=clinic.admin.headers,
        )
        assert empty.status_code == 422, empty.text
        assert empty.json()["errors"][0]["loc"] == ["query", "until"]
    bad_cursor = await api.client.get(
        "/v1/audit-events", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=clinic.admin.headers
    )
    assert bad_cursor.status_code == 400, bad_cursor.text


async def test_who_may_read_what(api: Api) -> None:
    clinic = api.world.a
    patient_id = str(clinic.patient.id)
    for actor in (clinic.clinician, clinic.patient):
        refused = await api.client.get("/v1/audit-events", headers=actor.headers)
        assert refused.status_code == 403, refused.text
    for actor in (clinic.admin, clinic.clinician):
        refused = await api.client.get("/v1/me/access-log", headers=actor.headers)
        assert refused.status_code == 403, refused.text
    refused = await api.client.get(
        f"/v1/patients/{patient_id}/access-log", headers=clinic.patient.headers
    )
    assert refused.status_code == 403, refused.text
    assert (await api.client.get("/v1/audit-events")).status_code == 401


@pytest.mark.unit
def test_operations_sharing_an_action_share_its_words() -> None:
    from app.audit.actions import ACTIONS, OTHER_ACTIONS

    words: dict[str, set[str]] = {}
    for action in (*ACTIONS.values(), *OTHER_ACTIONS):
        words.setdefault(action.name, set()).add(action.words)
    assert {name: w for name, w in words.items() if len(w) > 1} == {}
