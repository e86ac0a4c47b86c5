import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.core.deps import ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.outcomes import service
from app.outcomes.schemas import Outcomes, ProcedureSummary

router = APIRouter(prefix="/v1", tags=["clinician views"])

SVG = "image/svg+xml"

PatientIdPath = Annotated[
    uuid.UUID, Path(description="The patient's id. Another clinic's patient is a 404.")
]
ProcedureIdPath = Annotated[
    uuid.UUID, Path(description="The block's id. Another clinic's block is a 404.")
]


def _svg_response(description: str) -> dict[int | str, dict[str, object]]:
    return {200: {"description": description, "content": {SVG: {"schema": {"type": "string"}}}}}


@router.get(
    "/procedures/{procedure_id}/summary",
    operation_id="get_procedure_summary",
    summary="Relief figures of one block, its pain series, side effects and open alerts (staff)",
    description="For clinic staff. The block's baseline, latest and lowest pain, peak relief, "
    "when relief began and until how many hours after the block it lasted, and the response "
    'so far (positive, negative, indeterminate; docs/clinical-rules.md, "Relief"); how '
    "many reports named each side effect; the alerts still to work (open or acknowledged), "
    "most severe first; and the pain series in the order recorded. Not paged.",
    response_model=ProcedureSummary,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_summary(
    services: ServicesDep, caller: StaffDep, procedure_id: ProcedureIdPath
) -> Response:
    body = await service.procedure_summary(services, caller, procedure_id)
    return Response(body, media_type="application/json")


@router.get(
    "/patients/{patient_id}/outcomes",
    operation_id="get_patient_outcomes",
    summary="One row per block in sequence: its relief, compared with the block before (staff)",
    description="For clinic staff. For each of the patient's blocks, first block first, its "
    "relief figures and how its relief compares with the block before "
    "(`compared_with_previous`, and `comparison` in a sentence). Paged: `limit` (default 50) "
    "and, for the next page, the previous page's `next_cursor` as `cursor` (null on the last "
    "page); the first row of a page is still compared with the block before it.",
    response_model=Outcomes,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def get_outcomes(
    services: ServicesDep,
    caller: StaffDep,
    patient_id: PatientIdPath,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Response:
    body = await service.patient_outcomes(services, caller, patient_id, limit=limit, cursor=cursor)
    return Response(body, media_type="application/json")


@router.get(
    "/procedures/{procedure_id}/chart.svg",
    operation_id="get_procedure_chart",
    summary="Pain and relief over the hours since the block, with check-ins and alerts (staff)",
    description="For clinic staff. An SVG image (`image/svg+xml`, sent with `Cache-Control: "
    "no-store`). A block with more reports than the chart's point limit (400 by default) is "
    "drawn from a thinned series that keeps the reports that raised alerts; "
    "`GET /v1/procedures/{procedure_id}/summary` has the figures.",
    response_class=Response,
    responses={**_svg_response("An SVG image."), **problem_responses(401, 403, 404, 422)},
)
async def get_block_chart(
    services: ServicesDep, caller: StaffDep, procedure_id: ProcedureIdPath
) -> Response:
    svg = await service.block_chart(services, caller, procedure_id)
    return Response(svg, media_type=SVG, headers={"cache-control": "no-store"})


@router.get(
    "/patients/{patient_id}/outcomes.svg",
    operation_id="get_patient_outcomes_chart",
    summary="Until how many hours after each block relief lasted, across the series (staff)",
    description="For clinic staff. An SVG image (`image/svg+xml`, sent with `Cache-Control: "
    "no-store`) of every block of the patient, not paged; "
    "`GET /v1/patients/{patient_id}/outcomes` has the figures.",
    response_class=Response,
    responses={**_svg_response("An SVG image."), **problem_responses(401, 403, 404, 422)},
)
async def get_outcomes_chart(
    services: ServicesDep, caller: StaffDep, patient_id: PatientIdPath
) -> Response:
    svg = await service.outcomes_chart(services, caller, patient_id)
    return Response(svg, media_type=SVG, headers={"cache-control": "no-store"})
