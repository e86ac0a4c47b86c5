import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import RequestModel, ResponseModel, Text


class StaffToken(BaseModel):
    access_token: str = Field(
        examples=["eyJhbGciOiJIUzI1NiIsImtpZCI6Ii4uLiJ9.eyJzdWIiOiIuLi4ifQ.c2ln"]
    )
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")


class AccessToken(StaffToken):
    scope: str | None = Field(
        default=None,
        description="The scopes granted, space-separated (client credentials grant only).",
        examples=["patients:read alerts:read"],
    )


class TokenRequest(BaseModel):
    """The token endpoint's form (application/x-www-form-urlencoded, RFC 6749). Every field
    is optional here and checked by the endpoint, so a malformed request is answered as
    OAuth 2.0 clients expect (400 `invalid_request`), not with a validation problem. Only the
    password grant's fields carry an example: Swagger's "Try it out" fills every field that
    has one, and a password grant sent with a client assertion is not a request anyone means."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grant_type": "password",
                    "username": "clinician@example.org",
                    "password": "correct-horse-battery-staple",
                },
                {"grant_type": "client_credentials", "scope": "patients:read alerts:read"},
            ]
        }
    )

    grant_type: str | None = Field(
        default=None,
        description="`password` (staff; the default) or `client_credentials` (integration "
        "clients, authenticated with HTTP Basic or a client assertion).",
        examples=["password"],
    )
    username: str | None = Field(
        default=None,
        description="Staff e-mail (password grant).",
        examples=["clinician@example.org"],
    )
    password: str | None = Field(
        default=None,
        description="Staff password (password grant).",
        examples=["correct-horse-battery-staple"],
    )
    scope: str | None = Field(
        default=None,
        description="Client credentials grant: the scopes wanted, space-separated; at most the "
        "client's own, which is also the default.",
    )
    client_id: str | None = Field(
        default=None,
        description="Optional with a client assertion; if given it must be the assertion's.",
    )
    client_assertion_type: str | None = Field(
        default=None,
        description="`urn:ietf:params:oauth:client-assertion-type:jwt-bearer` (private_key_jwt).",
    )
    client_assertion: str | None = Field(
        default=None,
        description="A JWT signed with RS384 or ES384 by a key of the client's JWK set: `iss` "
        "and `sub` the client id, `aud` this endpoint's URL, `exp` at most 5 minutes ahead, "
        "a `jti` never used before.",
    )


class PatientTokens(StaffToken):
    refresh_token: str
    patient_id: uuid.UUID


class EnrollRequest(RequestModel):
    code: Text = Field(min_length=1, max_length=64, examples=["7KQ2-M9XD-4TRB"])
    device_name: Text | None = Field(
        default=None,
        max_length=100,
        description="How the patient will recognise this phone in their list of devices.",
        examples=["Jordan's iPhone"],
    )
    platform: Literal["ios", "android", "web", "other"] | None = None


class PasswordChange(RequestModel):
    current_password: Text = Field(min_length=1, max_length=256)
    new_password: Text = Field(
        min_length=12,
        max_length=256,
        description="As for a new staff user: at least 12 characters, not blank, not "
        "containing the e-mail, and not weak by the zxcvbn strength estimator.",
    )


class StaffSessionOut(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_reason: str | None
    client_address: str | None
    user_agent: str | None
    current: bool = Field(description="The session this request was made with.")


class RefreshRequest(RequestModel):
    refresh_token: Text = Field(min_length=1, max_length=256)
