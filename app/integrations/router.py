import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from app.core.deps import AdminDep, ServicesDep, public_base, token_url
from app.core.errors import problem_responses
from app.core.scopes import SCOPES
from app.integrations import service
from app.integrations.schemas import (
    IntegrationClientCreate,
    IntegrationClientCreated,
    IntegrationClientOut,
    IntegrationClientUpdate,
)

router = APIRouter(prefix="/v1/integrations", tags=["integrations"])
metadata_router = APIRouter(tags=["auth"])

ClientIdPath = Annotated[
    uuid.UUID, Path(description="The client's id. Another clinic's client is a 404.")
]


@router.post(
    "/clients",
    operation_id="create_integration_client",
    summary="Register an integration client for the clinic (admin)",
    description="A clinic system gets credentials of its own, limited to `scopes`, in the "
    "caller's clinic only. Without `jwks` the response carries a generated `client_secret` "
    "(for HTTP Basic at `POST /v1/auth/token`), shown this once: only its digest is kept. "
    "With `jwks` (a public JWK set) the client signs client assertions instead "
    "(`private_key_jwt`) and gets no secret. An unknown scope is a 422.",
    status_code=201,
    response_model=IntegrationClientCreated,
    response_model_exclude_none=True,
    responses=problem_responses(401, 403, 422),
)
async def create_integration_client(
    services: ServicesDep, caller: AdminDep, body: IntegrationClientCreate
) -> IntegrationClientCreated:
    return await service.create_client(services, caller, body)


@router.get(
    "/clients",
    operation_id="list_integration_clients",
    summary="The clinic's integration clients, revoked ones included (admin)",
    description="Oldest first; not paged. Secrets are never shown again.",
    response_model=list[IntegrationClientOut],
    responses=problem_responses(401, 403),
)
async def list_integration_clients(
    services: ServicesDep, caller: AdminDep
) -> list[IntegrationClientOut]:
    return await service.list_clients(services, caller)


@router.get(
    "/clients/{client_id}",
    operation_id="get_integration_client",
    summary="One integration client (admin)",
    description="Its scopes, how it authenticates, its public keys and whether it is revoked.",
    response_model=IntegrationClientOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_integration_client(
    services: ServicesDep, caller: AdminDep, client_id: ClientIdPath
) -> IntegrationClientOut:
    return await service.get_client(services, caller, client_id)


@router.patch(
    "/clients/{client_id}",
    operation_id="update_integration_client",
    summary="Rename an integration client, change its scopes or replace its keys (admin)",
    description="Fields left out stay as they are. Scopes taken away stop working at once, "
    "also for tokens already issued; scopes added apply to tokens issued from now on. "
    "`jwks` replaces the whole key set (key rotation); it may be removed only from a client "
    "that has a secret. A revoked client cannot be changed (409).",
    response_model=IntegrationClientOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_integration_client(
    services: ServicesDep,
    caller: AdminDep,
    client_id: ClientIdPath,
    body: IntegrationClientUpdate,
) -> IntegrationClientOut:
    return await service.update_client(services, caller, client_id, body)


@router.delete(
    "/clients/{client_id}",
    operation_id="revoke_integration_client",
    summary="Revoke an integration client; its tokens stop working at once (admin)",
    description="Immediate: the next request with any token of the client is a 401, and it "
    "can get no new token. The webhook endpoints the client registered are disabled in the "
    "same step (`disabled_reason` says why, and the clinic's other endpoints get a "
    "`webhook_endpoint.disabled` event), so nothing more is sent to a receiver the revoked "
    "client chose; an admin may enable one again (`PATCH /v1/webhooks/{id}`). The client "
    "stays listed (with `revoked_at`) so the audit trail still names it. Revoking again "
    "changes nothing.",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def revoke_integration_client(
    services: ServicesDep, caller: AdminDep, client_id: ClientIdPath
) -> Response:
    await service.revoke_client(services, caller, client_id)
    return Response(status_code=204)


class AuthorizationServerMetadata(BaseModel):
    """RFC 8414."""

    issuer: str = Field(examples=["https://aftercare.example"])
    token_endpoint: str = Field(examples=["https://aftercare.example/v1/auth/token"])
    grant_types_supported: list[Literal["password", "client_credentials"]]
    token_endpoint_auth_methods_supported: list[Literal["client_secret_basic", "private_key_jwt"]]
    token_endpoint_auth_signing_alg_values_supported: list[Literal["RS384", "ES384"]]
    scopes_supported: list[str]
    response_types_supported: list[str] = Field(
        description="Empty: there is no authorization endpoint."
    )


@metadata_router.get(
    "/.well-known/oauth-authorization-server",
    operation_id="get_oauth_metadata",
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
    description="Where to get tokens and how: the grants, client authentication methods, "
    "assertion signing algorithms and scopes this server supports. Public. The "
    "`token_endpoint` is also the `aud` a client assertion must carry; both URLs are made "
    "from the deployment's public base URL when it is configured "
    "(`AFTERCARE_PUBLIC_BASE_URL`), else from the request.",
    response_model=AuthorizationServerMetadata,
)
async def get_oauth_metadata(
    request: Request, services: ServicesDep
) -> AuthorizationServerMetadata:
    return AuthorizationServerMetadata(
        issuer=public_base(request, services.settings),
        token_endpoint=token_url(request, services.settings),
        grant_types_supported=["password", "client_credentials"],
        token_endpoint_auth_methods_supported=["client_secret_basic", "private_key_jwt"],
        token_endpoint_auth_signing_alg_values_supported=["RS384", "ES384"],
        scopes_supported=list(SCOPES),
        response_types_supported=[],
    )
