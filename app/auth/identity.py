"""Who a bearer token belongs to, as the database says at this request.

A token is only a pointer: the staff session or patient device it names must still be open,
the staff user active (or the integration client not revoked), and the key that signed it not
retired. Role and clinic come from the database, never from the token alone. One indexed
lookup per request (statements.py) and no cache, so a deactivation, logout, device revocation
or key retirement applies at the very next request.
"""

from typing import Any

from app.auth.statements import client_statement, device_statement, staff_statement
from app.core.clock import Clock
from app.core.db import Database
from app.core.keyring import Keyring, UnknownKey
from app.core.scopes import scope_satisfied
from app.core.security import (
    InvalidToken,
    Principal,
    Role,
    TokenClaims,
    decode_access_token,
    token_key_id,
)


class Authenticator:
    def __init__(self, db: Database, keyring: Keyring, clock: Clock) -> None:
        self._db = db
        self._keyring = keyring
        self._clock = clock

    async def principal(self, token: str) -> Principal:
        """Raises InvalidToken for anything but a live session or device."""
        now = self._clock.now()
        try:
            key = await self._keyring.key(token_key_id(token))
        except UnknownKey as exc:
            raise InvalidToken("signed by a key this deployment does not hold") from exc
        claims = decode_access_token(token, key=key, now=now)
        if claims.role == "integration":
            return await self._client(claims)
        role = await self._current_role(claims, now)
        if role is None:
            raise InvalidToken("the session or device has ended")
        return Principal(
            claims.subject_id, role, claims.clinic_id, claims.patient_id, claims.session_id
        )

    async def _client(self, claims: TokenClaims) -> Principal:
        params = {
            "sid": claims.session_id,
            "sub": claims.subject_id,
            "clinic": claims.clinic_id,
            "kid": claims.kid,
        }
        granted = await self._db.lookup_scalar(client_statement(), params)
        if granted is None:
            raise InvalidToken("the integration client is unknown or revoked")
        # The token's scopes, less any the client has lost since it was issued. A narrowed
        # scope stays while the client's grant still covers it (system/Patient.read under
        # system/*.read: app/core/scopes.py).
        held = frozenset(granted)
        scopes = frozenset(s for s in claims.scopes or () if scope_satisfied(s, held))
        return Principal(
            claims.subject_id,
            "integration",
            claims.clinic_id,
            session_id=claims.session_id,
            scopes=scopes,
        )

    async def _current_role(self, claims: TokenClaims, now: Any) -> Role | None:
        params = {
            "sid": claims.session_id,
            "sub": claims.subject_id,
            "clinic": claims.clinic_id,
            "kid": claims.kid,
        }
        if claims.role == "patient":
            if claims.patient_id != claims.subject_id:
                return None
            found = await self._db.lookup_scalar(device_statement(), params)
            return "patient" if found is not None else None
        role = await self._db.lookup_scalar(staff_statement(), {**params, "now": now})
        return "admin" if role == "admin" else "clinician" if role == "clinician" else None
