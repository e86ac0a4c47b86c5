"""Tenancy and roles through HTTP: every endpoint x caller against a target owned by clinic A.

The target of each test is made fresh: a patient P of clinic A (created by A's clinician), the
"owner" (P's own app token), and, when the endpoint needs them, a procedure X of P and a report R
on X. The callers are A's admin and clinician, the owner, another patient of clinic A, clinic
B's admin, clinician and patient, and an anonymous caller.

The rules checked (api.md, "Tenancy"): a resource of another clinic, or (for a patient) of
another patient, answers 404, never 403, and that 404 is byte-for-byte the one an id that does
not exist gets, so ids cannot be probed. A refusal by role alone (a patient calling a staff-only
endpoint, a clinician calling an admin-only one) is 403 whatever the target, and is likewise the
same for an existing and a made-up id. No credentials -> 401. Every error is problem+json. A
refused write changes nothing; a successful read shows nothing of another tenant.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import jwt
import pytest

from tests.helpers import Actor, Api, procedure_body, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

CALLERS = (
    "admin_a",
    "clinician_a",
    "owner",
    "other_patient_a",
    "admin_b",
    "clinician_b",
    "patient_b",
    "anonymous",
)
STAFF_A = ("admin_a", "clinician_a")
STAFF_B = ("admin_b", "clinician_b")
PATIENTS = ("owner", "other_patient_a", "patient_b")


# --------------------------------------------------------------------------------------------
# The scene: what each test acts on, made through HTTP.


@dataclass
class Target:
    """The ids an endpoint's path is built from."""

    patient_id: str
    procedure_id: str = ""


@dataclass
class Scene:
    patient: dict[str, Any]
    owner: Actor
    procedure: dict[str, Any] | None = None
    report: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> Target:
        return Target(self.patient["id"], self.procedure["id"] if self.procedure else "")


async def owner_of(api: Api, patient: dict[str, Any]) -> Actor:
    """The patient's own app token, as /v1/auth/enroll would hand it out."""
    return await api.patient_actor(patient)


async def make_scene(api: Api, needs: str) -> Scene:
    clinician = api.world.a.clinician
    patient = await api.create_patient(clinician)
    scene = Scene(patient=patient, owner=await owner_of(api, patient))
    if needs in ("procedure", "report"):
        scene.procedure = await api.create_procedure(clinician, patient["id"])
    if needs == "report":
        assert scene.procedure is not None
        response = await api.post_report(scene.owner, scene.procedure["id"], report_body())
        assert response.status_code == 201, response.text
        scene.report = response.json()["report"]
    return scene


def actor_for(api: Api, scene: Scene, caller: str) -> Actor | None:
    a, b = api.world.a, api.world.b
    return {
        "admin_a": a.admin,
        "clinician_a": a.clinician,
        "owner": scene.owner,
        "other_patient_a": a.other_patient,
        "admin_b": b.admin,
        "clinician_b": b.clinician,
        "patient_b": b.patient,
        "anonymous": None,
    }[caller]


def headers_of(actor: Actor | None) -> dict[str, str]:
    return actor.headers if actor is not None else {}


# --------------------------------------------------------------------------------------------
# Assertions shared by every cell.


def assert_no_foreign_ids(body: Any, foreign: set[str]) -> None:
    """No id of the target (or any other foreign value) appears anywhere in the payload."""
    text = httpx.Response(200, json=body).text
    for value in foreign:
        assert value not in text, f"foreign value {value!r} leaked in {text}"


async def get_json(api: Api, actor: Actor, url: str, **params: Any) -> Any:
    response = await api.client.get(url, headers=actor.headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def reports_of(api: Api, procedure_id: str) -> list[dict[str, Any]]:
    page = await get_json(api, api.world.a.clinician, f"/v1/procedures/{procedure_id}/reports")
    return list(page["items"])


async def procedures_of(api: Api, patient_id: str) -> list[dict[str, Any]]:
    page = await get_json(api, api.world.a.clinician, f"/v1/patients/{patient_id}/procedures")
    return list(page["items"])


# --------------------------------------------------------------------------------------------
# The endpoints: path, body, the status each caller must get, and what to check afterwards.

Check = Callable[[Api, Scene, str, Actor | None, Any], Awaitable[None]]
Unchanged = Callable[[Api, Scene, str], Awaitable[None]]


async def _nothing(*_: Any) -> None:
    return None


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: Callable[[Target], str]
    expect: dict[str, int]
    needs: str = "patient"  # "patient" | "procedure" | "report"
    has_id: bool = True
    id_param: str = "patient_id"
    body: Callable[[Scene, str], Any] | None = None
    params: Callable[[Scene], dict[str, str]] | None = None
    prepare: Callable[[Api, Scene], Awaitable[None]] | None = None
    check: Check = _nothing
    unchanged: Unchanged = _nothing
    media: str = "application/json"  # of a success; `check` reads a JSON one


def statuses(
    staff_a: int, owner: int, other_patient_a: int, staff_b: int, patient_b: int
) -> dict[str, int]:
    return {
        "admin_a": staff_a,
        "clinician_a": staff_a,
        "owner": owner,
        "other_patient_a": other_patient_a,
        "admin_b": staff_b,
        "clinician_b": staff_b,
        "patient_b": patient_b,
        "anonymous": 401,
    }


# POST /v1/staff --------------------------------------------------------------------------------


def _staff_body(scene: Scene, caller: str) -> dict[str, Any]:
    email = scene.extra.setdefault(
        "staff_email", f"new-{uuid.uuid4().hex[:12]}@aftercare-clinic.org"
    )
    return {
        "email": email,
        "password": "a-long-enough-password",
        "name": "New Clinician",
        "role": "clinician",
    }


async def _check_staff(api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any) -> None:
    assert actor is not None
    assert body["clinic_id"] == str(actor.clinic_id)
    assert body["email"] == scene.extra["staff_email"]
    assert body["role"] == "clinician"


async def _staff_unchanged(api: Api, scene: Scene, caller: str) -> None:
    # Had the refused call stored the user, the email would now be taken (409).
    response = await api.client.post(
        "/v1/staff", json=_staff_body(scene, caller), headers=api.world.a.admin.headers
    )
    assert response.status_code == 201, response.text


# GET /v1/me --------------------------------------------------------------------------------------


async def _check_me(api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any) -> None:
    assert actor is not None
    assert body["id"] == str(actor.id)
    assert body["role"] == actor.role
    assert body["clinic_id"] == str(actor.clinic_id)
    if actor.role == "patient":
        assert body["patient_id"] == str(actor.patient_id)
    else:
        assert body.get("patient_id") is None
    if actor.clinic_id != api.world.a.clinic_id:
        assert_no_foreign_ids(body, {scene.patient["id"], str(api.world.a.clinic_id)})


# POST /v1/patients -------------------------------------------------------------------------------


def _new_patient_body(scene: Scene, caller: str) -> dict[str, Any]:
    # Clinic B reuses clinic A's MRN: MRNs are unique per clinic, and a 409 would reveal that
    # clinic A has a patient with it.
    if caller in STAFF_B or caller == "patient_b":
        mrn = scene.patient["mrn"]
    else:
        mrn = scene.extra.setdefault("new_mrn", f"MRN-{uuid.uuid4().hex[:10]}")
    return {
        "mrn": mrn,
        "display_name": "Casey New",
        "timezone": "America/Chicago",
        "temperature_unit": "F",
    }


async def _check_new_patient(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert actor is not None
    assert body["clinic_id"] == str(actor.clinic_id)
    assert body["id"] != scene.patient["id"]
    if caller in STAFF_B:
        # The new patient lives in clinic B: clinic A cannot see it, and A's patient is untouched.
        response = await api.client.get(
            f"/v1/patients/{body['id']}", headers=api.world.a.clinician.headers
        )
        assert_problem(response, 404)
        assert_no_foreign_ids(body, {scene.patient["id"], str(api.world.a.clinic_id)})
        assert await _get_patient_a(api, scene.patient["id"]) == scene.patient


async def _new_patient_unchanged(api: Api, scene: Scene, caller: str) -> None:
    mrn = _new_patient_body(scene, caller)["mrn"]
    for staff in (api.world.a.clinician, api.world.b.clinician):
        page = await get_json(api, staff, "/v1/patients", search=mrn)
        ids = [p["id"] for p in page["items"]]
        expected = [scene.patient["id"]] if staff.clinic_id == api.world.a.clinic_id else []
        if mrn != scene.patient["mrn"]:
            expected = []
        assert ids == expected


# GET /v1/patients?search= ------------------------------------------------------------------------


async def _check_list_patients(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert actor is not None
    assert all(p["clinic_id"] == str(actor.clinic_id) for p in body["items"]), body
    ids = [p["id"] for p in body["items"]]
    if caller in STAFF_A:
        assert ids == [scene.patient["id"]]
    else:
        assert ids == []
        assert_no_foreign_ids(body, {scene.patient["id"], scene.patient["mrn"]})


# GET /v1/patients/{id} ---------------------------------------------------------------------------


async def _get_patient_a(api: Api, patient_id: str) -> dict[str, Any]:
    return dict(await get_json(api, api.world.a.clinician, f"/v1/patients/{patient_id}"))


async def _check_get_patient(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert body == scene.patient


# PATCH /v1/patients/{id} -------------------------------------------------------------------------


def _patch_body(scene: Scene, caller: str) -> dict[str, Any]:
    return {"display_name": "Changed By Caller", "temperature_unit": "F"}


async def _check_patch(api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any) -> None:
    assert body["id"] == scene.patient["id"]
    assert body["clinic_id"] == scene.patient["clinic_id"]
    assert body["display_name"] == "Changed By Caller"
    assert body["mrn"] == scene.patient["mrn"]
    assert await _get_patient_a(api, scene.patient["id"]) == body


async def _patch_unchanged(api: Api, scene: Scene, caller: str) -> None:
    assert await _get_patient_a(api, scene.patient["id"]) == scene.patient


# POST /v1/patients/{id}/enrollment-codes ---------------------------------------------------------


async def _issue_code_first(api: Api, scene: Scene) -> None:
    response = await api.client.post(
        f"/v1/patients/{scene.patient['id']}/enrollment-codes",
        headers=api.world.a.clinician.headers,
    )
    assert response.status_code == 201, response.text
    scene.extra["earlier_code"] = response.json()["code"]


async def _enroll(api: Api, code: str) -> httpx.Response:
    return await api.client.post("/v1/auth/enroll", json={"code": code})


async def _check_code(api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any) -> None:
    assert set(body) >= {"code", "expires_at"}
    # The new code replaced the earlier printout, and it links the app to this patient.
    assert (await _enroll(api, scene.extra["earlier_code"])).status_code == 400
    tokens = await _enroll(api, body["code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["patient_id"] == scene.patient["id"]


async def _code_unchanged(api: Api, scene: Scene, caller: str) -> None:
    # A refused call neither issued a code nor voided the one clinic A printed.
    tokens = await _enroll(api, scene.extra["earlier_code"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.json()["patient_id"] == scene.patient["id"]


# POST /v1/patients/{id}/procedures ---------------------------------------------------------------


def _procedure_body(scene: Scene, caller: str) -> dict[str, Any]:
    return procedure_body()


async def _check_new_procedure(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert body["patient_id"] == scene.patient["id"]
    assert body["clinic_id"] == scene.patient["clinic_id"]
    assert body["sequence_number"] == 1
    assert [p["id"] for p in await procedures_of(api, scene.patient["id"])] == [body["id"]]


async def _procedures_unchanged(api: Api, scene: Scene, caller: str) -> None:
    assert await procedures_of(api, scene.patient["id"]) == []


# GET /v1/patients/{id}/procedures, GET /v1/procedures/{id} ---------------------------------------


async def _check_list_procedures(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert scene.procedure is not None
    assert [p["id"] for p in body["items"]] == [scene.procedure["id"]]
    assert all(p["patient_id"] == scene.patient["id"] for p in body["items"])
    assert body["next_cursor"] is None


async def _check_get_procedure(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert body == scene.procedure


# POST /v1/procedures/{id}/reports (+ /batch) -----------------------------------------------------


def _report_body(scene: Scene, caller: str) -> dict[str, Any]:
    return report_body(client_report_id=scene.extra.setdefault("crid", str(uuid.uuid4())))


def _batch_body(scene: Scene, caller: str) -> dict[str, Any]:
    return {"reports": [_report_body(scene, caller)]}


def _entered_by(caller: str) -> str:
    return "patient" if caller in PATIENTS else "staff"


async def _check_report(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert scene.procedure is not None
    report = body["report"]
    assert report["procedure_id"] == scene.procedure["id"]
    assert report["patient_id"] == scene.patient["id"]
    assert report["client_report_id"] == scene.extra["crid"]
    assert report["entered_by"] == _entered_by(caller)
    assert [r["id"] for r in await reports_of(api, scene.procedure["id"])] == [report["id"]]


async def _check_batch(api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any) -> None:
    assert scene.procedure is not None
    [result] = body["results"]
    assert result["status"] == "created", result
    assert result["client_report_id"] == scene.extra["crid"]
    report = result["report"]
    assert report["procedure_id"] == scene.procedure["id"]
    assert report["patient_id"] == scene.patient["id"]
    assert report["entered_by"] == _entered_by(caller)
    assert [r["id"] for r in await reports_of(api, scene.procedure["id"])] == [report["id"]]


async def _reports_unchanged(api: Api, scene: Scene, caller: str) -> None:
    assert scene.procedure is not None
    assert await reports_of(api, scene.procedure["id"]) == []


# GET /v1/procedures/{id}/reports -----------------------------------------------------------------


async def _check_list_reports(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert scene.procedure is not None and scene.report is not None
    assert [r["id"] for r in body["items"]] == [scene.report["id"]]
    assert all(r["procedure_id"] == scene.procedure["id"] for r in body["items"])
    assert all(r["patient_id"] == scene.patient["id"] for r in body["items"])


# POST /v1/rules/dry-run ------------------------------------------------------------------------


def _dry_run_body(scene: Scene, caller: str) -> dict[str, Any]:
    """Clinic A's patient, whoever asks: an admin of clinic B must not learn of them."""
    return {"rule_set_version": 1, "patient_id": scene.patient["id"]}


async def _check_dry_run(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert body["patient_id"] == scene.patient["id"] and body["reports_judged"] == 1
    assert {r["patient_id"] for r in body["changed_reports"]["items"]} <= {scene.patient["id"]}


# The clinician's views of a patient and of a block (cached: app/core/view_cache.py) -----------


async def _check_patient_view(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    """A timeline or outcomes page of clinic A's patient shows that patient's block only."""
    assert scene.procedure is not None
    shown = {i.get("procedure_id", i.get("id")) for i in body["items"]}
    assert scene.procedure["id"] in shown


async def _check_summary(
    api: Api, scene: Scene, caller: str, actor: Actor | None, body: Any
) -> None:
    assert scene.procedure is not None and body["procedure_id"] == scene.procedure["id"]


# The matrix ----------------------------------------------------------------------------------


def _owned(status: int) -> dict[str, int]:
    """Open to the clinic's staff and the patient it belongs to; 404 for everyone else."""
    return statuses(staff_a=status, owner=status, other_patient_a=404, staff_b=404, patient_b=404)


def _staff_on_patient(status: int) -> dict[str, int]:
    """Staff-only, on a patient: 404 for clinic B's staff, the role refusal for any patient."""
    return statuses(staff_a=status, owner=403, other_patient_a=403, staff_b=404, patient_b=403)


ENDPOINTS = [
    Endpoint(
        "create_staff",
        "POST",
        lambda t: "/v1/staff",
        {
            "admin_a": 201,
            "clinician_a": 403,
            "owner": 403,
            "other_patient_a": 403,
            "admin_b": 201,
            "clinician_b": 403,
            "patient_b": 403,
            "anonymous": 401,
        },
        has_id=False,
        body=_staff_body,
        check=_check_staff,
        unchanged=_staff_unchanged,
    ),
    Endpoint(
        "get_me",
        "GET",
        lambda t: "/v1/me",
        statuses(staff_a=200, owner=200, other_patient_a=200, staff_b=200, patient_b=200),
        has_id=False,
        check=_check_me,
    ),
    Endpoint(
        "create_patient",
        "POST",
        lambda t: "/v1/patients",
        statuses(staff_a=201, owner=403, other_patient_a=403, staff_b=201, patient_b=403),
        has_id=False,
        body=_new_patient_body,
        check=_check_new_patient,
        unchanged=_new_patient_unchanged,
    ),
    Endpoint(
        "list_patients",
        "GET",
        lambda t: "/v1/patients",
        statuses(staff_a=200, owner=403, other_patient_a=403, staff_b=200, patient_b=403),
        has_id=False,
        params=lambda s: {"search": s.patient["mrn"]},
        check=_check_list_patients,
    ),
    Endpoint(
        "get_patient",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}",
        _owned(200),
        check=_check_get_patient,
    ),
    Endpoint(
        "update_patient",
        "PATCH",
        lambda t: f"/v1/patients/{t.patient_id}",
        _staff_on_patient(200),
        body=_patch_body,
        check=_check_patch,
        unchanged=_patch_unchanged,
    ),
    Endpoint(
        "create_enrollment_code",
        "POST",
        lambda t: f"/v1/patients/{t.patient_id}/enrollment-codes",
        _staff_on_patient(201),
        prepare=_issue_code_first,
        check=_check_code,
        unchanged=_code_unchanged,
    ),
    Endpoint(
        "list_patient_devices",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}/devices",
        _staff_on_patient(200),
    ),
    Endpoint(
        "dry_run_rules",
        "POST",
        lambda t: "/v1/rules/dry-run",
        statuses(staff_a=403, owner=403, other_patient_a=403, staff_b=403, patient_b=403)
        | {"admin_a": 200, "admin_b": 404},
        needs="report",
        has_id=False,
        body=_dry_run_body,
        check=_check_dry_run,
    ),
    Endpoint(
        "get_patient_access_log",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}/access-log",
        _staff_on_patient(200),
    ),
    Endpoint(
        "create_procedure",
        "POST",
        lambda t: f"/v1/patients/{t.patient_id}/procedures",
        _staff_on_patient(201),
        body=_procedure_body,
        check=_check_new_procedure,
        unchanged=_procedures_unchanged,
    ),
    Endpoint(
        "list_procedures",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}/procedures",
        _owned(200),
        needs="procedure",
        check=_check_list_procedures,
    ),
    Endpoint(
        "get_procedure",
        "GET",
        lambda t: f"/v1/procedures/{t.procedure_id}",
        _owned(200),
        needs="procedure",
        id_param="procedure_id",
        check=_check_get_procedure,
    ),
    Endpoint(
        "get_patient_timeline",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}/timeline",
        _staff_on_patient(200),
        needs="procedure",
        check=_check_patient_view,
    ),
    Endpoint(
        "get_patient_outcomes",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}/outcomes",
        _staff_on_patient(200),
        needs="procedure",
        check=_check_patient_view,
    ),
    Endpoint(
        "get_patient_outcomes_chart",
        "GET",
        lambda t: f"/v1/patients/{t.patient_id}/outcomes.svg",
        _staff_on_patient(200),
        needs="procedure",
        media="image/svg+xml",
    ),
    Endpoint(
        "get_procedure_summary",
        "GET",
        lambda t: f"/v1/procedures/{t.procedure_id}/summary",
        _staff_on_patient(200),
        needs="procedure",
        id_param="procedure_id",
        check=_check_summary,
    ),
    Endpoint(
        "get_procedure_chart",
        "GET",
        lambda t: f"/v1/procedures/{t.procedure_id}/chart.svg",
        _staff_on_patient(200),
        needs="procedure",
        id_param="procedure_id",
        media="image/svg+xml",
    ),
    Endpoint(
        "submit_report",
        "POST",
        lambda t: f"/v1/procedures/{t.procedure_id}/reports",
        _owned(201),
        needs="procedure",
        id_param="procedure_id",
        body=_report_body,
        check=_check_report,
        unchanged=_reports_unchanged,
    ),
    Endpoint(
        "submit_report_batch",
        "POST",
        lambda t: f"/v1/procedures/{t.procedure_id}/reports/batch",
        _owned(200),
        needs="procedure",
        id_param="procedure_id",
        body=_batch_body,
        check=_check_batch,
        unchanged=_reports_unchanged,
    ),
    Endpoint(
        "list_reports",
        "GET",
        lambda t: f"/v1/procedures/{t.procedure_id}/reports",
        _owned(200),
        needs="report",
        id_param="procedure_id",
        check=_check_list_reports,
    ),
]
BY_NAME = {e.name: e for e in ENDPOINTS}
WITH_ID = [e for e in ENDPOINTS if e.has_id]


async def call(
    api: Api, endpoint: Endpoint, scene: Scene, caller: str, target: Target | None = None
) -> httpx.Response:
    actor = actor_for(api, scene, caller)
    return await api.client.request(
        endpoint.method,
        endpoint.path(target or scene.target),
        json=endpoint.body(scene, caller) if endpoint.body else None,
        params=endpoint.params(scene) if endpoint.params else None,
        headers=headers_of(actor),
    )


def _random_target(endpoint: Endpoint, scene: Scene) -> Target:
    if endpoint.id_param == "patient_id":
        return replace(scene.target, patient_id=str(uuid.uuid4()))
    return replace(scene.target, procedure_id=str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("endpoint", "caller"),
    [(e, c) for e in ENDPOINTS for c in CALLERS],
    ids=[f"{e.name}-{c}" for e in ENDPOINTS for c in CALLERS],
)
async def test_matrix(api: Api, endpoint: Endpoint, caller: str) -> None:
    scene = await make_scene(api, endpoint.needs)
    if endpoint.prepare is not None:
        await endpoint.prepare(api, scene)
    expected = endpoint.expect[caller]

    response = await call(api, endpoint, scene, caller)

    if expected < 400:
        assert response.status_code == expected, response.text
        assert response.headers["content-type"].startswith(endpoint.media)
        if endpoint.media == "application/json":
            body = response.json()
            await endpoint.check(api, scene, caller, actor_for(api, scene, caller), body)
        return
    problem = assert_problem(response, expected)
    assert_no_foreign_ids(problem, {scene.patient["id"], scene.patient["mrn"]})
    if endpoint.has_id:
        # Indistinguishable from an id that does not exist: same status, same body.
        probe = await call(api, endpoint, scene, caller, _random_target(endpoint, scene))
        assert probe.status_code == expected, probe.text
        assert probe.json() == problem
    if endpoint.method != "GET":
        await endpoint.unchanged(api, scene, caller)


# --------------------------------------------------------------------------------------------
# Ids that do not exist, ids that are not ids, and ids of the wrong kind.


@pytest.mark.parametrize("caller", ["admin_a", "clinician_a", "owner"])
@pytest.mark.parametrize("endpoint", WITH_ID, ids=[e.name for e in WITH_ID])
async def test_unknown_id_is_404(api: Api, endpoint: Endpoint, caller: str) -> None:
    scene = await make_scene(api, endpoint.needs)
    response = await call(api, endpoint, scene, caller, _random_target(endpoint, scene))
    expected = 403 if caller == "owner" and endpoint.expect["owner"] == 403 else 404
    assert_problem(response, expected)


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "12345", "1 OR 1=1", "0" * 33])
@pytest.mark.parametrize("endpoint", WITH_ID, ids=[e.name for e in WITH_ID])
async def test_malformed_id_is_422(api: Api, endpoint: Endpoint, bad_id: str) -> None:
    scene = await make_scene(api, endpoint.needs)
    target = (
        replace(scene.target, patient_id=bad_id)
        if endpoint.id_param == "patient_id"
        else replace(scene.target, procedure_id=bad_id)
    )
    callers = ["clinician_a"] + (["owner"] if endpoint.expect["owner"] < 400 else [])
    for caller in callers:
        response = await call(api, endpoint, scene, caller, target)
        problem = assert_problem(response, 422)
        assert any(e["loc"] == ["path", endpoint.id_param] for e in problem["errors"]), problem
    # Without credentials the answer is 401 before anything about the id is said.
    assert_problem(await call(api, endpoint, scene, "anonymous", target), 401)


@pytest.mark.parametrize("endpoint", WITH_ID, ids=[e.name for e in WITH_ID])
async def test_id_of_the_wrong_kind_is_404(api: Api, endpoint: Endpoint) -> None:
    """A procedure id where a patient id belongs (and the reverse) is just an unknown id."""
    scene = await make_scene(api, "report")
    assert scene.procedure is not None and scene.report is not None
    wrong = scene.procedure["id"] if endpoint.id_param == "patient_id" else scene.patient["id"]
    target = (
        replace(scene.target, patient_id=wrong)
        if endpoint.id_param == "patient_id"
        else replace(scene.target, procedure_id=wrong)
    )
    assert_problem(await call(api, endpoint, scene, "clinician_a", target), 404)


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "eyJhbGciOiJIUzI1NiJ9.e30.invalid",
        "",
    ],
    ids=["garbage", "bad-signature", "empty"],
)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
async def test_bad_token_is_401(api: Api, endpoint: Endpoint, token: str) -> None:
    scene = await make_scene(api, "procedure")
    response = await api.client.request(
        endpoint.method,
        endpoint.path(scene.target),
        json=endpoint.body(scene, "admin_a") if endpoint.body else None,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_problem(response, 401)


async def test_token_signed_with_another_key_is_401(api: Api) -> None:
    scene = await make_scene(api, "procedure")
    real = jwt.decode(
        api.world.a.admin.token, options={"verify_signature": False}, algorithms=["HS256"]
    )
    forged = jwt.encode(real, "another-secret-key-that-is-long-enough-0123456789", "HS256")
    response = await api.client.get(
        f"/v1/patients/{scene.patient['id']}", headers={"Authorization": f"Bearer {forged}"}
    )
    assert_problem(response, 401)


# --------------------------------------------------------------------------------------------
# Lists and searches never cross the clinic line.


async def _all_patients(api: Api, actor: Actor, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = await get_json(api, actor, "/v1/patients", **query)
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the patient list did not end")


@pytest.mark.parametrize("caller", ["admin_b", "clinician_b"])
async def test_other_clinic_patient_list_never_shows_clinic_a(api: Api, caller: str) -> None:
    name = f"Zebulon {uuid.uuid4().hex[:8]}"
    patient = await api.create_patient(api.world.a.clinician, display_name=name)
    staff = actor_for(api, Scene(patient, await owner_of(api, patient)), caller)
    assert staff is not None
    searches: list[dict[str, Any]] = [
        {},
        {"search": patient["mrn"]},
        {"search": patient["mrn"].lower()},
        {"search": f"  {patient['mrn']}  "},
        {"search": name},
        {"search": name.split()[1]},
        {"search": "zebulon"},
        {"search": "%"},
        {"search": "_"},
    ]
    for params in searches:
        items = await _all_patients(api, staff, **params)
        assert all(p["clinic_id"] == str(staff.clinic_id) for p in items), params
        assert patient["id"] not in {p["id"] for p in items}, params
        assert_no_foreign_ids(items, {patient["id"], patient["mrn"], name})
    # Clinic A's staff do find it, so the searches above were meaningful.
    for params in ({"search": patient["mrn"]}, {"search": name.split()[1]}):
        found = await _all_patients(api, api.world.a.clinician, **params)
        assert patient["id"] in {p["id"] for p in found}


async def test_clinic_a_patient_list_holds_only_clinic_a(api: Api) -> None:
    await api.create_patient(api.world.b.clinician)
    items = await _all_patients(api, api.world.a.admin)
    assert items
    assert all(p["clinic_id"] == str(api.world.a.clinic_id) for p in items)
    ids = {p["id"] for p in items}
    assert str(api.world.b.patient.patient_id) not in ids
    assert str(api.world.b.other_patient.patient_id) not in ids


async def test_patient_lists_only_their_own_procedures(api: Api) -> None:
    a = api.world.a
    patient = await api.create_patient(a.clinician)
    owner = await owner_of(api, patient)
    mine = [await api.create_procedure(a.clinician, patient["id"]) for _ in range(2)]
    theirs = await api.create_procedure(a.clinician, a.other_patient.patient_id)
    page = await get_json(api, owner, f"/v1/patients/{patient['id']}/procedures")
    assert [p["id"] for p in page["items"]] == [p["id"] for p in mine]
    assert [p["sequence_number"] for p in page["items"]] == [1, 2]
    assert_no_foreign_ids(page, {theirs["id"], str(a.other_patient.patient_id)})
    for path in (
        f"/v1/patients/{a.other_patient.patient_id}/procedures",
        f"/v1/procedures/{theirs['id']}",
        f"/v1/procedures/{theirs['id']}/reports",
    ):
        assert_problem(await api.client.get(path, headers=owner.headers), 404)


async def test_enrolled_patient_is_scoped_like_a_minted_one(api: Api) -> None:
    """The real enrollment flow hands out a token that sees its own patient and nothing else."""
    actor, procedure = await api.patient_with_procedure(api.world.a)
    me = await get_json(api, actor, "/v1/me")
    assert me["patient_id"] == str(actor.patient_id)
    assert (await get_json(api, actor, f"/v1/procedures/{procedure['id']}"))["id"] == procedure[
        "id"
    ]
    other = await api.create_procedure(api.world.a.clinician, api.world.a.patient.patient_id)
    for path in (
        f"/v1/patients/{api.world.a.patient.patient_id}",
        f"/v1/procedures/{other['id']}",
    ):
        assert_problem(await api.client.get(path, headers=actor.headers), 404)
    response = await api.post_report(actor, other["id"], report_body())
    assert_problem(response, 404)
    assert await reports_of(api, other["id"]) == []


# --------------------------------------------------------------------------------------------
# Keys that are unique per clinic or per patient do not collide across tenants.


async def test_mrn_is_unique_per_clinic_only(api: Api) -> None:
    a_patient = await api.create_patient(api.world.a.clinician)
    b_patient = await api.create_patient(api.world.b.clinician, mrn=a_patient["mrn"])
    assert b_patient["clinic_id"] == str(api.world.b.clinic_id)
    other_b = await api.create_patient(api.world.b.clinician)
    # Clinic A may take clinic B's MRN too: a 409 would confirm it exists over there.
    response = await api.client.patch(
        f"/v1/patients/{a_patient['id']}",
        json={"mrn": other_b["mrn"]},
        headers=api.world.a.clinician.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["mrn"] == other_b["mrn"]
    still = await get_json(api, api.world.b.clinician, f"/v1/patients/{other_b['id']}")
    assert still == other_b


async def test_client_report_id_does_not_collide_across_tenants(api: Api) -> None:
    a_patient = await api.create_patient(api.world.a.clinician)
    a_proc = await api.create_procedure(api.world.a.clinician, a_patient["id"])
    b_patient = await api.create_patient(api.world.b.clinician)
    b_proc = await api.create_procedure(api.world.b.clinician, b_patient["id"])
    body = report_body()
    first = await api.post_report(await owner_of(api, a_patient), a_proc["id"], body)
    assert first.status_code == 201, first.text
    # Clinic B's patient happens to send the same idempotency key (and the same body): a new
    # report of theirs, not a replay of clinic A's response.
    second = await api.post_report(await owner_of(api, b_patient), b_proc["id"], body)
    assert second.status_code == 201, second.text
    b_report = second.json()["report"]
    assert b_report["id"] != first.json()["report"]["id"]
    assert b_report["patient_id"] == b_patient["id"]
    assert_no_foreign_ids(second.json(), {a_patient["id"], a_proc["id"]})
    a_reports = await reports_of(api, a_proc["id"])
    assert [r["id"] for r in a_reports] == [first.json()["report"]["id"]]


async def test_foreign_report_with_known_client_id_learns_nothing(api: Api) -> None:
    """Replaying clinic A's exact report against A's procedure from clinic B is a plain 404."""
    scene = await make_scene(api, "procedure")
    assert scene.procedure is not None
    body = report_body()
    created = await api.post_report(scene.owner, scene.procedure["id"], body)
    assert created.status_code == 201, created.text
    for caller in ("admin_b", "clinician_b", "patient_b", "other_patient_a"):
        actor = actor_for(api, scene, caller)
        assert actor is not None
        response = await api.post_report(actor, scene.procedure["id"], body)
        problem = assert_problem(response, 404)
        assert_no_foreign_ids(problem, {created.json()["report"]["id"]})
        batch = await api.client.post(
            f"/v1/procedures/{scene.procedure['id']}/reports/batch",
            json={"reports": [body]},
            headers=actor.headers,
        )
        assert_problem(batch, 404)
    assert [r["id"] for r in await reports_of(api, scene.procedure["id"])] == [
        created.json()["report"]["id"]
    ]
