import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

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
from app.core.types import Page
from app.rules.ruleset import RuleSetVersion

router = APIRouter(prefix="/v1", tags=["alerts"])

AlertIdPath = Annotated[
    uuid.UUID, Path(description="The alert's id. Another clinic's alert is a 404.")
]


@router.get(
    "/alerts",
    operation_id="list_alerts",
    summary="The clinic's worklist: emergency, urgent, routine; oldest first within each",
    description=(
        "For clinic staff (clinicians and admins): the caller's clinic's alerts only. "
        "`status` may be repeated; without it the worklist shows the alerts still to work "
        "(open and acknowledged). `severity` and `patient_id` narrow it further. Paged: "
        "`limit` (default 50) and, for the next page, the previous page's `next_cursor` as "
        "`cursor` (null on the last page)."
    ),
    response_model=Page[AlertOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_alerts(
    services: ServicesDep,
    caller: StaffDep,
    status: Annotated[
        list[AlertStatus] | None,
        Query(
            description="Statuses to include; repeat it for several "
            "(`?status=open&status=resolved`). Default: open and acknowledged."
        ),
    ] = None,
    severity: Annotated[
        AlertSeverity | None, Query(description="Only alerts of this severity.")
    ] = None,
    patient_id: Annotated[
        uuid.UUID | None,
        Query(
            description="Only this patient's alerts. A patient of another clinic gives an "
            "empty page."
        ),
    ] = None,
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
    description="For clinic staff. The whole alert as clinicians see it: the rule that fired "
    "(`rule_id`, `rule_version`, `rule_set_version`), the facts that fired it "
    "(`explanation`), when and how often it was triggered, who acknowledged and resolved it "
    "with their notes, and when it escalated. Another clinic's alert is a 404.",
    response_model=AlertOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_alert(services: ServicesDep, caller: StaffDep, alert_id: AlertIdPath) -> AlertOut:
    return await service.get_alert(services, caller, alert_id)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    operation_id="acknowledge_alert",
    summary="A clinician has seen the alert and is acting on it (open -> acknowledged)",
    description="For clinic staff. Records who acknowledged the alert and when, with an optional "
    "`note` (the body may be left out), and stops its escalation. The clinic's webhooks get "
    "`alert.acknowledged`. Only an open alert can be acknowledged: an acknowledged or resolved "
    "one is a 409, so of two clinicians acting at once only one succeeds. Another clinic's "
    "alert is a 404.",
    response_model=AlertOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def acknowledge(
    services: ServicesDep,
    caller: StaffDep,
    alert_id: AlertIdPath,
    body: AcknowledgeIn | None = None,
) -> AlertOut:
    return await service.acknowledge(services, caller, alert_id, body.note if body else None)


@router.post(
    "/alerts/{alert_id}/resolve",
    operation_id="resolve_alert",
    summary="Close the alert with what was done (open or acknowledged -> resolved)",
    description="For clinic staff. Records who resolved the alert and when, with the required "
    "`note` saying what was done, and stops its escalation. The clinic's webhooks get "
    "`alert.resolved`. An alert already resolved is a 409; another clinic's alert is a 404. "
    "If the rule fires again for the same block later, a new alert is raised.",
    response_model=AlertOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def resolve(
    services: ServicesDep, caller: StaffDep, alert_id: AlertIdPath, body: ResolveIn
) -> AlertOut:
    return await service.resolve(services, caller, alert_id, body.note)


@router.get(
    "/rules",
    operation_id="list_rules",
    summary="The red-flag rules of a rule set: the clinic's own unless `version` is given",
    description="For clinic staff. Each rule's id, version, severity, title and description. Rule "
    "sets are versioned (docs/clinical-rules.md); each clinic judges its "
    "reports with one of them (`GET /v1/clinic`). An unknown `version` is a 422. Not paged.",
    response_model=list[RuleOut],
    responses=problem_responses(401, 403, 422),
)
async def list_rules(
    services: ServicesDep,
    caller: StaffDep,
    version: Annotated[
        RuleSetVersion | None,
        Query(description="A rule set version; without it, the one the clinic uses now."),
    ] = None,
) -> list[RuleOut]:
    return await service.list_rules(services, caller, version)
