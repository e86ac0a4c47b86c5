"""Questionnaire, QuestionnaireResponse and Observation reads under /fhir/r4, read-only,
computed from the reports table (docs/fhir.md); the Observation search is
observation_search.py, on this module's report queries.

Searches page by keyset over a patient's (or a block's) reports, newest first, on the same
(patient_id, recorded_at, id) and (procedure_id, recorded_at, id) indexes as the timeline.
Unknown search parameters are refused (400), as every FHIR search
here does (common.check_params): ignoring a filter would disclose more than was asked."""

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import ColumnElement, Select, literal, select, tuple_

from app.core.audit import note_patients, note_resource
from app.core.deps import ServicesDep
from app.core.pagination import (
    cursor_time,
    cursor_uuid,
    cut_page,
    decode_cursor,
)
from app.fhir.common import (
    FHIR_BASE_PATH,
    FHIR_ROUTE_DEPENDENCIES,
    CountParam,
    CursorParam,
    FhirCallerDep,
    check_params,
    clinic_row,
    count_value,
    fhir_response,
    invalid,
    not_found,
    reference_ids,
    searchset,
)
from app.fhir.observations import observations, parse_observation_id
from app.fhir.questionnaire import (
    QUESTIONNAIRE,
    QUESTIONNAIRE_CANONICAL,
    QUESTIONNAIRE_ID,
    QUESTIONNAIRE_URL,
    questionnaire_response,
)
from app.reports.models import Report

router = APIRouter(
    prefix=FHIR_BASE_PATH, include_in_schema=False, dependencies=FHIR_ROUTE_DEPENDENCIES
)
Params = Annotated[list[str] | None, Query()]
_DATE = re.compile(
    r"(ge|gt|le|lt|eq)?(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?)?)?"
)


@router.get("/Questionnaire/{questionnaire_id}", operation_id="fhir_read_questionnaire")
async def read_questionnaire(questionnaire_id: str, caller: FhirCallerDep) -> Response:
    if questionnaire_id != QUESTIONNAIRE_ID:
        raise not_found("Questionnaire")
    return fhir_response(QUESTIONNAIRE)


@router.get("/Questionnaire", operation_id="fhir_search_questionnaire")
async def search_questionnaire(
    request: Request, caller: FhirCallerDep, url: str | None = None, _id: str | None = None
) -> Response:
    check_params(request, {"url", "_id"})
    found = url in (None, QUESTIONNAIRE_URL, QUESTIONNAIRE_CANONICAL) and _id in (
        None,
        QUESTIONNAIRE_ID,
    )
    resources = [QUESTIONNAIRE] if found else []
    return fhir_response(searchset(request, resources, None, total=len(resources)))


async def _report(
    services: ServicesDep, caller: FhirCallerDep, raw_id: str | uuid.UUID, resource_type: str
) -> Report:
    """The caller's clinic's report; another clinic's is as absent as one never made."""
    report = await clinic_row(services, caller, Report, str(raw_id), resource_type)
    note_resource(report.id)
    return report


@router.get("/QuestionnaireResponse/{response_id}", operation_id="fhir_read_questionnaire_response")
async def read_questionnaire_response(
    response_id: str, caller: FhirCallerDep, services: ServicesDep
) -> Response:
    report = await _report(services, caller, response_id, "QuestionnaireResponse")
    return fhir_response(questionnaire_response(report, report.patient_id))


@router.get("/Observation/{observation_id}", operation_id="fhir_read_observation")
async def read_observation(
    observation_id: str, caller: FhirCallerDep, services: ServicesDep
) -> Response:
    parsed = parse_observation_id(observation_id)
    if parsed is None:
        raise not_found("Observation")
    report = await _report(services, caller, parsed[0], "Observation")
    found = [o for o in observations(report, report.patient_id) if o["id"] == observation_id]
    if not found:  # also a measure this report does not hold
        raise not_found("Observation")
    return fhir_response(found[0])


def _span_end(
    start: datetime,
    value: str,
    hour: str | None,
    day: str | None,
    month: str | None,
    fraction: str | None,
    second: str | None,
) -> datetime:
    """Where the span of a date search value ends (exclusive): ValueError or OverflowError
    past the last representable instant."""
    if hour is not None:
        span = timedelta(microseconds=1) if fraction else timedelta(seconds=1 if second else 60)
        return start + span
    if day is not None:
        return start + timedelta(days=1)
    if month is not None:
        return (start + timedelta(days=32)).replace(day=1)
    return start.replace(year=start.year + 1)


def _date_bounds(column: Any, values: Sequence[str]) -> list[ColumnElement[bool]]:
    """FHIR date search (ge/gt/le/lt/eq, repeatable for a range) on a timestamp column. A
    value stands for the whole span of its precision: `eq2026-11-21` is that UTC day."""
    where: list[ColumnElement[bool]] = []
    for value in values:
        match = _DATE.fullmatch(value)
        if match is None:
            raise invalid(f"not a FHIR date search value (prefix ge, gt, le, lt or eq): {value}")
        prefix, year, month, day, hour, minute, second, fraction, zone = match.groups()
        try:
            start = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
            if hour is not None:
                offset = datetime.fromisoformat(f"2000-01-01T00:00:00{zone.replace('Z', '+00:00')}")
                local = start.replace(hour=int(hour), minute=int(minute), second=int(second or 0))
                start = local.replace(tzinfo=offset.tzinfo).astimezone(UTC)
                start += timedelta(microseconds=int((fraction or ".0")[1:].ljust(6, "0")))
            end = _span_end(start, value, hour, day, month, fraction, second)
        except (ValueError, OverflowError) as exc:  # 2026-02-30, or past year 9999
            raise invalid(f"not a date: {value}") from exc
        low, high = literal(start, column.type), literal(end, column.type)
        prefix = prefix or "eq"
        if prefix in ("eq", "ge"):
            where.append(column >= low)
        if prefix in ("eq", "le"):
            where.append(column < high)
        if prefix == "gt":
            where.append(column >= high)
        if prefix == "lt":
            where.append(column < low)
    return where


def reports_query(
    request: Request, caller: FhirCallerDep, *, part_of: bool, dates: Sequence[str]
) -> Select[tuple[Report]]:
    """The caller's clinic's reports of some patients or blocks (`patient`, `part-of`: once
    each, commas for OR, as every FHIR search here), newest first. One of the two is required:
    each is an index range scan, a whole clinic's reports are bulk export's job."""
    patients = reference_ids(request, "patient", "Patient")
    blocks = reference_ids(request, "part-of", "Procedure") if part_of else []
    if not patients and not blocks:
        raise invalid("search by patient (or for QuestionnaireResponse part-of): it is required")
    query = select(Report).where(Report.clinic_id == caller.clinic_id)
    if patients:
        query = query.where(Report.patient_id.in_(patients))
    if blocks:
        query = query.where(Report.procedure_id.in_(blocks))
    query = query.where(*_date_bounds(Report.recorded_at, dates))
    return query.order_by(Report.recorded_at.desc(), Report.id.desc())


def from_report(
    query: Select[tuple[Report]], at: datetime, row_id: uuid.UUID, *, inclusive: bool
) -> Any:
    key = tuple_(Report.recorded_at, Report.id)
    bound = tuple_(literal(at, Report.recorded_at.type), literal(row_id, Report.id.type))
    return query.where(key <= bound if inclusive else key < bound)


def report_cursor(raw: str, size: int) -> tuple[datetime, uuid.UUID, int]:
    """(recorded_at, report id) and, for Observation, how many of that report's matches were
    served: app/core/pagination's cursors (a bad one is an `invalid` OperationOutcome)."""
    values = decode_cursor(raw, size)
    skip = values[2] if size == 3 else "0"
    if not re.fullmatch(r"[0-9]{1,4}", skip):
        raise invalid("the _cursor is not valid")
    return cursor_time(values[0]), cursor_uuid(values[1]), int(skip)


@router.get("/QuestionnaireResponse", operation_id="fhir_search_questionnaire_response")
async def search_questionnaire_response(
    request: Request,
    caller: FhirCallerDep,
    services: ServicesDep,
    authored: Params = None,
    count: CountParam = None,
    cursor: CursorParam = None,
) -> Response:
    check_params(request, {"patient", "part-of", "authored"})
    limit = count_value(count)
    query = reports_query(request, caller, part_of=True, dates=authored or [])
    if cursor is not None:
        at, row_id, _ = report_cursor(cursor, 2)
        query = from_report(query, at, row_id, inclusive=False)
    async with services.db.read() as session:
        rows = list(await session.scalars(query.limit(limit + 1)))
    page, next_cursor = cut_page(rows, limit, lambda r: (r.recorded_at.isoformat(), r.id))
    note_patients(*{r.patient_id for r in page})
    resources = [questionnaire_response(r, r.patient_id) for r in page]
    return fhir_response(searchset(request, resources, next_cursor))
