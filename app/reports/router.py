import uuid

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.core.deps import CallerDep, ServicesDep, charge_report_writes
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.reports import batch, service
from app.reports.schemas import BatchResult, ReportBatchIn, ReportIn, ReportOut, ReportResult

router = APIRouter(prefix="/v1/procedures/{procedure_id}/reports", tags=["reports"])


@router.post(
    "",
    operation_id="submit_report",
    summary="Submit a symptom report (idempotent by client_report_id)",
    description=(
        "201 when stored. Sending the same client_report_id again with the same body answers "
        "200 with the original response and stores nothing; with a different body, 409. "
        "Each caller may send so many reports a minute (replays count); past that, 429 with "
        "`Retry-After`."
    ),
    status_code=201,
    response_model=ReportResult,
    responses={
        200: {
            "description": "A replay: the response first sent for this report",
            "model": ReportResult,
        },
        **problem_responses(401, 404, 409, 422, 429),
    },
)
async def submit_report(
    services: ServicesDep,
    caller: CallerDep,
    procedure_id: uuid.UUID,
    body: ReportIn,
) -> JSONResponse:
    await charge_report_writes(services, caller, 1)
    outcome, result = await service.submit_report(services, caller, procedure_id, body)
    # Already JSON (stored with the report): skip FastAPI's re-validation on this hot path.
    return JSONResponse(result, status_code=201 if outcome == "created" else 200)


@router.post(
    "/batch",
    operation_id="submit_report_batch",
    summary="Upload an offline backlog of up to 100 reports; each item stands alone",
    description="Each report of the batch counts against the caller's reports a minute; "
    "past that, 429 with `Retry-After` and nothing stored.",
    response_model=BatchResult,
    responses=problem_responses(401, 404, 422, 429),
)
async def submit_batch(
    services: ServicesDep, caller: CallerDep, procedure_id: uuid.UUID, body: ReportBatchIn
) -> BatchResult:
    await charge_report_writes(services, caller, len(body.reports))
    return BatchResult(
        results=await batch.submit_batch(services, caller, procedure_id, body.reports)
    )


@router.get(
    "",
    operation_id="list_reports",
    summary="A block's reports, newest recorded_at first",
    response_model=Page[ReportOut],
    responses=problem_responses(400, 401, 404, 422),
)
async def list_reports(
    services: ServicesDep,
    caller: CallerDep,
    procedure_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ReportOut]:
    return await service.list_reports(services, caller, procedure_id, limit=limit, cursor=cursor)
