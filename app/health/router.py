import logging
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.core.deps import ServicesDep
from app.core.migrations import current_revision, head_revision
from app.metrics.registry import Metrics

router = APIRouter(tags=["health"])
log = logging.getLogger("aftercare")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: Literal["ok", "unreachable", "behind"]
    schema_revision: str | None
    expected_revision: str | None
    # Informative only: a stalled worker does not make the API unready (it still takes
    # reports; the outbox keeps what the worker has yet to send).
    worker_last_pass_at: datetime | None = Field(
        description="When the worker inside this process last completed a pass; null under "
        "`serve --no-worker` (the worker runs elsewhere) or before its first pass. "
        "It does not affect `status`."
    )


@router.get(
    "/healthz",
    operation_id="healthz",
    summary="The process is running",
    description="For liveness probes: 200 with `status` `ok` while the process serves "
    "requests. It does not touch the database (`/readyz` does). No access token needed.",
    response_model=Health,
)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="readyz",
    summary="The database answers and its schema is at the latest migration",
    description="For readiness probes: 200 when the database answers and its schema is at the "
    "migration this build expects; otherwise 503 with the same body, `database` saying why "
    "(`unreachable`, or `behind` while migrations are still to run) and both revisions. "
    "No access token needed.",
    response_model=Readiness,
    responses={503: {"description": "Not ready", "model": Readiness}},
)
async def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    expected = head_revision()
    metrics: Metrics = request.app.state.metrics
    last_pass = metrics.worker_last_pass_at()
    worker_last_pass_at = None if last_pass is None else datetime.fromtimestamp(last_pass, UTC)
    try:
        async with services.db.engine.connect() as conn:
            revision = await current_revision(conn)
    except Exception:  # any failure to read the schema version means "not ready"
        log.warning("readiness check could not read the database", exc_info=True)
        body = Readiness(
            status="not_ready",
            database="unreachable",
            schema_revision=None,
            expected_revision=expected,
            worker_last_pass_at=worker_last_pass_at,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=503)
    ready = revision == expected
    body = Readiness(
        status="ready" if ready else "not_ready",
        database="ok" if ready else "behind",
        schema_revision=revision,
        expected_revision=expected,
        worker_last_pass_at=worker_last_pass_at,
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ready else 503)
