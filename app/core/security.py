"""Passwords, tokens and one-time secrets. Hashing runs off the event loop."""

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal, TypeVar

import jwt
from pwdlib import PasswordHash

from app.core.domain_errors import TooManyPasswordChecks

Role = Literal["admin", "clinician", "patient", "integration"]
ROLES: tuple[Role, ...] = ("admin", "clinician", "patient", "integration")
ALGORITHM = "HS256"
ISSUER = "aftercare"
AUDIENCE = "aftercare-api"
_passwords = PasswordHash.recommended()  # argon2id
# Verified against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = _passwords.hash("not-a-real-password")
# Crockford base32 without ambiguous letters: easy to read off paper, 5 bits a character.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ENROLLMENT_CODE_LENGTH = 12  # 60 bits: not guessable within its 72-hour life


_T = TypeVar("_T")
# How many hashes may wait per slot before more are refused: a full queue drains in a few
# seconds, and a client told to come back soon does better than one left hanging.
WAITING_PER_SLOT = 8
# argon2 spends ~0.3 s of CPU a hash on threads of its own: at a lower priority, a flood of
# sign-ins takes the CPU the event loop leaves over instead of starving every other request.
HASHING_NICENESS = 19


def _lower_priority() -> None:
    if hasattr(os, "setpriority"):  # per thread on Linux; argon2's own threads inherit it
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class _HashingPool:
    """At most `concurrency` argon2 computations at once in this process, whoever asks (a
    sign-in, a password change, a new staff user): each holds 64 MiB while it runs, so a
    flood of logins queues here instead of exhausting memory, and past a queue of
    WAITING_PER_SLOT a slot it is refused (503) rather than left to wait longer."""

    def __init__(self) -> None:
        self.concurrency = 0
        self.queued = 0  # running or waiting
        self._executor: ThreadPoolExecutor | None = None

    def resize(self, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("at least one password hash must be allowed at a time")
        if concurrency != self.concurrency:
            old, self.concurrency = self._executor, concurrency
            self._executor = ThreadPoolExecutor(concurrency, "argon2", _lower_priority)
            if old:
                old.shutdown(wait=False)  # hashes under way finish on their threads

    def refuse_when_full(self) -> None:
        if self.queued >= self.concurrency * (1 + WAITING_PER_SLOT):
            # Retry roughly when the queue has drained: about half a second a hash under load.
            raise TooManyPasswordChecks(1 + self.queued // (2 * self.concurrency))

    async def run(self, work: Callable[..., _T], *args: str) -> _T:
        self.refuse_when_full()
        self.queued += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work, *args)
        finally:
            self.queued -= 1


_pool = _HashingPool()
_pool.resize(4)


def bound_password_hashing(concurrency: int) -> None:
    """Sets how many hashes may run at once in this process (password_hash_concurrency)."""
    _pool.resize(concurrency)


def refuse_when_hashing_is_full() -> None:
    """The 503 a password check would get, raised before the work that leads up to it."""
    _pool.refuse_when_full()


async def hash_password(password: str) -> str:
    return await _pool.run(_passwords.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    # An unknown user costs one full verification too, in the same queue: neither the time
    # nor a 503 tells whether an account exists.
    target = password_hash or _DUMMY_HASH
    ok = await _pool.run(_passwords.verify, password, target)
    return ok and password_hash is not None


def new_enrollment_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(ENROLLMENT_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, ENROLLMENT_CODE_LENGTH, 4))


def normalize_enrollment_code(code: str) -> str:
    cleaned = "".join(ch for ch in code.upper() if ch not in "- ")
    return cleaned.replace("O", "0").replace("I", "1").replace("L", "1")


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def new_signing_secret() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def key_id_of(secret: str) -> str:
    """A key's public name, derived from it so every process given the same
    AFTERCARE_SECRET_KEY agrees on it without talking to the others."""
    return "env-" + hmac.new(secret.encode(), b"aftercare-kid", hashlib.sha256).hexdigest()[:16]


def digest(secret: str) -> str:
    """Codes and refresh tokens are stored only as digests: a database leak does not hand
    out working credentials. They are long random strings, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the database says at this request (identity.py). Every query is
    scoped with clinic_id (and patient_id for a patient)."""

    subject_id: uuid.UUID
    role: Role
    clinic_id: uuid.UUID
    patient_id: uuid.UUID | None = None
    # The staff login session, or the patient's enrolled device, the token belongs to; for
    # an integration client the client itself (it has no sessions: its tokens are short).
    session_id: uuid.UUID | None = None
    # What an integration client's token may do (app/core/scopes.py); None for
    # people, whose role decides.
    scopes: frozenset[str] | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "clinician")

    @property
    def is_client(self) -> bool:
        return self.role == "integration"

    @property
    def staff_user_id(self) -> uuid.UUID | None:
        """The staff user acting, for a column naming staff; None for any other caller."""
        return self.subject_id if self.is_staff else None

    @property
    def client_id(self) -> uuid.UUID | None:
        """The integration client acting, for a column naming clients; None otherwise."""
        return self.subject_id if self.is_client else None

    @property
    def actor_type(self) -> Literal["staff", "patient_device", "integration_client"]:
        if self.is_client:
            return "integration_client"
        return "staff" if self.is_staff else "patient_device"


@dataclass(frozen=True)
class TokenClaims:
    """What a token says; trusted only once identity.py has checked it against the database."""

    kid: str
    subject_id: uuid.UUID
    role: Role
    clinic_id: uuid.UUID
    session_id: uuid.UUID
    patient_id: uuid.UUID | None
    scopes: frozenset[str] | None = None


def issue_access_token(
    principal: Principal, *, key: SigningKey, now: datetime, lifetime: timedelta
) -> str:
    if principal.session_id is None:
        raise ValueError("an access token belongs to a session or a device")
    claims: dict[str, object] = {
        "sub": str(principal.subject_id),
        "role": principal.role,
        "clinic": str(principal.clinic_id),
        "sid": str(principal.session_id),
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if principal.patient_id is not None:
        claims["pid"] = str(principal.patient_id)
    if principal.scopes is not None:
        claims["scope"] = " ".join(sorted(principal.scopes))
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


class InvalidToken(Exception):
    pass


def token_key_id(token: str) -> str:
    """The `kid` of a token's header, read without PyJWT: it checks the header byte by byte
    in Python, ~40 µs a token, and decode_access_token checks it again anyway."""
    try:
        segment = token.split(".", 1)[0]
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError) as exc:  # binascii.Error and JSONDecodeError included
        raise InvalidToken("the token's header is not valid") from exc
    kid = header.get("kid") if isinstance(header, dict) else None
    if not isinstance(kid, str) or not 0 < len(kid) <= 40:
        raise InvalidToken("the token names no signing key")
    return kid


def decode_access_token(token: str, *, key: SigningKey, now: datetime) -> TokenClaims:
    claims, expires = _verified(token, key)
    # Expiry is judged here, by the injected clock, at every request; never remembered.
    if expires <= now.timestamp():
        raise InvalidToken("token has expired")
    return claims


@lru_cache(maxsize=4096)
def _verified(token: str, key: SigningKey) -> tuple[TokenClaims, int]:
    """A token's signature and claims, checked once per process: they cannot change, and
    PyJWT's check costs ~80 µs of every request. What can change (the session, the device,
    the key's retirement, the clock) is checked at every request all the same. Failures are
    not remembered (lru_cache keeps only what returns)."""
    try:
        claims = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={
                "require": ["sub", "exp", "iat", "role", "clinic", "sid"],
                # Time is judged by the injected clock, never by PyJWT's wall clock.
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        role = claims["role"]
        if role not in ROLES:
            raise InvalidToken("unknown role")
        patient_id = uuid.UUID(claims["pid"]) if role == "patient" else None
        scopes = frozenset(str(claims["scope"]).split()) if role == "integration" else None
        verified = TokenClaims(
            kid=key.kid,
            subject_id=uuid.UUID(claims["sub"]),
            role=role,
            clinic_id=uuid.UUID(claims["clinic"]),
            session_id=uuid.UUID(claims["sid"]),
            patient_id=patient_id,
            scopes=scopes,
        )
        return verified, int(claims["exp"])
    except (jwt.PyJWTError, KeyError, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
