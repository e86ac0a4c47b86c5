"""Getting events to the clinics' endpoints: fan-out, claim, send, record.

At least once, never twice at the same time:
- fan-out turns each outbox event into one delivery per subscribed endpoint and stamps the
  event, in one transaction;
- a claim (claiming.py: fair across clinics and endpoints) leases due deliveries by moving
  `next_attempt_at` past the lease, which outlasts any one send;
- the outcome is recorded only under the same lease token. A worker that dies after claiming
  leaves the lease to run out and the delivery to be sent again; receivers dedupe on
  `webhook-id`, which is the event id.
"""

import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from app.core.db import count_on_commit
from app.core.deps import Services
from app.core.types import rfc3339
from app.outbox.models import OutboxEvent
from app.webhooks.endpoint_health import Attempted, is_about, note_endpoint_outcomes
from app.webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint

FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=4)
# A delivery's status after an attempt, as the metrics name the attempt's outcome.
_ATTEMPT_OUTCOMES = {"delivered": "delivered", "pending": "will_retry", "failed": "gave_up"}


def retry_delay(attempts_so_far: int, rng: random.Random) -> timedelta:
    """10 s, 30 s, 90 s ... tripling up to 4 h, each +-25 % so that a receiver coming back up
    is not hit by every delivery at once. Over 24 h that is about 14 attempts."""
    factor: int = 3 ** min(max(attempts_so_far - 1, 0), 8)  # past the cap; no overflow
    base = min(FIRST_RETRY * factor, LONGEST_RETRY)
    jitter: float = rng.uniform(0.75, 1.25)
    return base * jitter


@dataclass(frozen=True)
class Claim:
    delivery_id: uuid.UUID
    lease_token: uuid.UUID
    attempt_number: int
    clinic_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    secret: str
    event_id: uuid.UUID
    body: bytes


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def event_body(event: OutboxEvent, base_url: str) -> bytes:
    data: dict[str, Any] = dict(event.data)
    if base_url and isinstance(data.get("links"), dict):
        data["links"] = {k: base_url.rstrip("/") + v for k, v in data["links"].items()}
    payload = {
        "id": str(event.id),
        "type": event.type,
        "created_at": rfc3339(event.created_at),
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def fan_out(services: Services, now: datetime, *, batch: int = 500) -> int:
    """Undispatched events become deliveries; returns how many events it dispatched."""
    async with services.db.write() as session:
        pending = (
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.created_at)
            .limit(batch)
        )
        if not services.db.sqlite:
            pending = pending.with_for_update(skip_locked=True)
        events = list(await session.scalars(pending))
        if not events:
            return 0
        endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = defaultdict(list)
        for endpoint in await session.scalars(
            # Disabled endpoints too: their deliveries wait, unclaimed, and go out when it is
            # enabled again, so nothing raised meanwhile is lost.
            select(WebhookEndpoint).where(
                WebhookEndpoint.clinic_id.in_({e.clinic_id for e in events})
            )
        ):
            endpoints[endpoint.clinic_id].append(endpoint)
        give_up_at = now + timedelta(hours=services.settings.webhook_retry_hours)
        session.add_all(
            WebhookDelivery(
                id=uuid.uuid4(),
                clinic_id=event.clinic_id,
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=event.type,
                status="pending",
                created_at=now,
                next_attempt_at=now,
                give_up_at=give_up_at,
                lease_token=None,
                attempt_count=0,
            )
            for event in events
            for endpoint in endpoints[event.clinic_id]
            if event.type in endpoint.events and not is_about(event.data, endpoint.id)
        )
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([e.id for e in events]))
            .values(dispatched_at=now)
        )
        return len(events)


@dataclass(frozen=True)
class Result:
    claim: Claim
    outcome: SendResult
    at: datetime


async def record_outcomes(services: Services, results: list[Result], rng: random.Random) -> None:
    """Every attempt's record, and each delivery's next state, in one transaction. A delivery
    whose lease is no longer this claim's (it ran out and another worker took it) keeps only
    the attempt record."""
    async with services.db.write() as session:
        held = {
            d.id: d
            for d in await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.id.in_([r.claim.delivery_id for r in results]))
                .order_by(WebhookDelivery.id)  # one lock order for every worker: no deadlock
                .with_for_update()
            )
        }
        for result in results:
            claim, outcome, now = result.claim, result.outcome, result.at
            session.add(
                DeliveryAttempt(
                    id=uuid.uuid4(),
                    delivery_id=claim.delivery_id,
                    number=claim.attempt_number,
                    attempted_at=now,
                    status_code=outcome.status_code,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                )
            )
            delivery = held.get(claim.delivery_id)
            if delivery is None or delivery.lease_token != claim.lease_token:
                count_on_commit(session, "webhook_attempt", "lease_expired")
                continue
            delivery.lease_token = None
            delivery.attempt_count = claim.attempt_number
            delivery.last_attempt_at = now
            delivery.last_status_code = outcome.status_code
            delivery.last_error = outcome.error
            if outcome.delivered:
                delivery.status, delivery.delivered_at = "delivered", now
            elif outcome.status_code == 410 or now >= delivery.give_up_at:
                delivery.status = "failed"
            else:
                delivery.next_attempt_at = now + retry_delay(claim.attempt_number, rng)
            count_on_commit(session, "webhook_attempt", _ATTEMPT_OUTCOMES[delivery.status])
        await note_endpoint_outcomes(
            session,
            [
                Attempted(r.claim.endpoint_id, r.at, r.outcome.delivered, r.outcome.status_code)
                for r in results
            ],
            disable_after=timedelta(hours=services.settings.webhook_disable_after_hours),
        )
