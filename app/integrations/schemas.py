import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from app.core.scopes import SCOPES
from app.core.types import RequestModel, ResponseModel, Text
from app.integrations.assertions import validate_jwks


def _known_scope(name: str) -> str:
    if name not in SCOPES:
        raise ValueError(f"unknown scope; use one of {sorted(SCOPES)}")
    return name


def _distinct_sorted(names: list[str]) -> list[str]:
    return sorted(set(names))


def _usable_jwks(jwks: dict[str, Any] | None) -> dict[str, Any] | None:
    if jwks is not None:
        validate_jwks(jwks)  # ValueError: a 422 that says what is wrong
    return jwks


Scope = Annotated[
    str, AfterValidator(_known_scope), Field(json_schema_extra={"enum": list(SCOPES)})
]
Scopes = Annotated[
    list[Scope],
    AfterValidator(_distinct_sorted),
    Field(
        min_length=1,
        max_length=len(SCOPES),
        description="What the client may do; each operation names the scope it needs.",
        examples=[["patients:read", "alerts:read", "alerts:write"]],
    ),
]
Jwks = Annotated[
    dict[str, Any] | None,
    AfterValidator(_usable_jwks),
    Field(
        description="A public JWK set (RSA keys for RS384 of at least 2048 bits, or P-384 EC "
        "keys for ES384, each with a distinct `kid`; at most 10) for `private_key_jwt`. "
        "Private key members are refused.",
        examples=[{"keys": [{"kty": "EC", "crv": "P-384", "kid": "key-1", "x": "…", "y": "…"}]}],
    ),
]
Name = Annotated[Text, Field(min_length=1, max_length=100, examples=["Clinic EHR bridge"])]


class IntegrationClientCreate(RequestModel):
    name: Name
    scopes: Scopes
    jwks: Jwks = None


class IntegrationClientUpdate(RequestModel):
    name: Name | None = None
    scopes: Scopes | None = None
    jwks: Jwks = None


class IntegrationClientOut(ResponseModel):
    client_id: uuid.UUID = Field(validation_alias="id")
    name: str
    scopes: list[str]
    auth_methods: list[Literal["client_secret_basic", "private_key_jwt"]] = Field(
        description="How the client may authenticate at the token endpoint."
    )
    jwks: dict[str, Any] | None = Field(description="Its public keys, when it has some.")
    created_at: datetime
    created_by: uuid.UUID = Field(description="The admin who registered it.")
    revoked_at: datetime | None


class IntegrationClientCreated(IntegrationClientOut):
    client_secret: str | None = Field(
        default=None,
        description="Shown this once, never again (only its digest is stored); absent when "
        "the client registered a JWK set instead. Send it with HTTP Basic.",
    )
