import uuid
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from app.core.deps import CallerDep, ServicesDep, charge_report_writes
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.reports import batch, service
from app.reports.schemas import BatchResult, ReportBatchIn, ReportIn, ReportOut, ReportResult

router = APIRouter(prefix="/v1/procedures/{procedure_id}/reports", tags=["reports"])

ProcedureIdPath = Annotated[
    uuid.UUID,
    Path(
        description="The block's id. Another clinic's block, or for the patient's app another "
        "patient's, is a 404."
    ),
]


@router.post(
    "",
    operation_id="submit_report",
    summary="Submit a symptom report (idempotent by client_report_id)",
    description=(
        "Sent by the patient's app for its own blocks, or by clinic staff entering a report "
        "for a patient of their clinic (`entered_by` says which). The report is judged with "
        "the clinic's rule set as it is stored: the response carries the alerts it raised or "
        "re-triggered (as the patient may see them) and the `guidance` to show the patient.\n\n"
        "201 when stored. Sending the same client_report_id again with the same body answers "
        "200 with the original response and stores nothing; with a different body, 409. "
        "Each caller may send so many reports a minute (replays count); past that, 429 with "
        "`Retry-After`. A block holds a limited number of reports (1000 by default; reports "
        "that raise an alert a tenth more): past that, 409 `report-cap-reached`, whose `detail` "
        "tells the patient what to do instead."
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
    procedure_id: ProcedureIdPath,
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
    description="For the patient's app after it was offline (or staff, as for a single "
    "report). Each item is validated, judged and stored on its own, in the order the reports "
    "were recorded (not the order sent), idempotent by its client_report_id as for a single "
    "report. The answer is 200 with one result per item, in the order sent: `created`, "
    "`duplicate` (a replay, with the original response) or `rejected` (with the `error` the "
    "single endpoint would have answered). An unknown block fails the whole batch (404). "
    "Each report of the batch counts against the caller's "
    "reports a minute; past that, 429 with `Retry-After` and nothing stored. The body may be "
    "larger than other requests' (8 MiB by default).",
    response_model=BatchResult,
    responses=problem_responses(401, 404, 422, 429),
)
async def submit_batch(
    services: ServicesDep, caller: CallerDep, procedure_id: ProcedureIdPath, body: ReportBatchIn
) -> BatchResult:
    await charge_report_writes(services, caller, len(body.reports))
    return BatchResult(
        results=await batch.submit_batch(services, caller, procedure_id, body.reports)
    )


@router.get(
    "",
    operation_id="list_reports",
    summary="A block's reports, newest recorded_at first",
    description="Clinic staff may list any block of their clinic; the patient's app only its "
    "own patient's blocks. Each report as stored, with its temperature and blood glucose in "
    "the unit sent and converted, and who entered it. Paged: `limit` (default 50) and, for "
    "the next page, the previous page's `next_cursor` as `cursor` (null on the last page).",
    response_model=Page[ReportOut],
    responses=problem_responses(400, 401, 404, 422),
)
async def list_reports(
    services: ServicesDep,
    caller: CallerDep,
    procedure_id: ProcedureIdPath,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ReportOut]:
    return await service.list_reports(services, caller, procedure_id, limit=limit, cursor=cursor)
