"""Endpoints that stopped answering are disabled, with a reason the admin sees and an event.

An endpoint is disabled when its receiver answers 410 Gone, or when every attempt has failed
for `webhook_disable_after_hours` (72 h by default). Why 72 h: one delivery is retried for
24 h, so an endpoint disabled sooner would be one whose outage outlived a single event's
retries, not necessarily a dead one; 72 h rides out a receiver down over a long weekend
(Friday evening to Monday morning, when a clinic's IT may not be there to fix it), while a
truly dead endpoint stops costing send slots within days. Disabling loses nothing: deliveries
wait, unclaimed, and go out once an admin enables the endpoint again.

The event is `webhook_endpoint.disabled` in the outbox, delivered to the clinic's *other*
endpoints that subscribe to it: the clinic's systems hear at once that an integration is down
(the disabled endpoint itself cannot be told), with the same guarantees as any alert event.
It holds ids, the reason and times only; never the URL, which may carry a receiver's token.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.types import rfc3339
from app.outbox.service import add_event
from app.webhooks.models import WebhookEndpoint

DISABLED_EVENT = "webhook_endpoint.disabled"


@dataclass(frozen=True)
class Attempted:
    endpoint_id: uuid.UUID
    at: datetime
    delivered: bool
    status_code: int | None


def _failing_since(endpoint: WebhookEndpoint, attempts: list[Attempted]) -> datetime | None:
    """Since when every attempt failed, after these attempts (in the order they were made)."""
    since = endpoint.failing_since
    for attempt in sorted(attempts, key=lambda a: a.at):
        if attempt.delivered:
            since = None
        elif since is None:
            since = attempt.at
    return since


def _disabled_reason(attempts: list[Attempted], since: datetime | None, limit: timedelta) -> str:
    if any(a.status_code == 410 for a in attempts):
        return "the receiver answered 410 Gone"
    assert since is not None
    hours = limit.total_seconds() / 3600
    return f"every attempt failed for {hours:g} hours (since {rfc3339(since)})"


async def note_endpoint_outcomes(
    session: AsyncSession, attempts: list[Attempted], *, disable_after: timedelta
) -> None:
    """Keeps each endpoint's failing stretch and disables the ones past the limit, in the
    transaction that records the attempts."""
    by_endpoint: dict[uuid.UUID, list[Attempted]] = {}
    for attempt in attempts:
        by_endpoint.setdefault(attempt.endpoint_id, []).append(attempt)
    endpoints = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id.in_(by_endpoint))
        .order_by(WebhookEndpoint.id)  # one lock order for every worker: no deadlock
        .with_for_update()
    )
    for endpoint in endpoints:
        mine = by_endpoint[endpoint.id]
        endpoint.failing_since = since = _failing_since(endpoint, mine)
        now = max(a.at for a in mine)
        gone = any(a.status_code == 410 for a in mine)
        if endpoint.enabled and (gone or (since is not None and now - since >= disable_after)):
            endpoint.enabled, endpoint.disabled_at = False, now
            endpoint.disabled_reason = _disabled_reason(mine, since, disable_after)
            add_disabled_event(session, endpoint, now)


def add_disabled_event(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> None:
    data = {
        "webhook_id": str(endpoint.id),
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": rfc3339(now),
        "failing_since": rfc3339(endpoint.failing_since) if endpoint.failing_since else None,
        "links": {"webhook": f"/v1/webhooks/{endpoint.id}"},
    }
    add_event(session, endpoint.clinic_id, DISABLED_EVENT, data, now)


def is_about(event_data: dict[str, object], endpoint_id: uuid.UUID) -> bool:
    """Whether an event reports on this endpoint itself (it is not sent there)."""
    return event_data.get("webhook_id") == str(endpoint_id)
