"""GET /metrics: for the operator's Prometheus, not for the API's clients, so it is left out
of the OpenAPI document. Who may scrape: app/metrics/service.py, `check_scraper`."""

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.core.deps import ClientAddressDep, ServicesDep
from app.metrics.registry import Metrics
from app.metrics.service import (
    check_scraper,
    escalation_overdue_seconds,
    outbox_lag_seconds,
)

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(
    request: Request,
    services: ServicesDep,
    address: ClientAddressDep,
    authorization: Annotated[str | None, Header()] = None,
) -> Response:
    check_scraper(services.settings, address, authorization)
    registry: Metrics = request.app.state.metrics
    now = services.clock.now()
    registry.outbox_lag.set(await outbox_lag_seconds(services, now))
    registry.escalation_overdue.set(await escalation_overdue_seconds(services, now))
    # A scrape must never be answered from a cache: each one reads the counters anew.
    return Response(
        registry.render(), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
