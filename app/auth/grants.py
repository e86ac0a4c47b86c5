"""POST /v1/auth/token: the password grant (staff, service.login_staff) and the client
credentials grant (integration clients, with HTTP Basic or a signed client assertion)."""

import base64
import binascii
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.audit.actions import CLIENT_TOKEN
from app.audit.record import stage
from app.auth import service
from app.auth.oauth import OAuthProblem, invalid_client
from app.auth.schemas import AccessToken, TokenRequest
from app.auth.throttling import SignInThrottle
from app.core.audit import note_actor, note_resource
from app.core.deps import TOKEN_URL, Services
from app.core.security import Principal, digest, issue_access_token
from app.core.types import storable
from app.integrations.assertions import (
    CLIENT_ASSERTION_TYPE,
    InvalidClientAssertion,
    unverified_client_id,
    verify_client_assertion,
)
from app.integrations.models import IntegrationClient, UsedClientAssertion
from app.integrations.scopes import SCOPES

# A stolen client token is good for minutes at most; a client asks again as often as it needs.
CLIENT_TOKEN_LIFETIME = timedelta(seconds=300)
_LIMITS = {"username": 320, "password": 256, "scope": 1000, "client_id": 255}


def token_url(request: Request) -> str:
    """The token endpoint's absolute URL: what a client assertion's `aud` must be."""
    return str(request.base_url).rstrip("/") + TOKEN_URL


async def issue_token(
    services: Services, form: TokenRequest, request: Request, address: str
) -> AccessToken:
    for name, limit in _LIMITS.items():
        value = getattr(form, name)
        if value is not None and (len(value) > limit or not _storable(value)):
            raise OAuthProblem("invalid_request", f"{name} is too long or not valid text")
    grant = form.grant_type or "password"
    if grant == "password":
        if not form.username or not form.password:
            raise OAuthProblem("invalid_request", "username and password are required")
        return await service.login_staff(services, form.username, form.password, address)
    if grant == "client_credentials":
        credentials = _credentials(form, request.headers.get("authorization"))
        account = f"client:{credentials.client_id}"
        async with SignInThrottle(services, "token", address, account=account).attempt():
            return await _client_token(services, credentials, form.scope, token_url(request))
    raise OAuthProblem(
        "unsupported_grant_type", "grant_type must be password or client_credentials"
    )


def _storable(value: str) -> bool:
    try:
        storable(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Credentials:
    client_id: str
    secret: str | None = None  # client_secret_basic
    assertion: str | None = None  # private_key_jwt

    @property
    def basic(self) -> bool:
        return self.secret is not None


def _credentials(form: TokenRequest, authorization: str | None) -> _Credentials:
    basic = authorization is not None and authorization[:6].lower() == "basic "
    if basic and (form.client_assertion or form.client_assertion_type):
        raise OAuthProblem("invalid_request", "use one way of authenticating the client")
    if basic:
        assert authorization is not None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise invalid_client("the Basic credentials are malformed", basic=True) from None
        # RFC 6749 2.3.1: both are form-urlencoded before they are joined.
        return _Credentials(unquote(raw_id), secret=unquote(raw_secret))
    if form.client_assertion_type is None and form.client_assertion is None:
        raise invalid_client("client authentication is required", basic=True)
    if form.client_assertion_type != CLIENT_ASSERTION_TYPE or not form.client_assertion:
        raise OAuthProblem(
            "invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
        )
    try:
        claimed = unverified_client_id(form.client_assertion)
    except InvalidClientAssertion as exc:
        raise invalid_client(str(exc)) from None
    if form.client_id is not None and form.client_id != claimed:
        raise invalid_client("client_id is not the assertion's")
    return _Credentials(claimed, assertion=form.client_assertion)


async def _client_token(
    services: Services, credentials: _Credentials, scope: str | None, aud: str
) -> AccessToken:
    now = services.clock.now()
    client = await _live_client(services, credentials)
    scopes = _granted(scope, client.scopes)
    principal = Principal(
        client.id, "integration", client.clinic_id, session_id=client.id, scopes=scopes
    )
    note_actor(principal)  # a failed attempt on a known client is that client's, as for staff
    used: UsedClientAssertion | None = None
    if credentials.assertion is not None:
        used = _verified_assertion(client, credentials.assertion, aud, now)
    elif not _secret_matches(client.secret_hash, credentials.secret or ""):
        raise invalid_client("the client credentials are not valid", basic=True)
    try:
        async with services.db.write() as session:
            current = await session.get_one(IntegrationClient, client.id, with_for_update=True)
            if current.revoked_at is not None:
                raise invalid_client("the client is unknown or revoked", basic=credentials.basic)
            if used is not None:
                await session.execute(
                    delete(UsedClientAssertion).where(
                        UsedClientAssertion.client_id == client.id,
                        UsedClientAssertion.expires_at <= now,
                    )
                )
                session.add(used)
                await session.flush()  # a jti already used fails here, on its primary key
            key = await services.keyring.current(session)
            note_resource(client.id)
            await stage(session, now, action=CLIENT_TOKEN)
    except IntegrityError:
        raise invalid_client("the client assertion was already used (jti)") from None
    token = issue_access_token(principal, key=key, now=now, lifetime=CLIENT_TOKEN_LIFETIME)
    return AccessToken(
        access_token=token,
        expires_in=int(CLIENT_TOKEN_LIFETIME.total_seconds()),
        scope=" ".join(sorted(scopes)),
    )


async def _live_client(services: Services, credentials: _Credentials) -> IntegrationClient:
    try:
        client_id = uuid.UUID(credentials.client_id)
    except ValueError:
        client_id = None
    client = None
    if client_id is not None:
        async with services.db.read() as session:
            client = await session.get(IntegrationClient, client_id)
    if client is None or client.revoked_at is not None:
        raise invalid_client("the client is unknown or revoked", basic=credentials.basic)
    return client


def _verified_assertion(
    client: IntegrationClient, assertion: str, aud: str, now: datetime
) -> UsedClientAssertion:
    if not client.jwks:
        raise invalid_client("the client has no keys for client assertions")
    try:
        claims = verify_client_assertion(
            assertion, jwks=client.jwks, client_id=str(client.id), token_url=aud, now=now
        )
    except InvalidClientAssertion as exc:
        raise invalid_client(str(exc)) from None
    return UsedClientAssertion(client_id=client.id, jti=claims.jti, expires_at=claims.expires_at)


def _secret_matches(secret_hash: str | None, secret: str) -> bool:
    # Compared even without a stored secret, so the answer takes as long either way.
    return hmac.compare_digest(secret_hash or "-" * 64, digest(secret)) and bool(secret_hash)


def _granted(scope: str | None, allowed: list[str]) -> frozenset[str]:
    held = frozenset(allowed) & frozenset(SCOPES)
    if not scope or not scope.strip():
        return held
    wanted = frozenset(scope.split())
    if not wanted <= held:
        raise OAuthProblem("invalid_scope", "the scope asks for more than the client was given")
    return wanted
