import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.helpers import TEST_KEY, TEST_SECRET, WORLD_PASSWORD, Api
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio


async def _login(api: Api, email: str, password: str) -> httpx.Response:
    return await api.client.post("/v1/auth/token", data={"username": email, "password": password})


async def test_staff_login_gives_a_working_bearer_token(api: Api) -> None:
    admin = api.world.a.admin
    response = await _login(api, admin.email.upper(), WORLD_PASSWORD)  # emails are case-insensitive
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600
    me = await api.client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["id"] == str(admin.id) and me.json()["role"] == "admin"
    assert me.json()["clinic_id"] == str(api.world.a.clinic_id)


@pytest.mark.parametrize("case", ["wrong_password", "unknown_email"])
async def test_wrong_credentials_are_400_invalid_grant(api: Api, case: str) -> None:
    email = api.world.a.clinician.email if case == "wrong_password" else "nobody@clinic.example"
    response = await _login(
        api, email, "not-the-password" if case == "wrong_password" else WORLD_PASSWORD
    )
    # RFC 6749 5.2: a wrong resource owner password is invalid_grant, in application/json.
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "invalid_grant"
    assert response.json()["detail"] == "wrong email or password"  # same words: no enumeration


async def test_login_without_form_fields_is_400_invalid_request(api: Api) -> None:
    response = await api.client.post("/v1/auth/token", data={"username": "x@y.z"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


async def test_me_for_a_patient_holds_patient_id(api: Api) -> None:
    patient = api.world.b.patient
    me = (await api.client.get("/v1/me", headers=patient.headers)).json()
    assert me["role"] == "patient" and me["patient_id"] == str(patient.patient_id) == me["id"]


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"])
async def test_missing_or_malformed_token_is_401(api: Api, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await api.client.get("/v1/me", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def _forge(
    valid_token: str, change: dict[str, Any], secret: str = TEST_SECRET, kid: str | None = None
) -> str:
    """A valid token's claims with one change, signed with the deployment's key (or another):
    each case is refused for its change alone, since the unchanged copy is accepted."""
    claims = {**jwt.decode(valid_token, options={"verify_signature": False}), **change}
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid or TEST_KEY.kid})


@pytest.mark.parametrize(
    ("change", "secret"),
    [
        ({}, "another-secret-key-of-sufficient-length-000000"),
        ({"aud": "someone-else"}, TEST_SECRET),
        ({"role": "superuser"}, TEST_SECRET),
        ({"exp": 1_700_000_100}, TEST_SECRET),
        ({"clinic": "not-a-uuid"}, TEST_SECRET),
        ({"clinic": str(uuid.uuid4())}, TEST_SECRET),
        ({"sub": str(uuid.uuid4())}, TEST_SECRET),
        ({"sid": str(uuid.uuid4())}, TEST_SECRET),
    ],
    ids=[
        "wrong_key",
        "wrong_audience",
        "unknown_role",
        "expired",
        "bad_clinic",
        "other_clinic",
        "other_subject",
        "unknown_session",
    ],
)
async def test_tampered_tokens_are_refused(api: Api, change: dict[str, Any], secret: str) -> None:
    valid = api.world.a.clinician.token
    unchanged = _forge(valid, {})
    assert (await api.client.get("/v1/me", headers=_bearer(unchanged))).status_code == 200
    response = await api.client.get("/v1/me", headers=_bearer(_forge(valid, change, secret)))
    assert response.status_code == 401


async def test_role_claim_is_not_trusted(api: Api) -> None:
    """A clinician's token re-signed to say admin still acts as a clinician (the database
    says so), so even a leaked signing key cannot raise a role."""
    forged = _forge(api.world.a.clinician.token, {"role": "admin"})
    me = await api.client.get("/v1/me", headers=_bearer(forged))
    assert me.status_code == 200 and me.json()["role"] == "clinician"
    webhooks = await api.client.get("/v1/webhooks", headers=_bearer(forged))
    assert webhooks.status_code == 403


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_unsigned_token_is_refused(api: Api) -> None:
    valid = jwt.decode(api.world.a.admin.token, options={"verify_signature": False})
    unsigned = jwt.encode(valid, "", algorithm="none")  # "none" takes no key
    response = await api.client.get("/v1/me", headers={"Authorization": f"Bearer {unsigned}"})
    assert response.status_code == 401


async def test_staff_token_expires_by_the_injected_clock(api: Api) -> None:
    login = await _login(api, api.world.a.clinician.email, WORLD_PASSWORD)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    api.clock.advance(timedelta(hours=8, seconds=-1))
    assert (await api.client.get("/v1/me", headers=headers)).status_code == 200
    api.clock.advance(timedelta(seconds=1))
    assert (await api.client.get("/v1/me", headers=headers)).status_code == 401


async def _code(api: Api, patient_id: str) -> dict[str, Any]:
    response = await api.client.post(
        f"/v1/patients/{patient_id}/enrollment-codes", headers=api.world.a.clinician.headers
    )
    assert response.status_code == 201
    return dict(response.json())


async def test_enrollment_code_links_the_app_once(api: Api) -> None:
    patient = await api.create_patient(api.world.a.clinician)
    code = await _code(api, patient["id"])
    assert code["expires_at"] == "2026-11-24T12:00:00Z"  # 72 hours
    enrolled = await api.client.post("/v1/auth/enroll", json={"code": code["code"]})
    assert enrolled.status_code == 200
    tokens = enrolled.json()
    assert tokens["patient_id"] == patient["id"] and tokens["token_type"] == "bearer"
    me = await api.client.get(
        "/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["patient_id"] == patient["id"]
    again = await api.client.post("/v1/auth/enroll", json={"code": code["code"]})
    assert_problem(again, 400)


async def test_enrollment_code_is_forgiving_about_case_and_dashes(api: Api) -> None:
    patient = await api.create_patient(api.world.a.clinician)
    code = (await _code(api, patient["id"]))["code"]
    typed = code.replace("-", " ").lower()
    assert (await api.client.post("/v1/auth/enroll", json={"code": typed})).status_code == 200


async def test_enrollment_code_expires_after_72_hours(api: Api) -> None:
    patient = await api.create_patient(api.world.a.clinician)
    code = (await _code(api, patient["id"]))["code"]
    api.clock.advance(timedelta(hours=72))
    assert (await api.client.post("/v1/auth/enroll", json={"code": code})).status_code == 400


async def test_new_enrollment_code_replaces_the_unused_one(api: Api) -> None:
    patient = await api.create_patient(api.world.a.clinician)
    old = (await _code(api, patient["id"]))["code"]
    new = (await _code(api, patient["id"]))["code"]
    assert (await api.client.post("/v1/auth/enroll", json={"code": old})).status_code == 400
    assert (await api.client.post("/v1/auth/enroll", json={"code": new})).status_code == 200


@pytest.mark.parametrize("code", ["0000-0000-0000", "", "x" * 65])
async def test_unknown_or_malformed_codes_are_rejected(api: Api, code: str) -> None:
    response = await api.client.post("/v1/auth/enroll", json={"code": code})
    assert_problem(response, {400, 422})


async def _enroll(api: Api) -> dict[str, Any]:
    patient = await api.create_patient(api.world.a.clinician)
    code = (await _code(api, patient["id"]))["code"]
    return dict((await api.client.post("/v1/auth/enroll", json={"code": code})).json())


async def test_refresh_rotates_and_the_old_token_stops_working(api: Api) -> None:
    tokens = await _enroll(api)
    api.clock.advance(timedelta(minutes=20))  # the access token has expired
    old_access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await api.client.get("/v1/me", headers=old_access)).status_code == 401
    rotated = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert rotated.status_code == 200
    fresh = rotated.json()
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert (
        await api.client.get("/v1/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    ).status_code == 200
    reused = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert reused.status_code == 401


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(api: Api) -> None:
    tokens = await _enroll(api)
    stolen = tokens["refresh_token"]
    legit = (await api.client.post("/v1/auth/refresh", json={"refresh_token": stolen})).json()
    assert (
        await api.client.post("/v1/auth/refresh", json={"refresh_token": stolen})
    ).status_code == 401
    # The thief's replay cut off the legitimate device's newer token too.
    response = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": legit["refresh_token"]}
    )
    assert response.status_code == 401


async def test_refresh_token_expires(api: Api) -> None:
    tokens = await _enroll(api)
    api.clock.advance(timedelta(days=90))
    response = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 401


async def test_unknown_refresh_token_is_401(api: Api) -> None:
    response = await api.client.post("/v1/auth/refresh", json={"refresh_token": "nope"})
    assert response.status_code == 401


async def test_admin_creates_staff_who_can_log_in_and_duplicates_conflict(api: Api) -> None:
    clinic = await api.new_clinic()
    body = {
        "email": f"new-{uuid.uuid4().hex[:8]}@clinic.example",
        "password": "a-long-enough-password",
        "name": "Dr New",
        "role": "clinician",
    }
    created = await api.client.post("/v1/staff", json=body, headers=clinic.admin.headers)
    assert created.status_code == 201
    assert created.json()["clinic_id"] == str(clinic.clinic_id) and "password" not in created.text
    assert (
        await api.client.post("/v1/staff", json=body, headers=clinic.admin.headers)
    ).status_code == 409
    shouted = {**body, "email": body["email"].upper()}
    assert (
        await api.client.post("/v1/staff", json=shouted, headers=api.world.b.admin.headers)
    ).status_code == 409
    login = await _login(api, body["email"], body["password"])
    assert login.status_code == 200


@pytest.mark.parametrize(
    "change",
    [{"password": "short"}, {"role": "patient"}, {"email": "not-an-email"}, {"name": ""}],
    ids=["short_password", "bad_role", "bad_email", "empty_name"],
)
async def test_staff_validation(api: Api, change: dict[str, Any]) -> None:
    body = {
        "email": f"v-{uuid.uuid4().hex[:8]}@clinic.example",
        "password": "a-long-enough-password",
        "name": "Dr V",
        "role": "clinician",
        **change,
    }
    response = await api.client.post("/v1/staff", json=body, headers=api.world.a.admin.headers)
    assert response.status_code == 422
