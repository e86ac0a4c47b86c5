"""The practical limit for POST report: a FastAPI endpoint that validates the same body
(app.reports.schemas.ReportIn) and inserts three rows in one transaction, nothing else: no
auth, no procedure lookup, no idempotency check, no stored response.

It uses the same database settings as the app where they decide the cost of a write: on
SQLite WAL, synchronous=FULL, BEGIN IMMEDIATE and one writer at a time in the process; on
PostgreSQL a pool of 10 (+10 overflow), but no pre-ping (one round trip fewer per request).

Served by bench/run.py as `uvicorn bench.minimal_app:create_app --factory`, with the database
URL in BENCH_MINIMAL_DATABASE_URL; its tables come from `create_schema(url)`.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    insert,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.reports.schemas import ReportIn

URL_VARIABLE = "BENCH_MINIMAL_DATABASE_URL"
PATH = "/v1/minimal/reports"
_JSON = JSON().with_variant(JSONB(), "postgresql")

metadata = MetaData()
reports = Table(
    "bench_reports",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("client_report_id", Uuid, nullable=False, unique=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("pain_score", Integer, nullable=False),
    Column("body", _JSON, nullable=False),
)
side_effects = Table(
    "bench_side_effects",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("report_id", Uuid, ForeignKey("bench_reports.id"), nullable=False),
    Column("effects", _JSON, nullable=False),
)
events = Table(
    "bench_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("report_id", Uuid, ForeignKey("bench_reports.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str) -> AsyncEngine:
    if not _is_sqlite(url):
        return create_async_engine(url, pool_size=10, max_overflow=10)
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "foreign_keys=ON",
            "journal_mode=WAL",
            "synchronous=FULL",
            "busy_timeout=10000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def create_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()


def create_app() -> FastAPI:
    url = os.environ[URL_VARIABLE]
    engine = make_engine(url)
    # SQLite has one writer: queue writers in the process, as the app does.
    write_lock = asyncio.Lock() if _is_sqlite(url) else None

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncConnection]:
        if write_lock is None:
            async with engine.begin() as conn:
                yield conn
            return
        async with write_lock, engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="Minimal 3-row write", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(PATH, status_code=201)
    async def submit(body: ReportIn) -> dict[str, str]:
        now = datetime.now(UTC)
        report_id = uuid.uuid4()
        async with transaction() as conn:
            await conn.execute(
                insert(reports).values(
                    id=report_id,
                    client_report_id=body.client_report_id,
                    recorded_at=body.recorded_at,
                    received_at=now,
                    pain_score=body.pain_score,
                    body=body.model_dump(mode="json"),
                )
            )
            await conn.execute(
                insert(side_effects).values(
                    id=uuid.uuid4(),
                    report_id=report_id,
                    effects=[e.model_dump(mode="json") for e in body.side_effects],
                )
            )
            await conn.execute(
                insert(events).values(id=uuid.uuid4(), report_id=report_id, kind="received", at=now)
            )
        return {"id": str(report_id)}

    return app
