import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from app.core.types import RequestModel, ResponseModel, Text
from app.outbox.schemas import EVENT_TYPES, EventType
from app.webhooks.targets import MAX_URL_LENGTH

DeliveryStatus = Literal["pending", "delivered", "failed"]


def _distinct(events: list[EventType] | None) -> list[EventType] | None:
    return None if events is None else list(dict.fromkeys(events))


class WebhookCreate(RequestModel):
    url: Text = Field(
        max_length=MAX_URL_LENGTH,
        description="https; must resolve to public addresses only (unless the server allows "
        "private webhooks). Redirects are not followed.",
        examples=["https://ehr.example.org/aftercare/events"],
    )
    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES),
        min_length=1,
        max_length=len(EVENT_TYPES) * 2,
        description="The event types to receive; all of them when omitted.",
    )
    description: Text | None = Field(default=None, max_length=200)

    _events = field_validator("events")(_distinct)


class WebhookUpdate(RequestModel):
    url: Text | None = Field(default=None, max_length=MAX_URL_LENGTH)
    events: list[EventType] | None = Field(
        default=None, min_length=1, max_length=len(EVENT_TYPES) * 2
    )
    description: Text | None = Field(default=None, max_length=200)
    enabled: bool | None = Field(
        default=None,
        description="false stops deliveries (pending ones wait); true resumes them, "
        "including after a 410 disabled the endpoint.",
    )

    _events = field_validator("events")(_distinct)


class WebhookOut(ResponseModel):
    id: uuid.UUID
    url: str
    events: list[EventType]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(
        description="Why it is disabled: by an admin, a 410 Gone answer, or every attempt "
        "failing for days (see `failing_since`)."
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(
        description="Since when every attempt has failed; null while the receiver answers. "
        "The endpoint is disabled once this is older than the server's limit (72 h by default)."
    )
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="The Standard Webhooks signing secret (`whsec_...`). Shown only here, once."
    )


class AttemptOut(ResponseModel):
    number: int
    attempted_at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status; null if none came.")
    latency_ms: int
    error: str | None


class DeliveryOut(ResponseModel):
    id: uuid.UUID
    webhook_id: uuid.UUID
    event_id: uuid.UUID = Field(description="Also the `webhook-id` header: dedupe on it.")
    event_type: EventType
    status: DeliveryStatus
    created_at: datetime
    attempt_count: int
    next_attempt_at: datetime | None = Field(description="While pending: the next try.")
    give_up_at: datetime
    delivered_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[AttemptOut]
