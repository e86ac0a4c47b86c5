import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.core.deps import AdminDep, ServicesDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.webhooks import service
from app.webhooks.schemas import (
    DeliveryOut,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookUpdate,
)

router = APIRouter(prefix="/v1", tags=["webhooks"])

SIGNING = (
    "Each event is POSTed as `{id, type, created_at, data}` with the Standard Webhooks headers "
    "`webhook-id` (the event id: dedupe on it), `webhook-timestamp` and `webhook-signature` "
    '(`v1,` + base64 HMAC-SHA256 of `"{id}.{timestamp}.{body}"` keyed by the secret). A non-2xx '
    "answer or a timeout is retried with exponential backoff for at least 24 hours; 410 Gone, "
    "or every attempt failing for 72 hours, disables the endpoint (with a reason, and a "
    "`webhook_endpoint.disabled` event to the clinic's other endpoints). Redirects are not "
    "followed. Payloads hold ids, rule, severity, times and links, never names or free text. "
    "A clinic has at most 20 endpoints by default (409 beyond)."
)

WebhookIdPath = Annotated[
    uuid.UUID, Path(description="The endpoint's id. Another clinic's endpoint is a 404.")
]
PAGED = (
    "Paged: `limit` (default 50) and, for the next page, the previous page's `next_cursor` as "
    "`cursor` (null on the last page)."
)


@router.post(
    "/webhooks",
    operation_id="create_webhook",
    summary="Register an endpoint for the clinic's events (admin); the secret is shown once",
    description=SIGNING,
    status_code=201,
    response_model=WebhookCreated,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_webhook(
    services: ServicesDep, caller: AdminDep, body: WebhookCreate
) -> WebhookCreated:
    return await service.create_webhook(services, caller, body)


@router.get(
    "/webhooks",
    operation_id="list_webhooks",
    summary="The clinic's webhook endpoints, newest first (admin)",
    description="For the clinic's admins. Each endpoint's URL, the events it receives, and "
    "its state: enabled, or disabled with when and why; `failing_since` warns before the "
    "worker disables it. The signing secret is never shown again. " + PAGED,
    response_model=Page[WebhookOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_webhooks(
    services: ServicesDep, caller: AdminDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> Page[WebhookOut]:
    return await service.list_webhooks(services, caller, limit=limit, cursor=cursor)


@router.get(
    "/webhooks/{webhook_id}",
    operation_id="get_webhook",
    summary="One webhook endpoint (admin)",
    description="For the clinic's admins. As in the list: the URL, events and state, never "
    "the signing secret.",
    response_model=WebhookOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_webhook(
    services: ServicesDep, caller: AdminDep, webhook_id: WebhookIdPath
) -> WebhookOut:
    return await service.get_webhook(services, caller, webhook_id)


@router.patch(
    "/webhooks/{webhook_id}",
    operation_id="update_webhook",
    summary="Change an endpoint's URL, events or description, or disable / re-enable it (admin)",
    description="For the clinic's admins. Send only what changes. A new `url` is checked as "
    "at registration (422 when it is not allowed) and starts a fresh failure record. "
    "`enabled: false` stops deliveries (pending ones wait); `enabled: true` resumes them, "
    "also after the endpoint was disabled for a 410 or for failing. The signing secret does "
    "not change.",
    response_model=WebhookOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_webhook(
    services: ServicesDep, caller: AdminDep, webhook_id: WebhookIdPath, body: WebhookUpdate
) -> WebhookOut:
    return await service.update_webhook(services, caller, webhook_id, body)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    operation_id="list_webhook_deliveries",
    summary="Deliveries to this endpoint, newest first, each with every attempt (admin)",
    description="For the clinic's admins. One delivery per event owed to the endpoint: "
    "`pending` (with its next attempt), `delivered`, or `failed` (given up: the retry window "
    "passed, or the receiver answered 410), with every attempt's status code, latency and "
    "error. `status` filters. " + PAGED,
    response_model=Page[DeliveryOut],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def list_deliveries(
    services: ServicesDep,
    caller: AdminDep,
    webhook_id: WebhookIdPath,
    status: Annotated[
        DeliveryStatus | None, Query(description="Only deliveries in this status.")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[DeliveryOut]:
    return await service.list_deliveries(
        services, caller, webhook_id, status=status, limit=limit, cursor=cursor
    )


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    operation_id="retry_webhook_delivery",
    summary="Send a delivery again now, with a fresh 24-hour retry window (admin)",
    description="For the clinic's admins. Whatever its status, the delivery becomes "
    "`pending` with its next attempt due now and a fresh retry window: to retry a failure, "
    "or to send again an event the receiver lost (it carries the same `webhook-id`). 202: "
    "the worker sends it shortly; the response is the delivery as queued. 409 while the "
    "endpoint is disabled (re-enable it first) or while an attempt is under way.",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def retry_delivery(
    services: ServicesDep,
    caller: AdminDep,
    webhook_id: WebhookIdPath,
    delivery_id: Annotated[
        uuid.UUID,
        Path(description="The delivery's id. A delivery to another endpoint is a 404."),
    ],
) -> DeliveryOut:
    return await service.retry_delivery(services, caller, webhook_id, delivery_id)
