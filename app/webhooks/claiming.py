"""Which due deliveries a worker sends next: fairly, so that one clinic's dead endpoints cannot
hold every send slot while another clinic's emergency alert waits.

- Per endpoint, at most `webhook_in_flight_per_endpoint` sends under a live lease, counted over
  every worker (the leases are in the database). A receiver that never answers ties up that
  many slots, not all of them, and a slow receiver is not flooded.
- Per clinic, at most half of this worker's slots (`clinic_room`); the other clinics always
  find free ones.
- Claims rotate: every clinic's first due delivery comes before any clinic's second, and
  within a clinic every endpoint's first before any endpoint's second. Oldest due first only
  breaks ties, so a backlog of thousands in one clinic does not push back another's one.

Claims are serialised across workers (an advisory lock on PostgreSQL; SQLite has one writer
anyway), so the in-flight counts they read are exact; a claim is a few milliseconds.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import case, func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.deps import Services
from app.outbox.models import OutboxEvent
from app.webhooks.delivery import Claim, event_body
from app.webhooks.models import WebhookDelivery, WebhookEndpoint

# pg_advisory_xact_lock key for claims: any constant no other lock in this database uses.
CLAIM_LOCK_KEY = 0x57EB_400C


def clinic_room(concurrency: int) -> int:
    """The most sends one clinic may have under way in one worker."""
    return max(1, concurrency // 2)


async def _due_in_rotation(
    session: AsyncSession,
    now: datetime,
    *,
    per_endpoint: int,
    per_clinic: int,
    clinic_busy: Mapping[uuid.UUID, int],
    limit: int,
) -> list[uuid.UUID]:
    d = WebhookDelivery
    live = (
        select(d.endpoint_id, func.count().label("busy"))
        .where(d.status == "pending", d.lease_token.is_not(None), d.next_attempt_at > now)
        .group_by(d.endpoint_id)
        .subquery("live")
    )
    due = (
        select(
            d.id,
            d.clinic_id,
            d.next_attempt_at,
            func.row_number()
            .over(partition_by=d.endpoint_id, order_by=(d.next_attempt_at, d.id))
            .label("endpoint_rank"),
            func.coalesce(live.c.busy, 0).label("busy"),
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == d.endpoint_id)
        .outerjoin(live, live.c.endpoint_id == d.endpoint_id)
        .where(d.status == "pending", d.next_attempt_at <= now, WebhookEndpoint.enabled.is_(True))
        .subquery("due")
    )
    open_ = (
        select(due.c.id, due.c.clinic_id, due.c.next_attempt_at, due.c.endpoint_rank)
        .where(due.c.endpoint_rank + due.c.busy <= per_endpoint)
        .subquery("open")
    )
    ranked = select(
        open_.c.id,
        open_.c.clinic_id,
        open_.c.next_attempt_at,
        func.row_number()
        .over(
            partition_by=open_.c.clinic_id,
            order_by=(open_.c.endpoint_rank, open_.c.next_attempt_at, open_.c.id),
        )
        .label("clinic_rank"),
    ).subquery("ranked")
    rooms = {clinic: per_clinic - busy for clinic, busy in clinic_busy.items() if busy}
    room = case(rooms, value=ranked.c.clinic_id, else_=per_clinic) if rooms else literal(per_clinic)
    chosen = (
        select(ranked.c.id)
        .where(ranked.c.clinic_rank <= room)
        .order_by(ranked.c.clinic_rank, ranked.c.next_attempt_at, ranked.c.id)
        .limit(limit)
    )
    return list(await session.scalars(chosen))


async def claim_due(
    services: Services,
    now: datetime,
    *,
    limit: int,
    clinic_busy: Mapping[uuid.UUID, int] | None = None,
) -> list[Claim]:
    """Leases up to `limit` due deliveries in rotation; `clinic_busy` is how many sends of
    each clinic this worker has under way."""
    if limit <= 0:
        return []
    settings = services.settings
    lease = timedelta(seconds=settings.webhook_lease_seconds)
    token = uuid.uuid4()
    async with services.db.write() as session:
        if not services.db.sqlite:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY}
            )
        ids = await _due_in_rotation(
            session,
            now,
            per_endpoint=settings.webhook_in_flight_per_endpoint,
            per_clinic=clinic_room(settings.worker_concurrency),
            clinic_busy=clinic_busy or {},
            limit=limit,
        )
        if not ids:
            return []
        claimed = list(
            await session.scalars(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(ids),
                    # Still due: a manual retry or an admin may have moved it since the read.
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(lease_token=token, next_attempt_at=now + lease)
                .returning(WebhookDelivery.id)
            )
        )
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint, OutboxEvent)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.id.in_(claimed))
            )
        ).tuples()
        base_url = settings.public_base_url
        return [
            Claim(
                delivery_id=delivery.id,
                lease_token=token,
                attempt_number=delivery.attempt_count + 1,
                clinic_id=delivery.clinic_id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secret=endpoint.secret,
                event_id=event.id,
                body=event_body(event, base_url),
            )
            for delivery, endpoint, event in rows
        ]
