import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.core.deps import ServicesDep, StaffDep
from app.core.domain_errors import InvalidParameter
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import UtcDatetime
from app.timelines import service
from app.timelines.schemas import ITEM_TYPES, ItemType, Timeline

router = APIRouter(prefix="/v1", tags=["clinician views"])


def _types(raw: list[str] | None) -> list[ItemType]:
    if not raw:
        return list(ITEM_TYPES)
    chosen: list[ItemType] = []
    for name in (part.strip() for value in raw for part in value.split(",")):
        match = next((t for t in ITEM_TYPES if t == name), None)
        if match is None:
            raise InvalidParameter(
                "types", f"unknown type {name[:40]!r}; use {', '.join(ITEM_TYPES)}"
            )
        chosen.append(match)
    return chosen


@router.get(
    "/patients/{patient_id}/timeline",
    operation_id="get_patient_timeline",
    summary="Blocks, reports, alerts and check-ins of a patient, newest first (staff)",
    description=(
        "For clinic staff. "
        "`types` is a comma-separated subset of procedure, report, alert, checkin (default all). "
        "`since` (inclusive) and `until` (exclusive) bound `at`. Check-ins appear once due. "
        "Paged: `limit` (default 50) and, for the next page, the previous page's `next_cursor` "
        "as `cursor` (null on the last page), with the same `types`, `since` and `until`."
    ),
    response_model=Timeline,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def get_timeline(
    services: ServicesDep,
    caller: StaffDep,
    patient_id: Annotated[
        uuid.UUID, Path(description="The patient's id. Another clinic's patient is a 404.")
    ],
    since: Annotated[
        UtcDatetime | None,
        Query(description="Only items at or after this time (inclusive), with an offset."),
    ] = None,
    until: Annotated[
        UtcDatetime | None,
        Query(description="Only items before this time (exclusive), with an offset."),
    ] = None,
    types: Annotated[
        list[str] | None,
        Query(
            max_length=8,
            description="Item types to include, comma-separated or repeated: procedure, "
            "report, alert, checkin. Default: all.",
        ),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Response:
    body = await service.timeline(
        services,
        caller,
        patient_id,
        types=_types(types),
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return Response(body, media_type="application/json")
