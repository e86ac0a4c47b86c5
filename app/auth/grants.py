"""POST /v1/auth/token: the password grant (staff, service.login_staff) and the client
credentials grant (integration clients, with HTTP Basic or a signed client assertion)."""

import base64
import binascii
import hmac
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import unquote

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.actions import CLIENT_TOKEN
from app.audit.record import stage
from app.auth import service
from app.auth.oauth import OAuthProblem, invalid_client
from app.auth.schemas import AccessToken, TokenRequest
from app.auth.throttling import SignInThrottle
from app.core.audit import note_actor, note_resource
from app.core.deps import Services, token_url
from app.core.logsafe import FIELDS
from app.core.scopes import SCOPES, scope_satisfied
from app.core.security import Principal, digest, issue_access_token
from app.core.types import storable
from app.integrations.assertions import (
    CLIENT_ASSERTION_TYPE,
    MAX_CLIENT_ID_LENGTH,
    InvalidClientAssertion,
    unverified_client_id,
    verify_client_assertion,
)
from app.integrations.models import IntegrationClient, UsedClientAssertion

log = logging.getLogger("aftercare.auth")
_LIMITS = {"username": 320, "password": 256, "scope": 1000, "client_id": MAX_CLIENT_ID_LENGTH}


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
        # By address only: a client id is no secret, so a per-client back-off would let
        # anyone lock a clinic's integration out; a 256-bit secret or a signed assertion is
        # not guessed a few tries at a time anyway.
        aud = token_url(request, services.settings)
        async with SignInThrottle(services, "token", address).attempt():
            return await _client_token(services, credentials, form.scope, aud)
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


# The one answer to every failed client authentication: which step failed (no such client,
# a revoked one, a wrong secret, no keys, an assertion that does not verify, a jti used
# before) would tell an outsider who knows or guesses a client id what exists and how it
# signs in. The step is logged, by kind only.
CLIENT_AUTHENTICATION_FAILED = "client authentication failed"


class _Refused(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


async def _client_token(
    services: Services, credentials: _Credentials, scope: str | None, aud: str
) -> AccessToken:
    now = services.clock.now()
    lifetime = timedelta(seconds=services.settings.client_token_seconds)
    try:
        # One read of the client, in the transaction that records the token; no row lock: a
        # revocation that commits meanwhile stops the token at its first request anyway
        # (app/auth/identity.py checks the client on every request).
        async with services.db.write() as session:
            client = await _client(session, credentials)
            principal = Principal(
                client.id, "integration", client.clinic_id, session_id=client.id, scopes=None
            )
            note_actor(principal)  # a failed attempt on a known client is that client's
            if client.revoked_at is not None:
                raise _Refused("revoked_client")
            used: UsedClientAssertion | None = None
            if credentials.assertion is not None:
                used = _verified_assertion(client, credentials.assertion, aud, now)
            elif not _secret_matches(client.secret_hash, credentials.secret or ""):
                raise _Refused("wrong_secret")
            # Authenticated: only now may the answer depend on what the client holds.
            scopes = _granted(scope, client.scopes)
            principal = replace(principal, scopes=scopes)
            if used is not None:
                await _spend(session, used, now)
            key = await services.keyring.current(session)
            note_resource(client.id)
            await stage(session, now, action=CLIENT_TOKEN)
    except _Refused as refused:
        log.info(CLIENT_AUTHENTICATION_FAILED, extra={FIELDS: {"reason": refused.kind}})
        raise invalid_client(CLIENT_AUTHENTICATION_FAILED, basic=credentials.basic) from None
    token = issue_access_token(principal, key=key, now=now, lifetime=lifetime)
    return AccessToken(
        access_token=token,
        expires_in=int(lifetime.total_seconds()),
        scope=" ".join(sorted(scopes)),
    )


async def _client(session: AsyncSession, credentials: _Credentials) -> IntegrationClient:
    try:
        client_id = uuid.UUID(credentials.client_id)
    except ValueError:
        raise _Refused("unknown_client") from None
    client = await session.get(IntegrationClient, client_id)
    if client is None:
        raise _Refused("unknown_client")
    return client


async def _spend(session: AsyncSession, used: UsedClientAssertion, now: datetime) -> None:
    """Records the assertion's jti; one already recorded (a replay) is refused."""
    await session.execute(
        delete(UsedClientAssertion).where(
            UsedClientAssertion.client_id == used.client_id,
            UsedClientAssertion.expires_at <= now,
        )
    )
    session.add(used)
    try:
        await session.flush()  # only the jti is pending: its primary key is what can fail
    except IntegrityError:
        raise _Refused("assertion_replayed") from None


def _verified_assertion(
    client: IntegrationClient, assertion: str, aud: str, now: datetime
) -> UsedClientAssertion:
    if not client.jwks:
        raise _Refused("no_client_keys")
    try:
        claims = verify_client_assertion(
            assertion, jwks=client.jwks, client_id=str(client.id), token_url=aud, now=now
        )
    except InvalidClientAssertion:
        raise _Refused("assertion_invalid") from None
    return UsedClientAssertion(client_id=client.id, jti=claims.jti, expires_at=claims.expires_at)


def _secret_matches(secret_hash: str | None, secret: str) -> bool:
    # Compared even without a stored secret, so the answer takes as long either way.
    return hmac.compare_digest(secret_hash or "-" * 64, digest(secret)) and bool(secret_hash)


def _granted(scope: str | None, allowed: list[str]) -> frozenset[str]:
    held = frozenset(allowed) & frozenset(SCOPES)
    if not scope or not scope.strip():
        return held
    wanted = frozenset(scope.split())
    # system/*.read also grants each system/<Type>.read: a client may ask for less.
    if not all(one in SCOPES and scope_satisfied(one, held) for one in wanted):
        raise OAuthProblem("invalid_scope", "the scope asks for more than the client was given")
    return wanted
