"""FHIR Bulk Data Access (IG v2): $export kick-off, status, cancel and the files.

The whole clinic is the one group there is: /Group/{clinic id}/$export and /Patient/$export
export the same thing, the caller's clinic. Kick-off only queues a job; the worker writes it
(export_worker.py)."""

import uuid
from datetime import UTC, datetime
from email.utils import format_datetime

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from app.core.audit import note_resource
from app.core.deps import ServicesDep
from app.core.security import Principal
from app.fhir.common import (
    FHIR_BASE_PATH,
    FHIR_ROUTE_DEPENDENCIES,
    FhirCallerDep,
    FhirError,
    base_url,
    fhir_response,
    invalid,
    not_found,
    operation_outcome,
)
from app.fhir.export_models import COMPLETED, FAILED, FhirExportJob
from app.fhir.export_service import (
    ExportBusy,
    ExportRequest,
    cancel_export,
    completed_file,
    manifest,
    start_export,
    visible_job,
)
from app.fhir.export_types import EXPORT_TYPES

router = APIRouter(
    prefix=FHIR_BASE_PATH, include_in_schema=False, dependencies=FHIR_ROUTE_DEPENDENCIES
)
NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
# `_format` (the OperationOutcome answering the kick-off) is checked for every FHIR route.
KICK_OFF_PARAMS = frozenset({"_outputFormat", "_type", "_since", "_format"})
RETRY_AFTER_SECONDS = "2"
# A kick-off while the clinic's previous export is still under way: try again after this.
BUSY_RETRY_AFTER_SECONDS = "60"
JOB = "Export job"


@router.get("/Patient/$export", operation_id="fhir_export_patients")
async def export_patients(
    request: Request, services: ServicesDep, caller: FhirCallerDep
) -> Response:
    return await _kick_off(request, services, caller)


@router.get("/Group/{clinic_id}/$export", operation_id="fhir_export_group")
async def export_group(
    clinic_id: str, request: Request, services: ServicesDep, caller: FhirCallerDep
) -> Response:
    if clinic_id != str(caller.clinic_id):  # another clinic's group is not disclosed
        raise not_found("Group")
    return await _kick_off(request, services, caller)


@router.get("/$export-status/{job_id}", operation_id="fhir_export_status")
async def export_status(
    job_id: str, request: Request, services: ServicesDep, caller: FhirCallerDep
) -> Response:
    job = await _job(services, caller, job_id)
    if job.status == COMPLETED:
        headers = {}
        if job.expires_at is not None:  # always, once completed
            headers["Expires"] = format_datetime(job.expires_at.astimezone(UTC), usegmt=True)
        body = manifest(job, f"{base_url(request)}/$export-files")
        # The manifest is plain JSON, not a FHIR resource (Bulk Data IG).
        return JSONResponse(body, headers=headers)
    if job.status == FAILED:
        diagnostics = job.error or "the export failed"
        return fhir_response(operation_outcome("exception", diagnostics), status=500)
    headers = {"X-Progress": job.progress or job.status, "Retry-After": RETRY_AFTER_SECONDS}
    return Response(status_code=202, headers=headers)


@router.delete("/$export-status/{job_id}", operation_id="fhir_export_cancel")
async def cancel(job_id: str, services: ServicesDep, caller: FhirCallerDep) -> Response:
    job_uuid = _parse_job_id(job_id)
    note_resource(job_uuid)
    if not await cancel_export(services, caller, job_uuid):
        raise not_found(JOB)
    outcome = operation_outcome("informational", "the export was cancelled", "information")
    return fhir_response(outcome, status=202)


@router.get("/$export-files/{job_id}/{file_name}", operation_id="fhir_export_file")
async def export_file(
    job_id: str, file_name: str, services: ServicesDep, caller: FhirCallerDep
) -> Response:
    job = await _job(services, caller, job_id)
    try:
        path = completed_file(job, services.settings, file_name)
    except LookupError as exc:
        raise not_found("File") from exc
    # Streamed from disk in chunks: a file of a big clinic is never held in memory.
    return FileResponse(path, media_type="application/fhir+ndjson")


async def _kick_off(request: Request, services: ServicesDep, caller: Principal) -> Response:
    wanted = _export_request(request)
    try:
        job = await start_export(services, caller, wanted)
    except ExportBusy as exc:
        raise FhirError(
            429,
            "throttled",
            "this clinic already has an export queued or running: wait for it (or cancel it)",
            headers={"Retry-After": BUSY_RETRY_AFTER_SECONDS},
        ) from exc
    note_resource(job.id)
    status_url = f"{base_url(request)}/$export-status/{job.id}"
    outcome = operation_outcome("informational", "the export has started", "information")
    return fhir_response(outcome, status=202, headers={"Content-Location": status_url})


def _export_request(request: Request) -> ExportRequest:
    # Asynchronous only: an export of a whole clinic is not answered in one response.
    prefer = request.headers.get("prefer", "")
    if "respond-async" not in [p.strip().lower() for p in prefer.split(",")]:
        raise invalid("a bulk export needs the header Prefer: respond-async")
    params = request.query_params
    for name in params:
        if name not in KICK_OFF_PARAMS:
            # Ignoring a filter (_typeFilter, patient, ...) would export more than was asked.
            raise invalid(f"the parameter {name} is not supported")
    output_format = params.get("_outputFormat")
    if output_format is not None and output_format not in NDJSON_FORMATS:
        raise invalid("_outputFormat must be application/fhir+ndjson")
    asked = {t.strip() for raw in params.getlist("_type") for t in raw.split(",") if t.strip()}
    unknown = asked - EXPORT_TYPES.keys()
    if unknown:
        raise invalid(
            f"_type holds types this server does not export: {', '.join(sorted(unknown))}"
        )
    types = [name for name in EXPORT_TYPES if not asked or name in asked]
    return ExportRequest(types, _since(params.get("_since")), str(request.url))


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        since = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise invalid("_since must be a FHIR instant") from exc
    if since.tzinfo is None:
        raise invalid("_since must be a FHIR instant, with a time zone")
    return since.astimezone(UTC)


def _parse_job_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise not_found(JOB) from exc


async def _job(services: ServicesDep, caller: Principal, raw_id: str) -> FhirExportJob:
    job_id = _parse_job_id(raw_id)
    note_resource(job_id)
    try:
        return await visible_job(services, caller, job_id)
    except LookupError as exc:
        raise not_found(JOB) from exc
