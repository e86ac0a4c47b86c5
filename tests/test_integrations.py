"""Integration clients: managed by admins, signing in with the client credentials grant, and
the token endpoint's OAuth 2.0 errors (RFC 6749 5.2)."""

import base64
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.outbox.models import OutboxEvent
from app.webhooks.models import WebhookEndpoint
from tests.helpers import WORLD_PASSWORD, Actor, Api

pytestmark = pytest.mark.anyio
CLIENTS = "/v1/integrations/clients"
TOKEN = "/v1/auth/token"
OAUTH_KEYS = {"error", "error_description", "type", "title", "status", "detail"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def new_client(api: Api, admin: Actor, scopes: list[str], **body: Any) -> dict[str, Any]:
    created = await api.client.post(
        CLIENTS, json={"name": "EHR bridge", "scopes": scopes, **body}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def token_for(api: Api, client: dict[str, Any], **form: str) -> httpx.Response:
    return await api.client.post(
        TOKEN,
        data={"grant_type": "client_credentials", **form},
        headers=basic(client["client_id"], client["client_secret"]),
    )


async def client_actor(api: Api, admin: Actor, scopes: list[str]) -> tuple[Actor, str]:
    """A client of the admin's clinic with these scopes, and a bearer token of it."""
    client = await new_client(api, admin, scopes)
    response = await token_for(api, client)
    assert response.status_code == 200, response.text
    actor = Actor(
        uuid.UUID(client["client_id"]),
        "integration",
        admin.clinic_id,
        response.json()["access_token"],
    )
    return actor, client["client_id"]


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body.keys() == OAUTH_KEYS and body["error"] == error and body["status"] == status
    assert body["detail"] == body["error_description"]


async def test_admins_manage_clients_and_the_secret_is_shown_once(api: Api) -> None:
    clinic, other = await api.new_clinic(), await api.new_clinic()
    scopes = ["patients:read", "alerts:read", "patients:read"]
    client = await new_client(api, clinic.admin, scopes)
    assert client["scopes"] == ["alerts:read", "patients:read"]
    assert client["auth_methods"] == ["client_secret_basic"] and len(client["client_secret"]) >= 43
    path = f"{CLIENTS}/{client['client_id']}"
    listed = (await api.client.get(CLIENTS, headers=clinic.admin.headers)).json()
    assert [c["client_id"] for c in listed] == [client["client_id"]]
    fetched = (await api.client.get(path, headers=clinic.admin.headers)).json()
    assert "client_secret" not in listed[0] and "client_secret" not in fetched
    changed = await api.client.patch(
        path, json={"scopes": ["timeline:read"]}, headers=clinic.admin.headers
    )
    assert changed.status_code == 200 and changed.json()["scopes"] == ["timeline:read"]
    unknown = await api.client.post(
        CLIENTS, json={"name": "x", "scopes": ["everything"]}, headers=clinic.admin.headers
    )
    assert unknown.status_code == 422
    for headers in (clinic.clinician.headers, clinic.patient.headers):
        assert (await api.client.get(CLIENTS, headers=headers)).status_code == 403
    assert (await api.client.get(path, headers=other.admin.headers)).status_code == 404
    assert (await api.client.delete(path, headers=other.admin.headers)).status_code == 404
    assert (await api.client.delete(path, headers=clinic.admin.headers)).status_code == 204
    revoked = (await api.client.get(path, headers=clinic.admin.headers)).json()
    assert revoked["revoked_at"] is not None


async def test_a_client_token_works_in_its_clinic_and_revoking_is_immediate(api: Api) -> None:
    clinic = await api.new_clinic()
    client = await new_client(api, clinic.admin, ["patients:read", "alerts:read"])
    response = await token_for(api, client)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["expires_in"] == 300 and body["scope"] == "alerts:read patients:read"
    headers = {"Authorization": f"Bearer {body['access_token']}", "x-request-id": "client-read"}
    assert (await api.client.get("/v1/patients", headers=headers)).status_code == 200
    # Audited with the client as the actor.
    events = await api.client.get(
        "/v1/audit-events", params={"actor_id": client["client_id"]}, headers=clinic.admin.headers
    )
    read = next(e for e in events.json()["items"] if e["request_id"] == "client-read")
    assert read["actor_type"] == "integration_client" and read["role"] == "integration"
    assert read["action"] == "patient.list"
    path = f"{CLIENTS}/{client['client_id']}"
    assert (await api.client.delete(path, headers=clinic.admin.headers)).status_code == 204
    assert (await api.client.get("/v1/patients", headers=headers)).status_code == 401
    assert_oauth_error(await token_for(api, client), 401, "invalid_client")


async def test_a_client_token_lives_300_seconds_and_lost_scopes_stop_at_once(api: Api) -> None:
    clinic = await api.new_clinic()
    client = await new_client(api, clinic.admin, ["patients:read", "alerts:read"])
    narrowed = await token_for(api, client, scope="patients:read")
    assert narrowed.json()["scope"] == "patients:read"
    headers = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}
    assert (await api.client.get("/v1/alerts", headers=headers)).status_code == 403
    full = {"Authorization": f"Bearer {(await token_for(api, client)).json()['access_token']}"}
    api.clock.advance(timedelta(seconds=299))
    assert (await api.client.get("/v1/alerts", headers=full)).status_code == 200
    await api.client.patch(
        f"{CLIENTS}/{client['client_id']}",
        json={"scopes": ["patients:read"]},
        headers=clinic.admin.headers,
    )
    assert (await api.client.get("/v1/alerts", headers=full)).status_code == 403
    api.clock.advance(timedelta(seconds=1))
    assert (await api.client.get("/v1/patients", headers=full)).status_code == 401


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        ("wrong_secret", 401, "invalid_client"),
        ("unknown_client", 401, "invalid_client"),
        ("no_client_authentication", 401, "invalid_client"),
        ("scope_beyond_the_clients", 400, "invalid_scope"),
        ("unsupported_grant", 400, "unsupported_grant_type"),
        ("wrong_staff_password", 400, "invalid_grant"),
        ("json_body", 400, "invalid_request"),
    ],
)
async def test_token_endpoint_errors_are_oauth_errors(
    api: Api, case: str, status: int, error: str
) -> None:
    client = await new_client(api, api.world.a.admin, ["patients:read"])
    grant = {"grant_type": "client_credentials"}
    auth = basic(client["client_id"], client["client_secret"])
    request: dict[str, Any] = {
        "wrong_secret": {"data": grant, "headers": basic(client["client_id"], "nope")},
        "unknown_client": {"data": grant, "headers": basic(str(uuid.uuid4()), "nope")},
        "no_client_authentication": {"data": grant},
        "scope_beyond_the_clients": {"data": {**grant, "scope": "alerts:read"}, "headers": auth},
        "unsupported_grant": {"data": {"grant_type": "authorization_code"}, "headers": auth},
        "wrong_staff_password": {
            "data": {"username": api.world.a.clinician.email, "password": WORLD_PASSWORD + "x"}
        },
        "json_body": {"json": {"username": "a@b.c", "password": "x"}},
    }[case]
    response = await api.client.post(TOKEN, **request)
    assert_oauth_error(response, status, error)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_authorization_server_metadata(api: Api) -> None:
    response = await api.client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == "http://aftercare.test"
    assert metadata["token_endpoint"] == "http://aftercare.test/v1/auth/token"
    assert metadata["grant_types_supported"] == ["password", "client_credentials"]
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "private_key_jwt",
    ]
    assert metadata["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "alerts:write" in metadata["scopes_supported"]
    assert metadata["response_types_supported"] == []


async def test_a_client_with_webhooks_manage_registers_an_endpoint_as_itself(api: Api) -> None:
    clinic = await api.new_clinic()
    actor, client_id = await client_actor(api, clinic.admin, ["webhooks:manage"])
    created = await api.client.post(
        "/v1/webhooks", json={"url": "https://8.8.8.8/hook"}, headers=actor.headers
    )
    assert created.status_code == 201, created.text
    async with api.db.read() as session:
        endpoint = await session.get(WebhookEndpoint, uuid.UUID(created.json()["id"]))
    assert endpoint is not None
    assert endpoint.created_by is None and str(endpoint.created_by_client_id) == client_id


async def test_failed_client_authentication_tells_nothing_about_the_client(api: Api) -> None:
    """Authentication comes first: a wrong secret with a scope the client lacks is 401, not
    400 invalid_scope, and an unknown client, a revoked one and a wrong secret read alike."""
    clinic = await api.new_clinic()
    client = await new_client(api, clinic.admin, ["patients:read"])
    revoked = await new_client(api, clinic.admin, ["patients:read"])
    gone = await api.client.delete(
        f"{CLIENTS}/{revoked['client_id']}", headers=clinic.admin.headers
    )
    assert gone.status_code == 204
    grant = {"grant_type": "client_credentials"}
    lacking = await api.client.post(
        TOKEN, data={**grant, "scope": "alerts:write"}, headers=basic(client["client_id"], "x")
    )
    assert_oauth_error(lacking, 401, "invalid_client")
    answers = [
        await api.client.post(TOKEN, data=grant, headers=basic(client_id, secret))
        for client_id, secret in (
            (str(uuid.uuid4()), "nope"),  # unknown
            ("not-a-uuid", "nope"),  # unknown, and not even an id this server makes
            (revoked["client_id"], revoked["client_secret"]),  # revoked, right secret
            (client["client_id"], "nope"),  # wrong secret
        )
    ]
    for response in answers:
        assert_oauth_error(response, 401, "invalid_client")
        assert response.json() == lacking.json()
        assert response.headers["www-authenticate"] == lacking.headers["www-authenticate"]
    assert lacking.json()["error_description"] == "client authentication failed"
    # Authenticated, the same scope is what the client lacks: now that may be said.
    beyond = await token_for(api, client, scope="alerts:write")
    assert_oauth_error(beyond, 400, "invalid_scope")


async def test_revoking_a_client_disables_the_endpoints_it_registered(api: Api) -> None:
    clinic = await api.new_clinic()
    actor, client_id = await client_actor(api, clinic.admin, ["webhooks:manage"])
    mine = await api.client.post(
        "/v1/webhooks", json={"url": "https://8.8.8.8/client-hook"}, headers=actor.headers
    )
    staffs = await api.client.post(
        "/v1/webhooks", json={"url": "https://8.8.8.8/admin-hook"}, headers=clinic.admin.headers
    )
    assert mine.status_code == 201 and staffs.status_code == 201, (mine.text, staffs.text)
    path = f"{CLIENTS}/{client_id}"
    assert (await api.client.delete(path, headers=clinic.admin.headers)).status_code == 204
    hooks = {
        hook["id"]: (
            await api.client.get(f"/v1/webhooks/{hook['id']}", headers=clinic.admin.headers)
        ).json()
        for hook in (mine.json(), staffs.json())
    }
    disabled, kept = hooks[mine.json()["id"]], hooks[staffs.json()["id"]]
    assert disabled["enabled"] is False
    assert disabled["disabled_reason"] == "the integration client that registered it was revoked"
    assert kept["enabled"] is True and kept["disabled_reason"] is None
    async with api.db.read() as session:
        events = (
            await session.scalars(
                select(OutboxEvent).where(
                    OutboxEvent.clinic_id == clinic.clinic_id,
                    OutboxEvent.type == "webhook_endpoint.disabled",
                )
            )
        ).all()
    assert [e.data["webhook_id"] for e in events] == [mine.json()["id"]]
    assert events[0].data["disabled_reason"] == disabled["disabled_reason"]
    # Revoking again changes nothing and tells no one twice.
    assert (await api.client.delete(path, headers=clinic.admin.headers)).status_code == 204
    async with api.db.read() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.type == "webhook_endpoint.disabled")
            .where(OutboxEvent.clinic_id == clinic.clinic_id)
        )
    assert count == 1


async def test_a_client_with_the_fhir_wildcard_may_ask_for_one_type(api: Api) -> None:
    clinic = await api.new_clinic()
    client = await new_client(api, clinic.admin, ["system/*.read", "patients:read"])
    narrowed = await token_for(api, client, scope="system/Patient.read")
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "system/Patient.read"
    bearer = {"Authorization": f"Bearer {narrowed.json()['access_token']}"}
    # The narrowed scope holds at each request while the grant covers it...
    assert (await api.client.get("/fhir/r4/Patient", headers=bearer)).status_code == 200
    assert (await api.client.get("/fhir/r4/Task", headers=bearer)).status_code == 403
    assert (await api.client.get("/v1/patients", headers=bearer)).status_code == 403
    # ...and stops when it no longer does.
    changed = await api.client.patch(
        f"{CLIENTS}/{client['client_id']}",
        json={"scopes": ["patients:read"]},
        headers=clinic.admin.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (await api.client.get("/fhir/r4/Patient", headers=bearer)).status_code == 403
    # Neither a made-up type under the wildcard nor the wildcard under one type is granted.
    again = await new_client(api, clinic.admin, ["system/*.read"])
    assert_oauth_error(
        await token_for(api, again, scope="system/Nothing.read"), 400, "invalid_scope"
    )
    one = await new_client(api, clinic.admin, ["system/Patient.read"])
    assert_oauth_error(await token_for(api, one, scope="system/*.read"), 400, "invalid_scope")
