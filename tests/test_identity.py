"""Identity a clinic can trust: no key in the source, rotation and retirement, server-side
staff sessions, and patient devices, each checked at the very next request."""

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.migrations import upgrade
from app.main import create_app
from app.staff.service import create_clinic_with_admin
from tests.conftest import START
from tests.helpers import WORLD_PASSWORD, Api, ClinicActors, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio
# The development key an earlier version shipped in its source.
PUBLISHED_KEY = "aftercare-development-secret-key-change-me-0123456789"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(api: Api, email: str, password: str = WORLD_PASSWORD) -> str:
    response = await api.client.post(
        "/v1/auth/token", data={"username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def status_of(api: Api, token: str, path: str = "/v1/me") -> int:
    return (await api.client.get(path, headers=bearer(token))).status_code


# --- signing keys -----------------------------------------------------------------------------


async def test_a_default_install_signs_with_its_own_key_only(
    backend: str, empty_database_factory: Any
) -> None:
    url = empty_database_factory(backend)
    await upgrade(url)
    settings = Settings(database_url=url, secret_key="")
    apps = [create_app(settings, FixedClock(START)) for _ in range(2)]
    async with apps[0].router.lifespan_context(apps[0]), apps[1].router.lifespan_context(apps[1]):
        await create_clinic_with_admin(
            apps[0].state.services,
            clinic_name="C",
            email="a@c.example",
            password="long-password-12",
            name="A",
        )
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t")
            for a in apps
        ]
        login_response = await clients[0].post(
            "/v1/auth/token", data={"username": "a@c.example", "password": "long-password-12"}
        )
        token = login_response.json()["access_token"]
        # A second instance on the same database verifies it: the key lives in the database.
        assert (await clients[1].get("/v1/me", headers=bearer(token))).status_code == 200
        # The clinic's trail starts with its first admin, made by an operator.
        created = await clients[1].get(
            "/v1/audit-events", params={"action": "staff.create"}, headers=bearer(token)
        )
        assert [e["actor_type"] for e in created.json()["items"]] == ["operator"]
        claims = jwt.decode(token, options={"verify_signature": False})
        kid = jwt.get_unverified_header(token)["kid"]
        for secret, header in [
            (PUBLISHED_KEY, {}),
            (PUBLISHED_KEY, {"kid": kid}),
            ("x" * 16 + uuid.uuid4().hex, {"kid": kid}),
        ]:
            forged = jwt.encode({**claims, "role": "admin"}, secret, headers=header)
            assert (await clients[1].get("/v1/me", headers=bearer(forged))).status_code == 401
        for client in clients:
            await client.aclose()


@pytest.mark.unit
@pytest.mark.parametrize("key", ["changeme", "...", "short-but-random-Zq8", PUBLISHED_KEY])
def test_a_weak_key_stops_migrate_and_worker_with_one_line(key: str) -> None:
    for command in (["migrate"], ["worker"], ["rotate-signing-key", "--list"]):
        result = CliRunner().invoke(cli, command, env={"AFTERCARE_SECRET_KEY": key})
        assert result.exit_code == 2, (command, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "AFTERCARE_SECRET_KEY" in lines[0], result.output


@pytest.mark.sqlite_only
def test_serve_with_changeme_exits_non_zero_with_one_line(backend: str, tmp_path: Path) -> None:
    aftercare = Path(sys.executable).parent / "aftercare"
    done = subprocess.run(
        [str(aftercare), "serve", "--port", "1"],
        env={
            "PATH": "/usr/bin:/bin",
            "AFTERCARE_SECRET_KEY": "changeme",
            "AFTERCARE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: AFTERCARE_SECRET_KEY"), done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


async def test_rotation_keeps_old_tokens_until_the_key_is_retired(api: Api) -> None:
    staff = await api.new_clinic()
    before = await login(api, staff.clinician.email or "")
    old_kid = jwt.get_unverified_header(before)["kid"]
    keyring = api.app.state.services.keyring
    async with api.db.write() as session:
        new_kid = await keyring.rotate(session)
    after = await login(api, staff.clinician.email or "")
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    assert await status_of(api, before) == 200  # the previous key still verifies
    try:
        async with api.db.write() as session:
            assert await keyring.retire(session, old_kid)
        assert await status_of(api, before) == 401
        assert await status_of(api, after) == 200
    finally:  # the tests that follow sign with the test key again: back in service first,
        await _restore_test_key(api, old_kid)  # so retiring the new one makes no other
        async with api.db.write() as session:
            await keyring.retire(session, new_kid)


async def _restore_test_key(api: Api, kid: str) -> None:
    from sqlalchemy import update

    from app.core.keyring import SigningKeyRecord

    async with api.db.write() as session:
        await session.execute(
            update(SigningKeyRecord).where(SigningKeyRecord.kid == kid).values(retired_at=None)
        )


# --- staff sessions ---------------------------------------------------------------------------


async def _deactivate(api: Api, clinic: ClinicActors, user_id: uuid.UUID) -> httpx.Response:
    return await api.client.patch(
        f"/v1/staff/{user_id}", json={"active": False}, headers=clinic.admin.headers
    )


async def test_a_deactivated_clinician_is_401_at_the_very_next_request(api: Api) -> None:
    clinic = await api.new_clinic()
    patient = await api.create_patient(clinic.clinician)
    assert await status_of(api, clinic.clinician.token, "/v1/patients") == 200
    assert (await _deactivate(api, clinic, clinic.clinician.id)).status_code == 200
    assert await status_of(api, clinic.clinician.token, "/v1/patients") == 401
    assert await status_of(api, clinic.clinician.token, f"/v1/patients/{patient['id']}") == 401
    relogin = await api.client.post(
        "/v1/auth/token", data={"username": clinic.clinician.email, "password": WORLD_PASSWORD}
    )
    assert relogin.status_code == 400 and relogin.json()["error"] == "invalid_grant"
    reactivated = await api.client.patch(
        f"/v1/staff/{clinic.clinician.id}", json={"active": True}, headers=clinic.admin.headers
    )
    assert reactivated.status_code == 200 and reactivated.json()["active"] is True
    assert await status_of(api, await login(api, clinic.clinician.email or "")) == 200
    assert await status_of(api, clinic.clinician.token) == 401  # its old sessions stay ended


async def test_a_role_change_applies_at_the_next_request(api: Api) -> None:
    clinic = await api.new_clinic()
    token = clinic.clinician.token
    assert await status_of(api, token, "/v1/webhooks") == 403
    promoted = await api.client.patch(
        f"/v1/staff/{clinic.clinician.id}", json={"role": "admin"}, headers=clinic.admin.headers
    )
    assert promoted.status_code == 200
    assert await status_of(api, token, "/v1/webhooks") == 200
    demoted = await api.client.patch(
        f"/v1/staff/{clinic.clinician.id}", json={"role": "clinician"}, headers=clinic.admin.headers
    )
    assert demoted.status_code == 200
    assert await status_of(api, token, "/v1/webhooks") == 403


async def test_the_last_active_admin_cannot_lock_the_clinic_out(api: Api) -> None:
    clinic = await api.new_clinic()
    for change in ({"active": False}, {"role": "clinician"}):
        refused = await api.client.patch(
            f"/v1/staff/{clinic.admin.id}", json=change, headers=clinic.admin.headers
        )
        assert refused.status_code == 409, refused.text
    assert await status_of(api, clinic.admin.token, "/v1/webhooks") == 200


async def test_password_change_ends_the_other_sessions(api: Api) -> None:
    clinic = await api.new_clinic()
    email = clinic.clinician.email or ""
    here, elsewhere = await login(api, email), await login(api, email)
    wrong = await api.client.post(
        "/v1/me/password",
        json={"current_password": "not-it", "new_password": "a-brand-new-password-1"},
        headers=bearer(here),
    )
    assert wrong.status_code == 422 and await status_of(api, elsewhere) == 200
    changed = await api.client.post(
        "/v1/me/password",
        json={"current_password": WORLD_PASSWORD, "new_password": "a-brand-new-password-1"},
        headers=bearer(here),
    )
    assert changed.status_code == 204
    assert await status_of(api, here) == 200
    assert await status_of(api, elsewhere) == 401
    assert await status_of(api, clinic.clinician.token) == 401
    assert await status_of(api, await login(api, email, "a-brand-new-password-1")) == 200
    sessions = (await api.client.get("/v1/me/sessions", headers=bearer(here))).json()
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1 and current[0]["ended_at"] is None
    assert {s["ended_reason"] for s in sessions if s["ended_at"]} == {"password changed"}


async def test_logout_ends_the_session(api: Api) -> None:
    clinic = await api.new_clinic()
    token = await login(api, clinic.admin.email or "")
    out = await api.client.post("/v1/auth/logout", headers=bearer(token))
    assert out.status_code == 204
    assert await status_of(api, token) == 401
    assert await status_of(api, clinic.admin.token) == 200  # another session of the same user


async def test_an_admin_can_end_someones_sessions_without_deactivating(api: Api) -> None:
    clinic = await api.new_clinic()
    token = await login(api, clinic.clinician.email or "")
    ended = await api.client.delete(
        f"/v1/staff/{clinic.clinician.id}/sessions", headers=clinic.admin.headers
    )
    assert ended.status_code == 204
    assert (
        await status_of(api, token) == 401 and await status_of(api, clinic.clinician.token) == 401
    )
    assert await status_of(api, await login(api, clinic.clinician.email or "")) == 200
    other = await api.client.delete(
        f"/v1/staff/{api.world.a.clinician.id}/sessions", headers=clinic.admin.headers
    )
    assert other.status_code == 404  # another clinic's staff user


async def test_a_deactivated_users_records_still_read(api: Api) -> None:
    clinic = await api.new_clinic()
    author = clinic.clinician
    patient = await api.create_patient(author)
    procedure = await api.create_procedure(author, patient["id"])
    staff_entered = await api.post_report(author, procedure["id"], report_body())
    assert staff_entered.status_code == 201
    owner = await api.patient_actor(patient)
    emergency = report_body(side_effects=[{"kind": "saddle_numbness", "severity": "mild"}])
    raised = await api.post_report(owner, procedure["id"], emergency)
    alert_id = raised.json()["alerts"][0]["id"]
    acked = await api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={"note": "called"}, headers=author.headers
    )
    assert acked.status_code == 200
    code = await api.client.post(
        f"/v1/patients/{patient['id']}/enrollment-codes", headers=author.headers
    )
    assert (await _deactivate(api, clinic, author.id)).status_code == 200

    reader = clinic.admin.headers
    alert = await api.client.get(f"/v1/alerts/{alert_id}", headers=reader)
    assert alert.status_code == 200 and alert.json()["acknowledged_by"] == str(author.id)
    reports = await api.client.get(f"/v1/procedures/{procedure['id']}/reports", headers=reader)
    assert reports.status_code == 200
    assert "staff" in {r["entered_by"] for r in reports.json()["items"]}
    timeline = await api.client.get(f"/v1/patients/{patient['id']}/timeline", headers=reader)
    assert timeline.status_code == 200 and len(timeline.json()["items"]) >= 3
    staff = (await api.client.get("/v1/staff", headers=reader)).json()
    assert {s["id"]: s["active"] for s in staff}[str(author.id)] is False
    # The code the deactivated clinician printed still enrols the phone.
    enrolled = await api.client.post("/v1/auth/enroll", json={"code": code.json()["code"]})
    assert enrolled.status_code == 200


# --- patient devices --------------------------------------------------------------------------


async def _enrol(api: Api, staff_headers: dict[str, str], patient_id: str) -> dict[str, Any]:
    code = await api.client.post(
        f"/v1/patients/{patient_id}/enrollment-codes", headers=staff_headers
    )
    tokens = await api.client.post(
        "/v1/auth/enroll", json={"code": code.json()["code"], "device_name": "Phone"}
    )
    assert tokens.status_code == 200, tokens.text
    return dict(tokens.json())


async def test_re_enrolling_cuts_off_the_old_phone(api: Api) -> None:
    clinic = api.world.a
    patient = await api.create_patient(clinic.clinician)
    old = await _enrol(api, clinic.clinician.headers, patient["id"])
    assert await status_of(api, old["access_token"]) == 200
    new = await _enrol(api, clinic.clinician.headers, patient["id"])
    assert await status_of(api, old["access_token"]) == 401
    refreshed = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert await status_of(api, new["access_token"]) == 200
    renewed = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}
    )
    assert renewed.status_code == 200
    assert await status_of(api, renewed.json()["access_token"]) == 200


async def test_a_reused_refresh_token_revokes_its_device(api: Api) -> None:
    clinic = api.world.a
    patient = await api.create_patient(clinic.clinician)
    phone = await _enrol(api, clinic.clinician.headers, patient["id"])
    first = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert first.status_code == 200
    replay = await api.client.post(
        "/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert replay.status_code == 401
    assert await status_of(api, first.json()["access_token"]) == 401
    devices = await api.client.get(
        f"/v1/patients/{patient['id']}/devices", headers=clinic.clinician.headers
    )
    assert [d["revoked_reason"] for d in devices.json()] == ["refresh token reused"]


async def test_a_process_without_the_environment_key_refuses_rather_than_replace_it(
    api: Api,
) -> None:
    """A worker container or a shell started without AFTERCARE_SECRET_KEY must not quietly
    move the deployment to a new key: it says what is missing, and sign-ins there are 503."""
    from app.core.clock import SystemClock
    from app.core.keyring import KeyNotHere, Keyring, SigningKeyRecord

    bare = Keyring(api.db, SystemClock(), "")
    with pytest.raises(KeyNotHere) as refused:
        await bare.ensure()
    assert "AFTERCARE_SECRET_KEY" in refused.value.explanation
    async with api.db.read() as session:
        kept = await session.scalar(
            select(SigningKeyRecord.source)
            .where(SigningKeyRecord.retired_at.is_(None))
            .order_by(SigningKeyRecord.created_at.desc())
            .limit(1)
        )
    assert kept == "environment"  # nothing generated
    api.app.state.services.keyring = bare
    api.app.state.services.authenticator._keyring = bare
    signed_in = await api.client.post(
        "/v1/auth/token", data={"username": api.world.a.admin.email, "password": WORLD_PASSWORD}
    )
    assert_problem(signed_in, 503)


@pytest.mark.postgres_only
async def test_a_restarted_database_costs_no_request(api: Api) -> None:
    """The identity check's pool has no ping (it is one read, tried again on a fresh
    connection when the pooled one is dead); the main pool pings. Connections killed under
    both: the next requests still answer."""
    from sqlalchemy import text

    headers = api.world.a.clinician.headers
    assert (await api.client.get("/v1/me", headers=headers)).status_code == 200
    async with api.db.read() as session:
        killed = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert killed and killed >= 1
    for _ in range(3):
        assert (await api.client.get("/v1/me", headers=headers)).status_code == 200


@pytest.mark.postgres_only
async def test_a_restarted_database_costs_no_request_on_asyncpg(
    api: Api, database_url: str
) -> None:
    """The same through asyncpg (the production driver), whose pool pings in one round trip
    of its own (core/db.py)."""
    from sqlalchemy import text

    url = database_url.replace("+psycopg", "+asyncpg")
    app = create_app(
        Settings(database_url=url, secret_key=api.app.state.services.settings.secret_key),
        FixedClock(START),
    )
    headers = api.world.a.clinician.headers
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        assert (await client.get("/v1/patients", headers=headers)).status_code == 200
        async with api.db.read() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        for _ in range(3):
            assert (await client.get("/v1/patients", headers=headers)).status_code == 200
