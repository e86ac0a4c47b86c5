"""The practical limit for a read: a FastAPI endpoint that returns one patient's 50 newest
reports from the app's own `reports` table, through its `ix_reports_patient_recorded` index,
as a pydantic model; nothing else: no auth, no session check, no audit, no access log.

    GET /v1/bare/patients/{patient_id}/reports

It reads the table the service's migrations made, with the app's column types (so that it reads
SQLite's stored values as the app does), in one prebuilt Core statement on a plain async
SQLAlchemy engine: on PostgreSQL a pool of 20 (+20 overflow), as the app's default, but no
pre-ping. FastAPI validates and serialises the returned model as it would any endpoint's.

Served by bench/read.py as `uvicorn bench.bare_read:create_app --factory`, with the database
URL in BENCH_BARE_DATABASE_URL.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import cast

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import Table, Uuid, bindparam, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.reports.models import Report

URL_VARIABLE = "BENCH_BARE_DATABASE_URL"
PATH = "/v1/bare/patients/{patient_id}/reports"
PAGE = 50

_reports = cast(Table, Report.__table__)
COLUMNS = (
    "id",
    "procedure_id",
    "patient_id",
    "client_report_id",
    "recorded_at",
    "received_at",
    "pain_score",
    "relief_percent",
    "relief_ended_at",
    "temperature_value",
    "temperature_unit",
    "temperature_c",
    "side_effects",
    "notes",
)
NEWEST = (
    select(*(_reports.c[name] for name in COLUMNS))
    # The type given, as the app does: a foreign-key column's is only known once its table is.
    .where(_reports.c.patient_id == bindparam("patient_id", type_=Uuid()))
    .order_by(_reports.c.recorded_at.desc(), _reports.c.id.desc())
    .limit(PAGE)
)


class SideEffect(BaseModel):
    kind: str
    severity: str


class BareReport(BaseModel):
    id: uuid.UUID
    procedure_id: uuid.UUID
    patient_id: uuid.UUID
    client_report_id: uuid.UUID
    recorded_at: datetime
    received_at: datetime
    pain_score: int
    relief_percent: int | None
    relief_ended_at: datetime | None
    temperature_value: float | None
    temperature_unit: str | None
    temperature_c: float | None
    side_effects: list[SideEffect]
    notes: str | None


class BareReports(BaseModel):
    items: list[BareReport]


def create_app() -> FastAPI:
    url = os.environ[URL_VARIABLE]
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url)
    else:
        engine = create_async_engine(url, pool_size=20, max_overflow=20)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="Bare read: a patient's 50 newest reports", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(PATH)
    async def newest_reports(patient_id: uuid.UUID) -> BareReports:
        async with engine.connect() as conn:
            rows = (await conn.execute(NEWEST, {"patient_id": patient_id})).mappings().all()
        return BareReports(items=[BareReport.model_validate(row) for row in rows])

    return app
