"""Staff passwords: at least 12 characters, not blank, without the e-mail, and not weak by
zxcvbn; checked when a password is set (a new staff user, a change), never at sign-in."""

import uuid

import httpx
import pytest

from app.core.security import hash_password
from tests.helpers import WORLD_PASSWORD, Api, insert_clinic
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio


def staff_body(password: str, email: str | None = None) -> dict[str, str]:
    return {
        "email": email or f"rita.okafor-{uuid.uuid4().hex[:6]}@clinic.example",
        "password": password,
        "name": "Dr Rita Okafor",
        "role": "clinician",
    }


def assert_refused(response: httpx.Response, field: str, reason: str, password: str) -> None:
    (issue,) = assert_problem(response, 422, field, no_echo=password)["errors"]
    assert issue["loc"] == ["body", field] and reason in issue["msg"]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("password1234", "too weak"),  # zxcvbn's common-password list
        ("qwertyuiop12", "too weak"),  # a keyboard walk
        ("okafor123456", "too weak"),  # the user's name: zxcvbn alone scores it 3
        (" " * 12, "blank"),
        ("\t \u3000" * 4, "blank"),
        ("short-pw-1", "at least 12 characters"),
        ("x" * 200, "too weak"),  # long, but one character again and again
    ],
)
async def test_weak_staff_passwords_are_refused_and_nothing_is_stored(
    api: Api, password: str, reason: str
) -> None:
    admin = api.world.a.admin
    body = staff_body(password)
    response = await api.client.post("/v1/staff", json=body, headers=admin.headers)
    assert_refused(response, "password", reason, password)
    listed = await api.client.get("/v1/staff", headers=admin.headers)
    assert body["email"] not in {user["email"] for user in listed.json()}


async def test_a_password_holding_the_email_is_refused(api: Api) -> None:
    email = f"okafor{uuid.uuid4().hex[:4]}@clinic.example"
    for password in (f"x-{email}-9", f"{email.split('@')[0].upper()} in the snow"):
        response = await api.client.post(
            "/v1/staff", json=staff_body(password, email), headers=api.world.a.admin.headers
        )
        assert_refused(response, "password", "must not contain the e-mail", password)


@pytest.mark.parametrize(
    "password",
    # The fixtures' and the bench seeds' passwords, and a passphrase longer than the 72
    # characters zxcvbn judges.
    [
        "correct horse battery staple",
        "correct-horse-battery-42",
        "a-long-password-1",
        "saffron lanterns hum over the harbour at dawn while gulls argue about crusts",
    ],
)
async def test_strong_staff_passwords_are_accepted(api: Api, password: str) -> None:
    body = staff_body(password)
    response = await api.client.post("/v1/staff", json=body, headers=api.world.a.admin.headers)
    assert response.status_code == 201, response.text
    token = await api.client.post(
        "/v1/auth/token", data={"username": body["email"], "password": password}
    )
    assert token.status_code == 200


async def test_a_weak_new_password_is_refused_and_the_old_one_still_works(api: Api) -> None:
    clinic = await api.new_clinic()
    email = clinic.clinician.email
    assert email
    for weak, reason in (("password1234", "too weak"), (f"my {email} pw", "e-mail")):
        response = await api.client.post(
            "/v1/me/password",
            json={"current_password": WORLD_PASSWORD, "new_password": weak},
            headers=clinic.clinician.headers,
        )
        assert_refused(response, "new_password", reason, weak)
    kept = await api.client.post(
        "/v1/auth/token", data={"username": email, "password": WORLD_PASSWORD}
    )
    assert kept.status_code == 200


async def test_an_existing_weak_password_keeps_working_until_changed(api: Api) -> None:
    weak = "password1234"
    clinic = await insert_clinic(api.db, api.clock.now(), await hash_password(weak))
    signed_in = await api.client.post(
        "/v1/auth/token", data={"username": clinic.admin.email, "password": weak}
    )
    assert signed_in.status_code == 200
    changed = await api.client.post(
        "/v1/me/password",
        json={"current_password": weak, "new_password": "saffron lantern quietly 7"},
        headers={"Authorization": f"Bearer {signed_in.json()['access_token']}"},
    )
    assert changed.status_code == 204, changed.text
