import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk


class OutboxEvent(Base):
    """Something a clinic's systems must hear of, written in the transaction that caused it.

    The worker fans each event out to the clinic's webhook endpoints (one delivery per endpoint)
    and stamps `dispatched_at`; until then the event is the only record that it must be sent."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        # Only the undispatched few are ever scanned, however long the history grows.
        Index(
            "ix_outbox_events_undispatched",
            "created_at",
            sqlite_where=text("dispatched_at IS NULL"),
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()  # also the webhook-id every endpoint receives
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    type: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    dispatched_at: Mapped[datetime | None]
