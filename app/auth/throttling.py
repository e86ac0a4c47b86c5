"""Throttles on the sign-in endpoints (/v1/auth/token, /enroll and /refresh).

Every attempt counts against its client address at once (so a burst cannot slip in before
the first failure is recorded). Each failure also counts against the address and, for a
staff sign-in, the account, on a back-off that grows while the failures go on: 5 failures a
minute lock the account for a minute, each further one doubles it. A locked account is
refused before its password is checked, so a lockout costs no argon2 hash. An account is
keyed by the e-mail as typed, known or not: an unknown e-mail locks the same way, and the
lockout tells no one which accounts exist. A successful sign-in clears the account's failures;
the address keeps its own, since others may share it.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from app.auth.oauth import OAuthProblem
from app.core.deps import Services
from app.core.domain_errors import InvalidEnrollmentCode, NotAuthenticated, TooManyRequests
from app.core.errors import render, respond
from app.core.ratelimit import backoff, opaque, per_minute

Endpoint = Literal["token", "enroll", "refresh"]
# What the endpoints raise when the credential itself is wrong (a code, a password, a token):
# every OAuth error of the token endpoint, a refresh token refused, an enrollment code refused.
_WRONG_CREDENTIAL = (OAuthProblem, NotAuthenticated, InvalidEnrollmentCode)


class SignInThrottle:
    def __init__(
        self, services: Services, endpoint: Endpoint, address: str, account: str | None = None
    ) -> None:
        settings = services.settings
        self._throttle = services.throttle
        self._address = (endpoint, "address", address)
        self._account = account_key(account) if account is not None else None
        self._attempts = per_minute(settings.auth_attempts_per_address_per_minute)
        self._address_backoff = backoff(settings.auth_attempts_per_address_per_minute)
        self._account_backoff = backoff(settings.login_failures_per_account_per_minute)

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Refuses (TooManyRequests) before the work when a limit is reached; counts the
        work's failure."""
        await self._throttle.take(self._attempts, *self._address)
        await self._throttle.check(self._address_backoff, *self._address, "failures")
        if self._account:
            await self._throttle.check(self._account_backoff, *self._account)
        try:
            yield
        except _WRONG_CREDENTIAL:
            await self._failed()
            raise
        if self._account:
            await self._throttle.forget(self._account_backoff, *self._account)

    async def refuse_when_limited(self) -> None:
        """429 while the address may make no attempt: counts nothing (SignInGate)."""
        await self._throttle.check((self._attempts,), *self._address)
        await self._throttle.check(self._address_backoff, *self._address, "failures")

    async def _failed(self) -> None:
        await self._throttle.record(self._address_backoff, *self._address, "failures")
        if self._account:
            await self._throttle.record(self._account_backoff, *self._account)


def account_key(email: str) -> tuple[str, str]:
    return ("account", opaque(email.lower()))


class AccountLockout:
    """The account's failure back-off of sign-in, for a password checked elsewhere: a wrong
    current password on a password change is one more guess at the same secret (with a
    stolen token, say), so it counts, and is refused, the same way."""

    def __init__(self, services: Services, email: str) -> None:
        self._throttle = services.throttle
        self._key = account_key(email)
        self._limits = backoff(services.settings.login_failures_per_account_per_minute)

    async def check(self) -> None:
        await self._throttle.check(self._limits, *self._key)

    async def failed(self) -> None:
        await self._throttle.record(self._limits, *self._key)


_SIGN_IN_PATHS: dict[str, Endpoint] = {
    "/v1/auth/token": "token",
    "/v1/auth/enroll": "enroll",
    "/v1/auth/refresh": "refresh",
}


class SignInGate:
    """An address the sign-in throttle already refuses is answered 429 here, before routing,
    the body and the audit (a throttle's 429 is not audited anyway). In a flood that is
    nearly every request, and each one answered for a fraction of the cost leaves the event
    loop to everyone else's requests (bench/README.md, "The edge under floods")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_post = scope["type"] == "http" and scope["method"] == "POST"
        endpoint = _SIGN_IN_PATHS.get(scope["path"]) if is_post else None
        if endpoint is not None:
            client = scope.get("client")
            address = client[0] if client else "unknown"  # as deps.client_address sees it
            throttle = SignInThrottle(scope["app"].state.services, endpoint, address)
            try:
                await throttle.refuse_when_limited()
            except TooManyRequests as exc:
                await respond(render(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)
