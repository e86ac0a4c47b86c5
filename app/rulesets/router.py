from fastapi import APIRouter

from app.core.deps import AdminDep, ServicesDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.rulesets import service
from app.rulesets.schemas import DryRunIn, DryRunOut

router = APIRouter(prefix="/v1", tags=["rules"])


@router.post(
    "/rules/dry-run",
    operation_id="dry_run_rules",
    summary="What another rule set would have raised over the clinic's reports (admin)",
    description=(
        "Replays the clinic's reports recorded in [`since`, `until`) through the candidate "
        "rule set and through the clinic's current one, block by block in the order they were "
        "recorded, as reports are judged when stored (the previous report, expected effects, "
        'one alert per rule and block), and compares the two. "Current" (and "now") is '
        "the clinic's current rule set replayed over the same reports, not the alerts stored: "
        "those may have been raised by an earlier rule set of the clinic. Changes nothing: no "
        "alert, report or webhook event is written, only the dry run's own audit event. "
        "`cursor` and `limit` page `changed_reports`; every page carries the same counts. "
        "Every page replays the window's whole history again (its time grows with the number "
        "of reports; bench/README.md), keeping only `limit` + 1 changed reports; pass a fixed "
        "`until` while paging."
    ),
    response_model=DryRunOut,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def dry_run(
    services: ServicesDep,
    caller: AdminDep,
    body: DryRunIn,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> DryRunOut:
    return await service.dry_run(services, caller, body, limit=limit, cursor=cursor)
