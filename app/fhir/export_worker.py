"""The worker's part of bulk export: one batch of one job per pass, and the expiry sweep.

A pass claims a job (queued, or running under this worker's lease or an expired one), reads
at most BATCH source rows of the type it is writing after the last id written (keyset on
id), maps and appends them to <export_dir>/<job>/<Type>.ndjson, and records the new cursor,
counts and byte length in the row, where the status is still running under its lease. So
memory holds one batch whatever the clinic's size, the loop's other duties (timers, webhook
sends) run between batches, and a cancel is seen at the next batch. A worker that dies leaves
the cursor: the next claims the job once the lease runs out and cuts the file back to the
recorded length before it appends.
"""

import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic_core
from sqlalchemy import and_, delete, or_, select, update

from app.core.deps import Services
from app.core.logsafe import log_failure
from app.fhir.export_models import CANCELLED, COMPLETED, FAILED, QUEUED, RUNNING, FhirExportJob
from app.fhir.export_service import NDJSON, job_dir, open_private, retention
from app.fhir.export_types import EXPORT_TYPES, ExportContext
from app.staff.models import Clinic

log = logging.getLogger("aftercare.worker")
# Source rows per pass: big enough that the three short transactions around it are cheap,
# small enough that a pass blocks the loop for tens of milliseconds.
BATCH = 1000
# Far longer than a batch takes; a job whose worker died is resumed by another after this.
LEASE = timedelta(minutes=5)
SWEEP_LIMIT = 100


@dataclass
class _Claimed:
    id: uuid.UUID
    clinic_id: uuid.UUID
    types: list[str]
    since: datetime | None
    transaction_time: datetime
    cursor: dict[str, Any]
    context: ExportContext


class Exporter:
    def __init__(self, services: Services, *, batch: int = BATCH) -> None:
        self.services = services
        self.batch = batch
        self.owner = uuid.uuid4()  # this worker's name on the leases it holds

    def _claimable(self, now: datetime) -> Any:
        mine_or_lapsed = or_(
            FhirExportJob.lease_owner == self.owner, FhirExportJob.lease_until < now
        )
        return or_(
            FhirExportJob.status == QUEUED,
            and_(FhirExportJob.status == RUNNING, mine_or_lapsed),
        )

    async def run_batch(self) -> int:
        """One batch of one job; 1 if there was one to do, else 0."""
        claimed = await self._claim()
        if claimed is None:
            return 0
        try:
            await self._write_batch(claimed)
        except Exception as exc:
            log_failure(log, "bulk export failed", exc)
            await self._fail(claimed)
        return 1

    async def _claim(self) -> _Claimed | None:
        now = self.services.clock.now()
        db = self.services.db
        # A plain read first: most passes find nothing, and must not take SQLite's write lock.
        probe = select(FhirExportJob.id).where(self._claimable(now)).limit(1)
        if await db.lookup_scalar(probe, {}) is None:
            return None
        async with db.write() as session:
            # SQLite: write() is BEGIN IMMEDIATE, so nobody changes the row between this read
            # and the update. PostgreSQL: SKIP LOCKED lets workers claim different jobs.
            query = select(FhirExportJob).where(self._claimable(now))
            query = query.order_by(FhirExportJob.created_at).limit(1)
            if db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            job = await session.scalar(query)
            if job is None:
                return None
            job.status, job.lease_owner, job.lease_until = RUNNING, self.owner, now + LEASE
            mrn_system = await session.scalar(
                select(Clinic.fhir_mrn_system).where(Clinic.id == job.clinic_id)
            )
            return _Claimed(
                job.id,
                job.clinic_id,
                list(job.types),
                job.since,
                job.transaction_time,
                dict(job.cursor),
                ExportContext(job.clinic_id, mrn_system),
            )

    async def _write_batch(self, job: _Claimed) -> None:
        cursor = job.cursor
        name: str = cursor.get("type") or job.types[0]
        export = EXPORT_TYPES[name]
        after = cursor.get("after")
        conditions = [
            export.source_clinic() == job.clinic_id,
            export.unchanged_after(job.transaction_time),
        ]
        if after is not None:
            conditions.append(export.source_id() > uuid.UUID(after))
        if job.since is not None:
            conditions.append(export.changed_since(job.since))
        query = select(export.model).where(*conditions).order_by(export.source_id())
        async with self.services.db.read() as session:
            rows: list[Any] = list(await session.scalars(query.limit(self.batch)))
            await export.lookup(session, rows, job.context)
        files: dict[str, dict[str, int]] = dict(cursor.get("files", {}))
        done = files.get(name, {"count": 0, "bytes": 0})
        lines = [
            pydantic_core.to_json(resource) + b"\n"
            for row in rows
            for resource in export.resources(row, job.context)
        ]
        size = done["bytes"]
        if lines:
            size = _append(job_dir(self.services.settings, job.id) / f"{name}{NDJSON}", size, lines)
        files[name] = {"count": done["count"] + len(lines), "bytes": size}
        values: dict[str, Any] = {"lease_until": self.services.clock.now() + LEASE}
        if len(rows) == self.batch:
            new_cursor: dict[str, Any] = {"type": name, "after": str(rows[-1].id), "files": files}
            values["progress"] = f"{name}: {files[name]['count']} written"
        else:
            following = job.types[job.types.index(name) + 1 :]
            new_cursor = {
                "type": following[0] if following else None,
                "after": None,
                "files": files,
            }
            if following:
                values["progress"] = f"{following[0]}: 0 written"
            else:
                now = self.services.clock.now()
                values.update(
                    status=COMPLETED,
                    progress="completed",
                    completed_at=now,
                    expires_at=now + retention(self.services.settings),
                    lease_owner=None,
                    lease_until=None,
                )
        values["cursor"] = new_cursor
        if not await self._record(job.id, values):
            await self._lost(job.id)

    async def _record(self, job_id: uuid.UUID, values: dict[str, Any]) -> bool:
        """Stores the batch's outcome if the job is still running under this worker's lease:
        False when it was cancelled (or, after a stall, taken over) meanwhile."""
        async with self.services.db.write() as session:
            result = await session.execute(
                update(FhirExportJob)
                .where(
                    FhirExportJob.id == job_id,
                    FhirExportJob.status == RUNNING,
                    FhirExportJob.lease_owner == self.owner,
                )
                .values(**values)
            )
        return bool(getattr(result, "rowcount", 0))

    async def _lost(self, job_id: uuid.UUID) -> None:
        """The job was cancelled or removed while this worker wrote: its files go too (the
        batch may have recreated the directory). One another worker took over is left to it."""
        async with self.services.db.read() as session:
            status = await session.scalar(
                select(FhirExportJob.status).where(FhirExportJob.id == job_id)
            )
        if status is None or status == CANCELLED:
            await self._remove([job_id])

    async def _fail(self, job: _Claimed) -> None:
        now = self.services.clock.now()
        # A fixed sentence: an exception's text can quote row values.
        failed = await self._record(
            job.id,
            {
                "status": FAILED,
                "progress": "failed",
                "lease_owner": None,
                "lease_until": None,
                "error": "the export could not be completed; start a new one",
                "completed_at": now,
                "expires_at": now + retention(self.services.settings),
            },
        )
        if failed:  # still this worker's: its partial files go
            shutil.rmtree(job_dir(self.services.settings, job.id), ignore_errors=True)
        else:
            await self._lost(job.id)

    async def sweep(self, now: datetime) -> int:
        """Removes expired jobs, and cancelled ones, that no worker is writing: files, then
        rows. Only completed and failed jobs have an expiry (and no lease); the lease is
        checked for expired ones all the same."""
        # This worker is between batches here, so its own leases are free to go too; another
        # worker's live lease is left to it (it sees the cancel at its next batch).
        unleased = or_(
            FhirExportJob.lease_until.is_(None),
            FhirExportJob.lease_until < now,
            FhirExportJob.lease_owner == self.owner,
        )
        async with self.services.db.read() as session:
            ids = list(
                await session.scalars(
                    select(FhirExportJob.id)
                    .where(
                        unleased,
                        or_(FhirExportJob.expires_at <= now, FhirExportJob.status == CANCELLED),
                    )
                    .limit(SWEEP_LIMIT)
                )
            )
        if ids:
            await self._remove(ids)
        return len(ids)

    async def _remove(self, ids: list[uuid.UUID]) -> None:
        for job_id in ids:
            shutil.rmtree(job_dir(self.services.settings, job_id), ignore_errors=True)
        async with self.services.db.write() as session:
            await session.execute(delete(FhirExportJob).where(FhirExportJob.id.in_(ids)))


def _append(path: Path, length: int, lines: list[bytes]) -> int:
    """Appends the lines at byte `length` (cutting off whatever a stalled worker wrote past
    the recorded length); the new length."""
    fd = open_private(path)
    try:
        os.ftruncate(fd, length)
        os.lseek(fd, length, os.SEEK_SET)
        data = b"".join(lines)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return length + len(data)
    finally:
        os.close(fd)
