"""FHIR routes for the server's description, Patient, Procedure and Task (docs/fhir.md).

Not in the OpenAPI document (the CapabilityStatement describes them); each has an operation
id all the same, which the audit (app/audit/actions.py) and the integration clients' scope
check (app/integrations/scopes.py) key on. Every query is held to the caller's clinic: another
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
from app.core.pagination import newer_first_within
from app.core.security import Principal
from app.fhir.capability import capability_statement, smart_configuration
from app.fhir.common import (
    FHIR_BASE_PATH,
    CountParam,
    CursorParam,
    FhirCallerDep,
    check_format,
    check_params,
    count_value,
    cursor_time_id,
    encode_cursor,
    fhir_response,
    invalid,
    not_found,
    parse_id,
    reference_id,
    searchset,
)
from app.fhir.patients import mrn_system, patient_resource
from app.fhir.procedures import procedure_resource
from app.fhir.tasks import ALERT_SEVERITY, ALERT_STATUS, actor_ids, task_resource
from app.integrations.models import IntegrationClient
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.staff.models import Clinic, StaffUser

router = APIRouter(prefix=FHIR_BASE_PATH, include_in_schema=False)


@router.get("/metadata", operation_id="fhir_metadata")
async def metadata(request: Request) -> Response:
    check_format(request)
    return fhir_response(capability_statement(request))


@router.get("/.well-known/smart-configuration", operation_id="fhir_smart_configuration")
async def smart_config(request: Request) -> Response:
    # Plain JSON by the SMART App Launch spec, not a FHIR resource.
    return JSONResponse(smart_configuration(request))


def _values(request: Request, name: str) -> list[str]:
    """A parameter's values: repeats are AND in FHIR, commas OR; we take them as one OR set
    only when given once, and refuse repeats rather than guess."""
    given = request.query_params.getlist(name)
    if len(given) > 1:
        raise invalid(f"{name} may be given once (use commas for alternatives)")
    return [v for v in given[0].split(",") if v] if given else []


async def _page(
    session: AsyncSession,
    query: Select[Any],
    at: Any,
    row_id: Any,
    count: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Newest first by (at, id), `count` rows after the cursor, and the next page's cursor."""
    after = cursor_time_id(cursor) if cursor else None
    bounds = newer_first_within(at, row_id, since=None, until=None, after=after)
    rows = (
        await session.scalars(
            query.where(*bounds).order_by(at.desc(), row_id.desc()).limit(count + 1)
        )
    ).all()
    page = rows[:count]
    last = page[-1] if len(rows) > count else None
    next_cursor = encode_cursor((getattr(last, at.key), last.id)) if last is not None else None
    return page, next_cursor


async def _mrn_system(session: AsyncSession, caller: Principal) -> str:
    configured = await session.scalar(
        select(Clinic.fhir_mrn_system).where(Clinic.id == caller.clinic_id)
    )
    return mrn_system(caller.clinic_id, configured)


@router.get("/Patient/{id}", operation_id="fhir_read_patient")
async def read_patient(
    request: Request, services: ServicesDep, caller: FhirCallerDep, id: str
) -> Response:
    check_format(request)
    patient_id = parse_id(id, "Patient")
    async with services.db.read() as session:
        patient = await session.scalar(
            select(Patient).where(Patient.id == patient_id, Patient.clinic_id == caller.clinic_id)
        )
        if patient is None:
            raise not_found("Patient")
        system = await _mrn_system(session, caller)
    note_patients(patient.id)
    return fhir_response(patient_resource(patient, system))


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
    ids = [parse_id(v, "Patient") for v in _values(request, "_id")]
    identifiers = _values(request, "identifier")
    async with services.db.read() as session:
        system = await _mrn_system(session, caller)
        query = select(Patient).where(Patient.clinic_id == caller.clinic_id)
        if ids:
            query = query.where(Patient.id.in_(ids))
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
async def read_procedure(
    request: Request, services: ServicesDep, caller: FhirCallerDep, id: str
) -> Response:
    check_format(request)
    procedure_id = parse_id(id, "Procedure")
    async with services.db.read() as session:
        procedure = await session.scalar(
            select(Procedure).where(
                Procedure.id == procedure_id, Procedure.clinic_id == caller.clinic_id
            )
        )
    if procedure is None:
        raise not_found("Procedure")
    note_patients(procedure.patient_id)
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
    if patients := [reference_id(v, "Patient") for v in _values(request, "patient")]:
        query = query.where(Procedure.patient_id.in_(patients))
    async with services.db.read() as session:
        rows, next_cursor = await _page(
            session, query, Procedure.performed_at, Procedure.id, size, cursor
        )
    note_patients(*(p.patient_id for p in rows))
    resources = [procedure_resource(p) for p in rows]
    return fhir_response(searchset(request, resources, next_cursor))


async def _names(
    session: AsyncSession, caller: Principal, alerts: Sequence[Alert]
) -> dict[uuid.UUID, str]:
    """Display names of the staff users and clients who acknowledged or resolved these."""
    ids = set().union(*(actor_ids(a) for a in alerts)) if alerts else set()
    if not ids:
        return {}
    names: dict[uuid.UUID, str] = {}
    for model in (StaffUser, IntegrationClient):
        rows = await session.execute(
            select(model.id, model.name).where(
                model.id.in_(ids), model.clinic_id == caller.clinic_id
            )
        )
        names.update({row_id: name for row_id, name in rows.tuples()})
    return names


@router.get("/Task/{id}", operation_id="fhir_read_task")
async def read_task(
    request: Request, services: ServicesDep, caller: FhirCallerDep, id: str
) -> Response:
    check_format(request)
    alert_id = parse_id(id, "Task")
    async with services.db.read() as session:
        alert = await session.scalar(
            select(Alert).where(Alert.id == alert_id, Alert.clinic_id == caller.clinic_id)
        )
        if alert is None:
            raise not_found("Task")
        names = await _names(session, caller, [alert])
    note_patients(alert.patient_id)
    return fhir_response(task_resource(alert, names))


def _coded(request: Request, name: str, known: dict[str, str]) -> list[str]:
    """A token parameter's values as ours; an unknown code is an error, not "no match"."""
    values = _values(request, name)
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
    if patients := [reference_id(v, "Patient") for v in _values(request, "patient")]:
        query = query.where(Alert.patient_id.in_(patients))
    if statuses := _coded(request, "status", ALERT_STATUS):
        query = query.where(Alert.status.in_(statuses))
    if severities := _coded(request, "priority", ALERT_SEVERITY):
        query = query.where(Alert.severity.in_(severities))
    async with services.db.read() as session:
        rows, next_cursor = await _page(session, query, Alert.created_at, Alert.id, size, cursor)
        names = await _names(session, caller, rows)
    note_patients(*(a.patient_id for a in rows))
    resources = [task_resource(a, names) for a in rows]
    return fhir_response(searchset(request, resources, next_cursor))
