"""The deployment's token signing keys, kept in the database so every process of one
deployment (N instances on one PostgreSQL) agrees on them with no extra setup.

With AFTERCARE_SECRET_KEY set, that key is listed here by its id but its secret stays in the
environment. Unset, the first start generates a random 256-bit key. `aftercare
rotate-signing-key` adds a newer key (the current one signs; older ones still verify until
retired); `--retire KID` makes a key's tokens fail at their next request, because every
request checks the key is not retired (app/auth/identity.py).
"""

import logging
from datetime import datetime

from sqlalchemy import String, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.clock import Clock
from app.core.db import Database
from app.core.domain_errors import ServiceMisconfigured
from app.core.models import Base
from app.core.security import SigningKey, key_id_of, new_signing_secret


class SigningKeyRecord(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    secret: Mapped[str | None] = mapped_column(String(100))  # None: it is in the environment
    source: Mapped[str] = mapped_column(String(12))  # "generated" or "environment"
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


log = logging.getLogger("aftercare")


class UnknownKey(Exception):
    pass


class KeyNotHere(ServiceMisconfigured):
    """The deployment signs with AFTERCARE_SECRET_KEY, which this process was not given.
    Sign-ins answer 503 (the operator's fix is in the log and in `explanation`)."""

    def __init__(self, kid: str) -> None:
        super().__init__("signing in is unavailable: the service's key is misconfigured")
        self.explanation = (
            f"the deployment's current signing key {kid} comes from AFTERCARE_SECRET_KEY, "
            "which this process does not have: set it here too (or run `aftercare "
            "rotate-signing-key` to move the deployment to a key kept in the database)"
        )


class Keyring:
    """Secrets never change once made, so they are cached by id; whether a key is retired is
    asked of the database at each request, never cached."""

    def __init__(self, db: Database, clock: Clock, environment_secret: str = "") -> None:
        self._db = db
        self._clock = clock
        self._environment = (
            SigningKey(key_id_of(environment_secret), environment_secret)
            if environment_secret
            else None
        )
        self._secrets: dict[str, SigningKey] = {}
        if self._environment:
            self._secrets[self._environment.kid] = self._environment

    async def ensure(self) -> None:
        """At start-up of a process that issues tokens: list the environment's key, or make
        one if no key exists. Raises KeyNotHere rather than quietly replace a deployment's
        environment key with a new one because this process was started without it."""
        try:
            async with self._db.write() as session:
                if self._environment is not None:
                    if await session.get(SigningKeyRecord, self._environment.kid) is None:
                        values = self._values(self._environment.kid, None)
                        await session.execute(insert(SigningKeyRecord).values(**values))
                else:
                    await self.current(session)
        except IntegrityError:
            pass  # another process starting at the same moment listed the same key

    async def current(self, session: AsyncSession) -> SigningKey:
        """The key new tokens are signed with: the newest one not retired (made now if there
        is none). Read in the issuing transaction, so a rotation elsewhere applies at once."""
        row = (
            await session.execute(
                select(SigningKeyRecord.kid, SigningKeyRecord.secret)
                .where(SigningKeyRecord.retired_at.is_(None))
                .order_by(SigningKeyRecord.created_at.desc(), SigningKeyRecord.kid)
                .limit(1)
            )
        ).first()
        if row is None:
            return await self._generate(session)
        kid, secret = row
        known = self._secrets.get(kid)  # this process's environment key is already here
        if known is not None:
            return known
        if secret is not None:
            self._secrets[kid] = SigningKey(kid, secret)
            return self._secrets[kid]
        problem = KeyNotHere(kid)
        log.error("%s", problem.explanation)
        raise problem

    async def rotate(self, session: AsyncSession) -> str:
        """A new current key; the others still verify until retired."""
        return (await self._generate(session)).kid

    async def retire(self, session: AsyncSession, kid: str) -> bool:
        changed = await session.execute(
            update(SigningKeyRecord)
            .where(SigningKeyRecord.kid == kid, SigningKeyRecord.retired_at.is_(None))
            .values(retired_at=self._clock.now())
        )
        retired = bool(changed.rowcount)  # type: ignore[attr-defined]
        in_service = await session.scalar(
            select(SigningKeyRecord.kid).where(SigningKeyRecord.retired_at.is_(None)).limit(1)
        )
        if retired and in_service is None:
            await self._generate(session)  # never leave the deployment without a key
        return retired

    async def listing(self) -> list[SigningKeyRecord]:
        async with self._db.read() as session:
            query = select(SigningKeyRecord).order_by(SigningKeyRecord.created_at.desc())
            return list(await session.scalars(query))

    async def key(self, kid: str) -> SigningKey:
        """The key a token names. Retirement is not judged here (see the module's note)."""
        cached = self._secrets.get(kid)
        if cached is not None:
            return cached
        async with self._db.read() as session:
            secret = await session.scalar(
                select(SigningKeyRecord.secret).where(SigningKeyRecord.kid == kid)
            )
        if secret is None:  # unknown, or another environment's key we do not hold
            raise UnknownKey(kid)
        self._secrets[kid] = SigningKey(kid, secret)
        return self._secrets[kid]

    async def _generate(self, session: AsyncSession) -> SigningKey:
        secret = new_signing_secret()
        key = SigningKey("k-" + key_id_of(secret).removeprefix("env-"), secret)
        await session.execute(insert(SigningKeyRecord).values(**self._values(key.kid, secret)))
        self._secrets[key.kid] = key
        return key

    def _values(self, kid: str, secret: str | None) -> dict[str, object]:
        source = "generated" if secret is not None else "environment"
        return {"kid": kid, "secret": secret, "source": source, "created_at": self._clock.now()}
