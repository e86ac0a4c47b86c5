import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from app.audit_trail import service
from app.audit_trail.schemas import AccessLogEntry, AuditEventOut
from app.core.deps import AdminDep, PatientDep, ServicesDep, StaffDep
from app.core.domain_errors import InvalidParameter
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page, UtcDatetime

router = APIRouter(prefix="/v1", tags=["audit"])

SinceQuery = Annotated[
    UtcDatetime | None, Query(description="Only entries at or after this time (inclusive).")
]
UntilQuery = Annotated[
    UtcDatetime | None, Query(description="Only entries before this time (exclusive).")
]


async def _page_request(
    since: SinceQuery = None,
    until: UntilQuery = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> service.PageRequest:
    if since is not None and until is not None and until <= since:
        raise InvalidParameter("until", "until must be later than since")
    return service.PageRequest(since=since, until=until, limit=limit, cursor=cursor)


PageRequestDep = Annotated[service.PageRequest, Depends(_page_request)]


@router.get(
    "/audit-events",
    operation_id="list_audit_events",
    summary="The clinic's audit trail, newest first (admin)",
    description=(
        "One event for every API request made in the caller's clinic: who (`actor_type`, "
        "`actor_id`, `role`), what (`action`, `method`, the `route` template, `resource_type`, "
        "`resource_id`), how it ended (`status`), and the patients whose records it disclosed "
        "or changed (`patient_ids`). Events never hold names, query strings or bodies.\n\n"
        "Filters combine: `patient_id` (events that disclosed or changed that patient), "
        "`actor_id` (a staff user, or a patient's device), `action` (exact, e.g. "
        "`timeline.read`), `since` (inclusive) and `until` (exclusive). Reading the trail is "
        "itself recorded (`audit.list`). For the clinic's admins. Paged with `limit` and "
        "`cursor`."
    ),
    response_model=Page[AuditEventOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_audit_events(
    services: ServicesDep,
    caller: AdminDep,
    asked: PageRequestDep,
    patient_id: Annotated[
        uuid.UUID | None,
        Query(description="Only events that disclosed or changed this patient's record."),
    ] = None,
    actor_id: Annotated[
        uuid.UUID | None,
        Query(
            description="Only events by this actor: a staff user's or an integration "
            "client's id, or for a patient the id of the enrolled phone the requests came from."
        ),
    ] = None,
    action: Annotated[
        str | None,
        Query(
            max_length=60,
            pattern=r"^[a-z_.]+$",
            examples=["timeline.read"],
            description="Only events with exactly this action.",
        ),
    ] = None,
) -> Page[AuditEventOut]:
    filters = service.EventFilters(patient_id=patient_id, actor_id=actor_id, action=action)
    return await service.list_events(services, caller, filters, asked)


@router.get(
    "/patients/{patient_id}/access-log",
    operation_id="get_patient_access_log",
    summary="Who looked at or changed a patient's record, and when, newest first (staff)",
    description=(
        "Every request that disclosed or changed this patient's record, in plain words "
        '(e.g. "Dr A. Rivera (clinician) viewed the timeline"), including those of the '
        "patient's own app. A request that was refused or failed says so. Staff are shown "
        "under their current name. `since` (inclusive) and `until` (exclusive) bound `at`. "
        "For clinic staff; another clinic's patient is a 404. Paged with `limit` and `cursor`."
    ),
    response_model=Page[AccessLogEntry],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def get_patient_access_log(
    services: ServicesDep,
    caller: StaffDep,
    patient_id: Annotated[uuid.UUID, Path(description="The patient's id.")],
    asked: PageRequestDep,
) -> Page[AccessLogEntry]:
    return await service.patient_access_log(services, caller, patient_id, asked)


@router.get(
    "/me/access-log",
    operation_id="get_my_access_log",
    summary="Who looked at or changed my record, and when, newest first (the patient)",
    description=(
        "The patient's own view of their access log: every request by clinic staff (or anyone "
        "else) that disclosed or changed their record, in plain words. The routine requests "
        "of the patient's own app (sending reports, reading their blocks, reading this log) "
        "are left out; its security events are kept: sign-ins, renewals and enrolments "
        "(`auth.*`) and listing or signing out phones (`device.*`). Staff get 403 here. "
        "`since` (inclusive) and `until` (exclusive) bound `at`. Paged with `limit` and "
        "`cursor`."
    ),
    response_model=Page[AccessLogEntry],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def get_my_access_log(
    services: ServicesDep,
    caller: PatientDep,
    asked: PageRequestDep,
) -> Page[AccessLogEntry]:
    return await service.my_access_log(services, caller, asked)
