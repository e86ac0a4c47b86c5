import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, JSONType, uuid_pk


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The signing secret must be recoverable to sign with (Standard Webhooks is HMAC).
    secret: Mapped[str] = mapped_column(String(100))
    events: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(200))
    enabled: Mapped[bool]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    disabled_at: Mapped[datetime | None]
    # The first failed attempt since the last one delivered; None while the receiver answers.
    # The worker disables an endpoint that has failed every attempt for long enough.
    failing_since: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # Who registered it: a staff user, or an integration client with webhooks:manage.
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("staff_users.id"))
    created_by_client_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("integration_clients.id")
    )


class WebhookDelivery(Base):
    """One event owed to one endpoint, until delivered or given up on."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The worker's claim: pending deliveries whose next attempt is due.
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at", "id"),
        Index("uq_webhook_deliveries_endpoint_event", "endpoint_id", "event_id", unique=True),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    clinic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clinics.id"))
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoints.id"))
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outbox_events.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12))  # pending, delivered, failed
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    # Retries go on until then (at least webhook_retry_hours after the delivery was made).
    give_up_at: Mapped[datetime]
    # Set while a worker holds the delivery; only that worker may record the attempt's outcome.
    lease_token: Mapped[uuid.UUID | None]
    attempt_count: Mapped[int]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "webhook_delivery_attempts"
    __table_args__ = (Index("ix_webhook_delivery_attempts_delivery", "delivery_id", "number"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id"))
    number: Mapped[int]
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
