"""Every operation an integration client may call (OPERATION_SCOPES), sent by a client with the
scope it needs (2xx), one with every other scope but that one (403), one of another clinic on
this clinic's records (404), and a revoked one (401). Every other operation that takes a token
is 403 for a client with all scopes. One scene per backend (the audit walk's)."""

import uuid
from typing import Any

import pytest

from app.core.config import Settings
from app.core.scopes import OPERATION_SCOPES, SCOPES
from tests.conftest import UNTHROTTLED
from tests.helpers import Api, loopback_webhook_settings
from tests.test_audit_walk import PUBLIC, WALK, body_for, build_scene, close_scene, operations
from tests.test_integrations import CLIENTS, new_client, token_for

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The scene's endpoint is on loopback; the matrix asks for many tokens from one address.
    return loopback_webhook_settings(database_url).model_copy(update=UNTHROTTLED)


async def _bearer(api: Api, client: dict[str, Any], scopes: list[str]) -> dict[str, str]:
    response = await token_for(api, client, scope=" ".join(scopes))
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_scope_matrix(api: Api) -> None:
    scene = await build_scene(api)
    everything = list(SCOPES)
    ours = await new_client(api, scene.clinic.admin, everything)
    theirs = await new_client(api, scene.spare.admin, everything)
    revoked = await new_client(api, scene.clinic.admin, everything)
    other_clinic = await _bearer(api, theirs, everything)
    revoked_headers = await _bearer(api, revoked, everything)
    gone = await api.client.delete(
        f"{CLIENTS}/{revoked['client_id']}", headers=scene.clinic.admin.headers
    )
    assert gone.status_code == 204
    params = {**scene.params, "client_id": ours["client_id"]}
    ops = operations(api.app.openapi())
    # FHIR operations are not in the OpenAPI document (the CapabilityStatement describes
    # them); tests/test_fhir_base.py runs the same four checks on them.
    assert {op for op in OPERATION_SCOPES if not op.startswith("fhir_")} <= set(ops)

    async def send(op: str, headers: dict[str, str]) -> Any:
        method, route = ops[op]
        url = route.format(**params)
        return await api.client.request(method, url, json=body_for(op), headers=headers)

    try:
        # In the audit walk's order: reads, then changes (an alert is acknowledged, then
        # resolved; the delivery is retried before its endpoint is disabled).
        for op in [op for op in WALK if op in OPERATION_SCOPES]:
            needed = OPERATION_SCOPES[op]
            without = await _bearer(api, ours, [s for s in everything if s != needed])
            assert (await send(op, without)).status_code == 403, op
            assert (await send(op, revoked_headers)).status_code == 401, op
            elsewhere = await send(op, other_clinic)
            if "{" in ops[op][1]:
                assert elsewhere.status_code == 404, (op, elsewhere.text)
            else:  # a list or a create: in its own clinic, none of this clinic's records
                assert elsewhere.is_success, (op, elsewhere.text)
                assert not set(scene.params.values()) & set(_ids(elsewhere.json())), op
            allowed = await send(op, await _bearer(api, ours, [needed]))
            assert allowed.is_success, (op, allowed.text)
            if op in ("acknowledge_alert", "resolve_alert"):
                verb = "acknowledged" if op == "acknowledge_alert" else "resolved"
                alert = allowed.json()
                assert alert[f"{verb}_by_client_id"] == ours["client_id"]
                assert alert[f"{verb}_by"] is None
        # Whatever is not in the table is refused to every client, whatever its scopes.
        full = await _bearer(api, ours, everything)
        for op, (_, route) in ops.items():
            if op in OPERATION_SCOPES or op in PUBLIC or not route.startswith("/v1/"):
                continue
            assert (await send(op, full)).status_code == 403, op
    finally:
        await close_scene(api, scene)


def _ids(body: Any) -> list[str]:
    """Every string in a response that reads as a UUID."""
    if isinstance(body, dict):
        return [found for value in body.values() for found in _ids(value)]
    if isinstance(body, list):
        return [found for value in body for found in _ids(value)]
    try:
        return [str(uuid.UUID(body))] if isinstance(body, str) else []
    except ValueError:
        return []
