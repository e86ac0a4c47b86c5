"""Bulk export jobs as the API sees them: kick-off, status, cancel and the files' place.

A job is its clinic's: another clinic's, a cancelled one and an expired one are all simply
not found. An integration client sees only the jobs it started (the Bulk Data IG ties status
and files to the requesting client); the clinic's staff see all of the clinic's, whoever
started them, so an admin can follow or cancel a client's export. A clinic has at most one
job queued or running at a time. The worker (export_worker.py) does the writing."""

import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from app.core.config import Settings
from app.core.deps import Services
from app.core.security import Principal
from app.fhir.common import instant
from app.fhir.export_models import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, FhirExportJob
from app.fhir.export_types import EXPORT_TYPES
from app.staff.models import Clinic

NDJSON = ".ndjson"


@dataclass(frozen=True)
class ExportRequest:
    types: list[str]  # in EXPORT_TYPES order
    since: datetime | None
    request_url: str


def export_root(settings: Settings) -> Path:
    """The export directory, made private (0700) if new, as the SQLite file's is."""
    root = settings.resolved_export_dir()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return root


def job_dir(settings: Settings, job_id: uuid.UUID) -> Path:
    return export_root(settings) / job_id.hex


def open_private(path: Path) -> int:
    """A file descriptor for writing `path`, made 0600 if new: patient data."""
    path.parent.mkdir(mode=0o700, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


class ExportBusy(Exception):
    """The clinic already has an export queued or running."""


async def start_export(
    services: Services, caller: Principal, wanted: ExportRequest
) -> FhirExportJob:
    """Queues the job; ExportBusy while the clinic has one queued or running."""
    now = services.clock.now()
    job = FhirExportJob(
        id=uuid.uuid4(),
        clinic_id=caller.clinic_id,
        actor_type=caller.actor_type,
        requested_by_staff_id=caller.staff_user_id,
        requested_by_client_id=caller.client_id,
        types=wanted.types,
        since=wanted.since,
        status=QUEUED,
        progress="queued",
        request=wanted.request_url,
        transaction_time=now,
        created_at=now,
        expires_at=None,  # set when it completes or fails
        cursor={"type": None, "after": None, "files": {}},
    )
    async with services.db.write() as session:
        # SQLite: write() is BEGIN IMMEDIATE, so kick-offs are serial. PostgreSQL: the clinic's
        # row lock makes two concurrent kick-offs of one clinic take turns.
        clinic = select(Clinic.id).where(Clinic.id == caller.clinic_id)
        if services.db.dialect == "postgresql":
            clinic = clinic.with_for_update(key_share=True)
        await session.execute(clinic)
        busy = await session.scalar(
            select(FhirExportJob.id)
            .where(
                FhirExportJob.clinic_id == caller.clinic_id,
                FhirExportJob.status.in_((QUEUED, RUNNING)),
            )
            .limit(1)
        )
        if busy is not None:
            raise ExportBusy
        session.add(job)
    return job


def retention(settings: Settings) -> timedelta:
    return timedelta(hours=settings.export_retention_hours)


def _visible(caller: Principal, job_id: uuid.UUID, now: datetime) -> list[ColumnElement[bool]]:
    """The job, if it is the caller's clinic's (a client's: its own) and not expired."""
    where = [
        FhirExportJob.id == job_id,
        FhirExportJob.clinic_id == caller.clinic_id,
        or_(FhirExportJob.expires_at.is_(None), FhirExportJob.expires_at > now),
    ]
    if not caller.is_staff:
        where.append(FhirExportJob.requested_by_client_id == caller.subject_id)
    return where


async def visible_job(services: Services, caller: Principal, job_id: uuid.UUID) -> FhirExportJob:
    """The caller's job (see _visible), unless cancelled or expired (LookupError)."""
    now = services.clock.now()
    async with services.db.read() as session:
        job = await session.scalar(
            select(FhirExportJob).where(
                *_visible(caller, job_id, now), FhirExportJob.status != CANCELLED
            )
        )
    if job is None:
        raise LookupError("no such export")
    return job


async def cancel_export(services: Services, caller: Principal, job_id: uuid.UUID) -> bool:
    """Marks the job cancelled; the worker removes its files and row (at its next batch if it
    is writing it, else in its sweep). False when there is no such job to cancel."""
    now = services.clock.now()
    async with services.db.write() as session:
        result = await session.execute(
            update(FhirExportJob)
            .where(
                *_visible(caller, job_id, now),
                FhirExportJob.status.in_((QUEUED, RUNNING, COMPLETED, FAILED)),
            )
            .values(status=CANCELLED, progress="cancelled")
        )
    return bool(getattr(result, "rowcount", 0))


def manifest(job: FhirExportJob, files_base: str) -> dict[str, Any]:
    """The Bulk Data manifest. Types with no resources have no file and are left out."""
    files: dict[str, dict[str, int]] = job.cursor.get("files", {})
    output = [
        {
            "type": name,
            "url": f"{files_base}/{job.id}/{name}{NDJSON}",
            "count": files[name]["count"],
        }
        for name in EXPORT_TYPES
        if name in files and files[name]["count"] > 0
    ]
    return {
        "transactionTime": instant(job.transaction_time),
        "request": job.request,
        "requiresAccessToken": True,
        "output": output,
        "error": [],
    }


def completed_file(job: FhirExportJob, settings: Settings, file_name: str) -> Path:
    """The path of one of the job's files, checked against what it wrote (never a path from
    the request: no traversal)."""
    name = file_name.removesuffix(NDJSON)
    files: dict[str, dict[str, int]] = job.cursor.get("files", {})
    if (
        job.status != COMPLETED
        or not file_name.endswith(NDJSON)
        or name not in EXPORT_TYPES
        or files.get(name, {}).get("count", 0) == 0
    ):
        raise LookupError("no such file")
    path = job_dir(settings, job.id) / f"{name}{NDJSON}"
    if not path.is_file():
        raise LookupError("no such file")
    return path
