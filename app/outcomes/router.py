import uuid

from fastapi import APIRouter, Response

from app.core.deps import ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.outcomes import service
from app.outcomes.schemas import Outcomes, ProcedureSummary

router = APIRouter(prefix="/v1", tags=["clinician views"])

SVG = "image/svg+xml"


def _svg_response(description: str) -> dict[int | str, dict[str, object]]:
    return {200: {"description": description, "content": {SVG: {"schema": {"type": "string"}}}}}


@router.get(
    "/procedures/{procedure_id}/summary",
    operation_id="get_procedure_summary",
    summary="Relief figures of one block, its pain series, side effects and open alerts (staff)",
    response_model=ProcedureSummary,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_summary(
    services: ServicesDep, caller: StaffDep, procedure_id: uuid.UUID
) -> ProcedureSummary:
    return await service.procedure_summary(services, caller, procedure_id)


@router.get(
    "/patients/{patient_id}/outcomes",
    operation_id="get_patient_outcomes",
    summary="One row per block in sequence: its relief, compared with the block before (staff)",
    response_model=Outcomes,
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def get_outcomes(
    services: ServicesDep,
    caller: StaffDep,
    patient_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Outcomes:
    return await service.patient_outcomes(services, caller, patient_id, limit=limit, cursor=cursor)


@router.get(
    "/procedures/{procedure_id}/chart.svg",
    operation_id="get_procedure_chart",
    summary="Pain and relief over the hours since the block, with check-ins and alerts (staff)",
    response_class=Response,
    responses={**_svg_response("An SVG image."), **problem_responses(401, 403, 404, 422)},
)
async def get_block_chart(
    services: ServicesDep, caller: StaffDep, procedure_id: uuid.UUID
) -> Response:
    svg = await service.block_chart(services, caller, procedure_id)
    return Response(svg, media_type=SVG, headers={"cache-control": "no-store"})


@router.get(
    "/patients/{patient_id}/outcomes.svg",
    operation_id="get_patient_outcomes_chart",
    summary="Until how many hours after each block relief lasted, across the series (staff)",
    response_class=Response,
    responses={**_svg_response("An SVG image."), **problem_responses(401, 403, 404, 422)},
)
async def get_outcomes_chart(
    services: ServicesDep, caller: StaffDep, patient_id: uuid.UUID
) -> Response:
    svg = await service.outcomes_chart(services, caller, patient_id)
    return Response(svg, media_type=SVG, headers={"cache-control": "no-store"})
