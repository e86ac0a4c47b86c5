import uuid
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.core.audit import note_resource
from app.core.deps import Services
from app.core.domain_errors import InvalidField, LimitReached, NotFound, StateConflict
from app.core.pagination import cut_page, newer_first_after
from app.core.security import Principal
from app.core.types import Page
from app.staff.models import Clinic
from app.webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from app.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)
from app.webhooks.signing import new_secret
from app.webhooks.targets import UnsafeTarget, checked_target


async def _check_url(services: Services, url: str) -> None:
    try:
        await checked_target(url, allow_private=services.settings.allow_private_webhooks)
    except UnsafeTarget as exc:
        raise InvalidField("url", str(exc)) from exc


async def create_webhook(
    services: Services, caller: Principal, body: WebhookCreate
) -> WebhookCreated:
    await _check_url(services, body.url)
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        clinic_id=caller.clinic_id,
        url=body.url,
        secret=new_secret(),
        events=list(body.events),
        description=body.description,
        enabled=True,
        created_at=services.clock.now(),
        created_by=caller.staff_user_id,
        created_by_client_id=caller.client_id,
    )
    async with services.db.write() as session:
        await _check_room(session, caller.clinic_id, services.settings.webhook_endpoints_per_clinic)
        session.add(endpoint)
        note_resource(endpoint.id)
        await stage(session, endpoint.created_at)
    return WebhookCreated.model_validate(endpoint)


async def _check_room(session: AsyncSession, clinic_id: uuid.UUID, cap: int) -> None:
    """409, not 422: the body is valid, the clinic's state refuses it (as it would accept
    the same body once an endpoint is freed). Disabled endpoints count: their deliveries
    still queue for every event. The clinic's row is locked so that two registrations at
    once cannot both take the last place (SQLite's single writer serialises them anyway)."""
    await session.execute(
        select(Clinic.id).where(Clinic.id == clinic_id).with_for_update(key_share=True)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.clinic_id == clinic_id)
    )
    if (count or 0) >= cap:
        raise LimitReached(
            f"the clinic already has {count} webhook endpoints, the most it may have ({cap}); "
            "point an existing one at the new URL instead (PATCH /v1/webhooks/{id})"
        )


async def _load(session: AsyncSession, caller: Principal, webhook_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.scalar(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == webhook_id, WebhookEndpoint.clinic_id == caller.clinic_id
        )
    )
    if endpoint is None:
        raise NotFound("webhook")
    return endpoint


async def list_webhooks(
    services: Services, caller: Principal, *, limit: int, cursor: str | None
) -> Page[WebhookOut]:
    query = select(WebhookEndpoint).where(WebhookEndpoint.clinic_id == caller.clinic_id)
    if cursor:
        query = query.where(
            newer_first_after(WebhookEndpoint.created_at, WebhookEndpoint.id, cursor)
        )
    query = query.order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())
    async with services.db.read() as session:
        rows = list(await session.scalars(query.limit(limit + 1)))
    page, next_cursor = cut_page(rows, limit, lambda e: (e.created_at.isoformat(), e.id))
    return Page[WebhookOut](
        items=[WebhookOut.model_validate(e) for e in page], next_cursor=next_cursor
    )


async def get_webhook(services: Services, caller: Principal, webhook_id: uuid.UUID) -> WebhookOut:
    async with services.db.read() as session:
        return WebhookOut.model_validate(await _load(session, caller, webhook_id))


async def update_webhook(
    services: Services, caller: Principal, webhook_id: uuid.UUID, body: WebhookUpdate
) -> WebhookOut:
    if body.url is not None:
        await _check_url(services, body.url)
    async with services.db.write() as session:
        endpoint = await _load(session, caller, webhook_id)
        if body.url is not None and body.url != endpoint.url:
            endpoint.url, endpoint.failing_since = body.url, None  # a new receiver, a new record
        if body.events is not None:
            endpoint.events = list(body.events)
        if "description" in body.model_fields_set:
            endpoint.description = body.description
        if body.enabled is True and not endpoint.enabled:
            endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
            # A fresh start: the next failure must not disable it again at once.
            endpoint.failing_since = None
        elif body.enabled is False and endpoint.enabled:
            endpoint.enabled, endpoint.disabled_at = False, services.clock.now()
            endpoint.disabled_reason = "disabled by an admin"
        await stage(session, services.clock.now())
        return WebhookOut.model_validate(endpoint)


def _delivery_out(delivery: WebhookDelivery, attempts: list[DeliveryAttempt]) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id,
        webhook_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        created_at=delivery.created_at,
        attempt_count=delivery.attempt_count,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        give_up_at=delivery.give_up_at,
        delivered_at=delivery.delivered_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        attempts=[AttemptOut.model_validate(a) for a in attempts],
    )


async def _with_attempts(
    session: AsyncSession, deliveries: list[WebhookDelivery]
) -> list[DeliveryOut]:
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = defaultdict(list)
    if deliveries:
        for attempt in await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(DeliveryAttempt.number, DeliveryAttempt.attempted_at)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [_delivery_out(d, attempts[d.id]) for d in deliveries]


async def list_deliveries(
    services: Services,
    caller: Principal,
    webhook_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    limit: int,
    cursor: str | None,
) -> Page[DeliveryOut]:
    """Newest first, each with every attempt made."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == webhook_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        query = query.where(
            newer_first_after(WebhookDelivery.created_at, WebhookDelivery.id, cursor)
        )
    query = query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    async with services.db.read() as session:
        await _load(session, caller, webhook_id)
        rows = list(await session.scalars(query.limit(limit + 1)))
        page, next_cursor = cut_page(rows, limit, lambda d: (d.created_at.isoformat(), d.id))
        return Page[DeliveryOut](items=await _with_attempts(session, page), next_cursor=next_cursor)


async def retry_delivery(
    services: Services, caller: Principal, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> DeliveryOut:
    """Send again now, with a fresh retry window: after a failure, or to re-deliver one the
    receiver lost. Refused while an attempt is under way or the endpoint is disabled."""
    now = services.clock.now()
    async with services.db.write() as session:
        endpoint = await _load(session, caller, webhook_id)
        delivery = await session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
            )
        )
        if delivery is None:
            raise NotFound("delivery")
        if not endpoint.enabled:
            raise StateConflict("the webhook is disabled; enable it before retrying its deliveries")
        retry_window = timedelta(hours=services.settings.webhook_retry_hours)
        moved = await session.scalar(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                # Not while a worker holds it: that attempt's outcome is still to come.
                (WebhookDelivery.lease_token.is_(None)) | (WebhookDelivery.next_attempt_at <= now),
            )
            .values(
                status="pending",
                next_attempt_at=now,
                give_up_at=now + retry_window,
                lease_token=None,
            )
            .returning(WebhookDelivery)
            .execution_options(populate_existing=True)
        )
        if moved is None:
            raise StateConflict("an attempt of this delivery is under way; try again shortly")
        await stage(session, now)
        return (await _with_attempts(session, [moved]))[0]
