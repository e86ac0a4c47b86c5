"""FHIR routes for the server's description, Patient, Procedure and Task (docs/fhir.md).

Not in the OpenAPI document (the CapabilityStatement describes them); each has an operation
id all the same, which the audit (app/audit/actions.py) and the integration clients' scope
check (app/core/scopes.py) key on. Every query is held to the caller's clinic: another
clinic's resource is the same 404 as one that never existed.
"""

import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import ColumnElement, Select, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.core.audit import note_patients
from app.core.deps import ServicesDep
from app.core.pagination import cut_page, decode_time_id_cursor, newer_first_within
from app.core.security import Principal
from app.fhir.capability import capability_statement, smart_configuration
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
    reference_ids,
    search_values,
    searchset,
)
from app.fhir.patients import mrn_system, patient_resource
from app.fhir.procedures import procedure_resource
from app.fhir.tasks import ALERT_SEVERITY, ALERT_STATUS, actor_names, task_resource
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.staff.models import Clinic

router = APIRouter(
    prefix=FHIR_BASE_PATH, include_in_schema=False, dependencies=FHIR_ROUTE_DEPENDENCIES
)


@router.get("/metadata", operation_id="fhir_metadata")
async def metadata(request: Request) -> Response:
    return fhir_response(capability_statement(request))


@router.get("/.well-known/smart-configuration", operation_id="fhir_smart_configuration")
async def smart_config(request: Request) -> Response:
    # Plain JSON by the SMART App Launch spec, not a FHIR resource.
    return JSONResponse(smart_configuration(request))


async def _page(
    session: AsyncSession,
    query: Select[Any],
    at: Any,
    row_id: Any,
    count: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Newest first by (at, id), `count` rows after the cursor, and the next page's cursor."""
    after = decode_time_id_cursor(cursor) if cursor else None
    bounds = newer_first_within(at, row_id, since=None, until=None, after=after)
    rows = (
        await session.scalars(
            query.where(*bounds).order_by(at.desc(), row_id.desc()).limit(count + 1)
        )
    ).all()
    return cut_page(rows, count, lambda r: (getattr(r, at.key), r.id))


async def _mrn_system(session: AsyncSession, caller: Principal) -> str:
    configured = await session.scalar(
        select(Clinic.fhir_mrn_system).where(Clinic.id == caller.clinic_id)
    )
    return mrn_system(caller.clinic_id, configured)


@router.get("/Patient/{id}", operation_id="fhir_read_patient")
async def read_patient(services: ServicesDep, caller: FhirCallerDep, id: str) -> Response:
    patient = await clinic_row(services, caller, Patient, id, "Patient")
    async with services.db.read() as session:
        system = await _mrn_system(session, caller)
    return fhir_response(patient_resource(patient, system))


def _maybe_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _identifier_filter(raw: str, system: str) -> ColumnElement[bool] | None:
    """`value` (any system), `system|value`, `system|` (every MRN in the system). None when
    nothing can match: another system, or `|value` (an identifier without a system)."""
    if "|" not in raw:
        return Patient.mrn == raw
    wanted_system, value = raw.split("|", 1)
    if wanted_system != system:
        return None
    return Patient.mrn == value if value else Patient.id.is_not(None)


@router.get("/Patient", operation_id="fhir_search_patient")
async def search_patient(
    request: Request,
    services: ServicesDep,
    caller: FhirCallerDep,
    count: CountParam = None,
    cursor: CursorParam = None,
) -> Response:
    check_params(request, {"_id", "identifier"})
    size = count_value(count)
    raw_ids = search_values(request, "_id")
    # An id that cannot be ours matches nothing (an empty searchset, not a 404).
    ids = [i for i in (_maybe_uuid(v) for v in raw_ids) if i is not None]
    identifiers = search_values(request, "identifier")
    async with services.db.read() as session:
        system = await _mrn_system(session, caller)
        query = select(Patient).where(Patient.clinic_id == caller.clinic_id)
        if raw_ids:
            query = query.where(Patient.id.in_(ids) if ids else false())
        if identifiers:
            matches = [
                f for f in (_identifier_filter(v, system) for v in identifiers) if f is not None
            ]
            query = query.where(or_(*matches) if matches else false())
        rows, next_cursor = await _page(
            session, query, Patient.created_at, Patient.id, size, cursor
        )
    note_patients(*(p.id for p in rows))
    resources = [patient_resource(p, system) for p in rows]
    return fhir_response(searchset(request, resources, next_cursor))


@router.get("/Procedure/{id}", operation_id="fhir_read_procedure")
async def read_procedure(services: ServicesDep, caller: FhirCallerDep, id: str) -> Response:
    procedure = await clinic_row(services, caller, Procedure, id, "Procedure")
    return fhir_response(procedure_resource(procedure))


@router.get("/Procedure", operation_id="fhir_search_procedure")
async def search_procedure(
    request: Request,
    services: ServicesDep,
    caller: FhirCallerDep,
    count: CountParam = None,
    cursor: CursorParam = None,
) -> Response:
    check_params(request, {"patient"})
    size = count_value(count)
    query = select(Procedure).where(Procedure.clinic_id == caller.clinic_id)
    if patients := reference_ids(request, "patient", "Patient"):
        query = query.where(Procedure.patient_id.in_(patients))
    async with services.db.read() as session:
        rows, next_cursor = await _page(
            session, query, Procedure.performed_at, Procedure.id, size, cursor
        )
    note_patients(*(p.patient_id for p in rows))
    resources = [procedure_resource(p) for p in rows]
    return fhir_response(searchset(request, resources, next_cursor))


@router.get("/Task/{id}", operation_id="fhir_read_task")
async def read_task(services: ServicesDep, caller: FhirCallerDep, id: str) -> Response:
    alert = await clinic_row(services, caller, Alert, id, "Task")
    async with services.db.read() as session:
        names = await actor_names(session, caller.clinic_id, [alert])
    return fhir_response(task_resource(alert, names))


def _coded(request: Request, name: str, known: dict[str, str]) -> list[str]:
    """A token parameter's values as ours; an unknown code is an error, not "no match"."""
    values = search_values(request, name)
    if unknown := [v for v in values if v not in known]:
        raise invalid(f"{name} must be one of {', '.join(known)}, not {unknown[0]}")
    return [known[v] for v in values]


@router.get("/Task", operation_id="fhir_search_task")
async def search_task(
    request: Request,
    services: ServicesDep,
    caller: FhirCallerDep,
    count: CountParam = None,
    cursor: CursorParam = None,
) -> Response:
    check_params(request, {"patient", "status", "priority"})
    size = count_value(count)
    query = select(Alert).where(Alert.clinic_id == caller.clinic_id)
    if patients := reference_ids(request, "patient", "Patient"):
        query = query.where(Alert.patient_id.in_(patients))
    if statuses := _coded(request, "status", ALERT_STATUS):
        query = query.where(Alert.status.in_(statuses))
    if severities := _coded(request, "priority", ALERT_SEVERITY):
        query = query.where(Alert.severity.in_(severities))
    async with services.db.read() as session:
        rows, next_cursor = await _page(session, query, Alert.created_at, Alert.id, size, cursor)
        names = await actor_names(session, caller.clinic_id, rows)
    note_patients(*(a.patient_id for a in rows))
    resources = [task_resource(a, names) for a in rows]
    return fhir_response(searchset(request, resources, next_cursor))
