"""FHIR Observation search under /fhir/r4: a patient's reports' observations, newest first
(docs/fhir.md). An Observation page may stop part-way through a report: its cursor is
(recorded_at, report id, how many of that report's matching observations were already
served), so no observation is served twice or skipped. Pages are cached like the timeline
(app/core/view_cache.py), under the searched patients' block revisions, the clinic and the
URL, which the page's links repeat."""

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.core.audit import note_patients
from app.core.deps import ServicesDep
from app.core.pagination import encode_cursor
from app.core.view_cache import View
from app.fhir.common import (
    FHIR_BASE_PATH,
    FHIR_JSON,
    FHIR_ROUTE_DEPENDENCIES,
    CountParam,
    CursorParam,
    FhirCallerDep,
    check_params,
    count_value,
    fhir_response,
    reference_ids,
    searchset,
)
from app.fhir.observations import matches_code, observations
from app.fhir.report_router import Params, from_report, report_cursor, reports_query
from app.procedures.service import block_revisions

router = APIRouter(
    prefix=FHIR_BASE_PATH, include_in_schema=False, dependencies=FHIR_ROUTE_DEPENDENCIES
)
# Reports read per Observation search request at most: a code that matches rarely answers a
# short (even empty) page with a next link instead of reading a patient's whole history.
SCAN_LIMIT = 1000
# Reports per query of that scan (more when a page needs more).
SCAN_BATCH = 200


def _code_tokens(values: Sequence[str]) -> list[list[tuple[str | None, str]]]:
    """Each `code` parameter's tokens: within one, a comma is OR; repeated ones are AND."""
    groups = []
    for value in values:
        tokens: list[tuple[str | None, str]] = []
        for token in value.split(","):
            system, bar, code = token.rpartition("|")
            tokens.append((system if bar else None, code))
        groups.append(tokens)
    return groups


@router.get("/Observation", operation_id="fhir_search_observation")
async def search_observation(
    request: Request,
    caller: FhirCallerDep,
    services: ServicesDep,
    code: Params = None,
    date: Params = None,
    count: CountParam = None,
    cursor: CursorParam = None,
) -> Response:
    check_params(request, {"patient", "code", "date"})
    limit = count_value(count)
    tokens = _code_tokens(code or [])
    query = reports_query(request, caller, part_of=False, dates=date or [])
    # Where the page starts: a report (inclusive) and how many of its matches were served.
    start = report_cursor(cursor, 3) if cursor is not None else None
    patient_ids = reference_ids(request, "patient", "Patient")
    page: list[dict[str, Any]] = []
    patients: set[uuid.UUID] = set()
    next_cursor: str | None = None
    scanned = 0
    # Reports read per query: a page's worth at least, and never so few that a code that
    # rarely matches costs a query per handful of reports.
    batch_size = max(limit + 1, SCAN_BATCH)
    revisions = await block_revisions(services.db, caller.clinic_id, patient_ids)
    key = ("fhir-observations", caller.clinic_id, str(request.url), revisions)
    if (cached := services.views.get(key, services.clock.now())) is not None:
        note_patients(*cached.patients)
        return Response(cached.body, media_type=FHIR_JSON)
    async with services.db.read() as session:
        while next_cursor is None and scanned < SCAN_LIMIT:
            batch = (
                query if start is None else from_report(query, start[0], start[1], inclusive=True)
            )
            rows = list(await session.scalars(batch.limit(batch_size)))
            for row in rows:
                skip = start[2] if start and (row.recorded_at, row.id) == start[:2] else 0
                found = [
                    o
                    for o in observations(row, row.patient_id)
                    if all(matches_code(o, group) for group in tokens)
                ]
                if len(page) + len(found) - skip > limit:  # the page ends inside this report
                    served = skip + limit - len(page)
                    page += found[skip:served]
                    patients.add(row.patient_id)
                    next_cursor = encode_cursor(row.recorded_at.isoformat(), row.id, served)
                    break
                if found[skip:]:
                    page += found[skip:]
                    patients.add(row.patient_id)
                # Past this report: resume after all of it.
                start = (row.recorded_at, row.id, len(found))
            scanned += len(rows)
            if len(rows) < batch_size:  # the last batch: nothing more to read
                break
        else:
            if next_cursor is None and start is not None:  # read enough for one request
                next_cursor = encode_cursor(start[0].isoformat(), start[1], start[2])
    note_patients(*patients)
    response = fhir_response(searchset(request, page, next_cursor))
    # Kept only if its key still holds (app/core/view_cache.py says why).
    if await block_revisions(services.db, caller.clinic_id, patient_ids) == revisions:
        services.views.put(key, View(bytes(response.body), patients=tuple(patients)))
    return response
