import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.alerts import service
from app.alerts.schemas import (
    AcknowledgeIn,
    AlertOut,
    AlertSeverity,
    AlertStatus,
    ResolveIn,
    RuleOut,
)
from app.core.deps import ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page, RuleSetVersion

router = APIRouter(prefix="/v1", tags=["alerts"])


@router.get(
    "/alerts",
    operation_id="list_alerts",
    summary="The clinic's worklist: emergency, urgent, routine; oldest first within each",
    description=(
        "`status` may be repeated; without it the worklist shows the alerts still to work "
        "(open and acknowledged)."
    ),
    response_model=Page[AlertOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_alerts(
    services: ServicesDep,
    caller: StaffDep,
    status: Annotated[list[AlertStatus] | None, Query()] = None,
    severity: AlertSeverity | None = None,
    patient_id: uuid.UUID | None = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[AlertOut]:
    return await service.list_alerts(
        services,
        caller,
        statuses=status or ["open", "acknowledged"],
        severity=severity,
        patient_id=patient_id,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/alerts/{alert_id}",
    operation_id="get_alert",
    summary="One alert",
    response_model=AlertOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_alert(services: ServicesDep, caller: StaffDep, alert_id: uuid.UUID) -> AlertOut:
    return await service.get_alert(services, caller, alert_id)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    operation_id="acknowledge_alert",
    summary="A clinician has seen the alert and is acting on it (open -> acknowledged)",
    response_model=AlertOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def acknowledge(
    services: ServicesDep, caller: StaffDep, alert_id: uuid.UUID, body: AcknowledgeIn | None = None
) -> AlertOut:
    return await service.acknowledge(services, caller, alert_id, body.note if body else None)


@router.post(
    "/alerts/{alert_id}/resolve",
    operation_id="resolve_alert",
    summary="Close the alert with what was done (open or acknowledged -> resolved)",
    response_model=AlertOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def resolve(
    services: ServicesDep, caller: StaffDep, alert_id: uuid.UUID, body: ResolveIn
) -> AlertOut:
    return await service.resolve(services, caller, alert_id, body.note)


@router.get(
    "/rules",
    operation_id="list_rules",
    summary="The red-flag rules of a rule set: the clinic's own unless `version` is given",
    description="Rule sets are versioned (docs/clinical-rules.md); each clinic judges its "
    "reports with one of them (`GET /v1/clinic`). An unknown `version` is a 422.",
    response_model=list[RuleOut],
    responses=problem_responses(401, 403, 422),
)
async def list_rules(
    services: ServicesDep,
    caller: StaffDep,
    version: Annotated[RuleSetVersion | None, Query()] = None,
) -> list[RuleOut]:
    return await service.list_rules(services, caller, version)
