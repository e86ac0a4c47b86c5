import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk


class IntegrationClient(Base):
    """A clinic system's own credentials: it signs in with the client credentials grant and
    acts in its clinic within its scopes. Revoking keeps the row, so the audit trail still
    names who acted."""

    __tablename__ = "integration_clients"
    __table_args__ = (Index("ix_integration_clients_clinic_created", "clinic_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    # SHA-256 of a random 256-bit secret: an unguessable secret needs no slow hash.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    # The public keys its client assertions are signed with (private_key_jwt).
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("staff_users.id"))
    revoked_at: Mapped[datetime | None]


class UsedClientAssertion(Base):
    """Each client assertion's `jti`, kept until the assertion expires, so it is used once."""

    __tablename__ = "used_client_assertions"

    client_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_clients.id"), primary_key=True
    )
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime]
