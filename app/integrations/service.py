"""Integration clients, managed by a clinic's admins. A revoked client's tokens stop at their
next request: app/auth/identity.py checks the client on every request. The webhook endpoints
it registered are disabled as it is revoked."""

import secrets
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.core.audit import note_resource
from app.core.deps import Services
from app.core.domain_errors import InvalidField, NotFound, StateConflict, changes_of
from app.core.security import Principal, digest
from app.integrations.models import IntegrationClient
from app.integrations.schemas import (
    IntegrationClientCreate,
    IntegrationClientCreated,
    IntegrationClientOut,
    IntegrationClientUpdate,
)
from app.webhooks.endpoint_health import add_disabled_event
from app.webhooks.models import WebhookEndpoint


def client_out(client: IntegrationClient) -> IntegrationClientOut:
    return IntegrationClientOut.model_validate(_values(client))


def _values(client: IntegrationClient) -> dict[str, Any]:
    methods = []
    if client.secret_hash is not None:
        methods.append("client_secret_basic")
    if client.jwks is not None:
        methods.append("private_key_jwt")
    return {
        "id": client.id,
        "name": client.name,
        "scopes": client.scopes,
        "auth_methods": methods,
        "jwks": client.jwks,
        "created_at": client.created_at,
        "created_by": client.created_by,
        "revoked_at": client.revoked_at,
    }


async def create_client(
    services: Services, caller: Principal, body: IntegrationClientCreate
) -> IntegrationClientCreated:
    now = services.clock.now()
    # With a JWK set the client proves itself with its private key: no secret to leak.
    secret = None if body.jwks is not None else secrets.token_urlsafe(32)  # 256 bits
    client = IntegrationClient(
        id=uuid.uuid4(),
        clinic_id=caller.clinic_id,
        name=body.name,
        scopes=body.scopes,
        secret_hash=digest(secret) if secret else None,
        jwks=body.jwks,
        created_at=now,
        created_by=caller.subject_id,
    )
    async with services.db.write() as session:
        session.add(client)
        note_resource(client.id)
        await stage(session, now)
    return IntegrationClientCreated.model_validate({**_values(client), "client_secret": secret})


async def list_clients(services: Services, caller: Principal) -> list[IntegrationClientOut]:
    async with services.db.read() as session:
        clients = await session.scalars(
            select(IntegrationClient)
            .where(IntegrationClient.clinic_id == caller.clinic_id)
            .order_by(IntegrationClient.created_at, IntegrationClient.id)
        )
        return [client_out(client) for client in clients]


async def get_client(
    services: Services, caller: Principal, client_id: uuid.UUID
) -> IntegrationClientOut:
    async with services.db.read() as session:
        return client_out(await _load(session, caller, client_id))


async def update_client(
    services: Services, caller: Principal, client_id: uuid.UUID, body: IntegrationClientUpdate
) -> IntegrationClientOut:
    changes = changes_of(body, required=("name", "scopes"))
    now = services.clock.now()
    async with services.db.write() as session:
        client = await _load(session, caller, client_id, lock=True)
        if client.revoked_at is not None:
            raise StateConflict("a revoked client cannot be changed")
        if "jwks" in changes and changes["jwks"] is None and client.secret_hash is None:
            raise InvalidField("jwks", "the client has no secret: it needs its keys")
        for name, value in changes.items():
            setattr(client, name, value)
        await stage(session, now)
        return client_out(client)


REVOKED_REGISTRAR = "the integration client that registered it was revoked"


async def revoke_client(services: Services, caller: Principal, client_id: uuid.UUID) -> None:
    """Revokes the client and, in the same transaction, disables the webhook endpoints it
    registered (each with its `webhook_endpoint.disabled` event), so that no data goes on
    flowing to a receiver the revoked client chose. An admin may enable one again."""
    now = services.clock.now()
    async with services.db.write() as session:
        client = await _load(session, caller, client_id, lock=True)
        if client.revoked_at is None:
            client.revoked_at = now
            await _disable_endpoints_of(session, client, now)
        await stage(session, now)


async def _disable_endpoints_of(
    session: AsyncSession, client: IntegrationClient, now: datetime
) -> None:
    endpoints = await session.scalars(
        select(WebhookEndpoint)
        .where(
            WebhookEndpoint.clinic_id == client.clinic_id,
            WebhookEndpoint.created_by_client_id == client.id,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookEndpoint.id)  # the lock order the delivery workers use
        .with_for_update()
    )
    for endpoint in endpoints:
        endpoint.enabled, endpoint.disabled_at = False, now
        endpoint.disabled_reason = REVOKED_REGISTRAR
        add_disabled_event(session, endpoint, now)


async def _load(
    session: AsyncSession, caller: Principal, client_id: uuid.UUID, *, lock: bool = False
) -> IntegrationClient:
    query = select(IntegrationClient).where(
        IntegrationClient.id == client_id, IntegrationClient.clinic_id == caller.clinic_id
    )
    client = await session.scalar(query.with_for_update() if lock else query)
    if client is None:
        raise NotFound("integration client")
    return client
