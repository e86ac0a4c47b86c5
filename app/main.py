import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from app.alerts.router import router as alerts_router
from app.api.openapi import install_openapi
from app.api.tags import OPENAPI_TAGS
from app.audit.middleware import AuditMiddleware
from app.audit.writer import AuditWriter
from app.audit_trail.router import router as audit_router
from app.auth.identity import Authenticator
from app.auth.router import router as auth_router
from app.auth.throttling import SignInGate
from app.core.clock import Clock, SystemClock
from app.core.config import Settings
from app.core.db import Database
from app.core.deps import Services
from app.core.edge import BodyGate, SafeHeaders
from app.core.errors import install_problem_handlers
from app.core.keyring import Keyring
from app.core.logsafe import log_failure
from app.docs.router import router as docs_router
from app.fhir.common import install_fhir_handlers
from app.fhir.export_router import router as fhir_export_router
from app.fhir.observation_search import router as fhir_observation_search_router
from app.fhir.report_router import router as fhir_report_router
from app.fhir.router import router as fhir_router
from app.health.router import router as health_router
from app.integrations.router import metadata_router
from app.integrations.router import router as integrations_router
from app.metrics.middleware import RequestMetrics
from app.metrics.registry import Metrics
from app.metrics.router import router as metrics_router
from app.outcomes.router import router as outcomes_router
from app.patients.devices_router import router as devices_router
from app.patients.router import router as patients_router
from app.procedures.router import router as procedures_router
from app.reports.router import router as reports_router
from app.rulesets.router import router as rulesets_router
from app.staff.router import router as staff_router
from app.timelines.router import router as timelines_router
from app.webhooks.router import router as webhooks_router
from app.worker.loop import Worker

log = logging.getLogger("aftercare")

API_DESCRIPTION = """
Follows patients through the days after a lumbar sympathetic nerve block: symptom reports
from the patient's app, red-flag alerts for clinicians, and provider contact.

Errors are RFC 9457 `application/problem+json`. Timestamps in requests must carry an offset;
responses are UTC. Lists take `limit` (1-200) and an opaque `cursor`.
"""


def build_services(settings: Settings, clock: Clock | None = None, pool_size: int = 0) -> Services:
    database = Database(
        settings.resolved_database_url(),
        pool_size=pool_size or settings.db_pool_size,
        echo=settings.db_echo,
    )
    clock = clock or SystemClock()
    # Keys are ordered by when they were really made, whatever time the business clock says.
    keyring = Keyring(database, SystemClock(), settings.secret_key)
    return Services(
        settings=settings,
        db=database,
        clock=clock,
        keyring=keyring,
        authenticator=Authenticator(database, keyring, clock),
    )


def create_app(
    settings: Settings | None = None, clock: Clock | None = None, *, run_worker: bool = False
) -> FastAPI:
    """The API. With `run_worker`, the worker runs inside it for as long as it serves."""
    settings = settings or Settings()
    services = build_services(settings, clock)
    database = services.db
    audit_writer = AuditWriter(database)
    metrics = Metrics()
    database.commit_listeners.append(metrics.count_committed)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await services.keyring.ensure()
        except DBAPIError as exc:
            # A schema behind the code, say (readiness tells): a key is made at the first
            # sign-in once it is upgraded. `aftercare serve` checks this before it starts.
            log_failure(log, "signing keys not ready", exc)
        stop = asyncio.Event()
        worker = Worker(services) if run_worker else None
        task = asyncio.create_task(worker.run(stop)) if worker else None
        if worker:
            metrics.watch_worker(lambda: worker.last_pass_at)
        try:
            yield
        finally:
            if worker and task:
                stop.set()  # sends under way finish; anything cut short is retried later
                try:
                    await asyncio.wait_for(task, timeout=settings.webhook_timeout_seconds + 5)
                except TimeoutError:
                    log.warning("worker did not stop in time; its leased deliveries will retry")
                await worker.sender.aclose()
            await audit_writer.aclose()
            # aiosqlite >= 0.22 hangs interpreter exit on an unclosed connection.
            await database.dispose()

    app = FastAPI(
        title="Aftercare API",
        version="1.0.0",
        description=API_DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        # Served by app/docs with vendored assets instead of FastAPI's CDN-loaded pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = services
    app.state.metrics = metrics
    install_problem_handlers(app)
    install_fhir_handlers(app)
    # Outermost last. The gate's refusals are raised inside the matched route, so the audit
    # (and the problem handlers) see them as any other refusal wherever the gate sits; outside
    # the audit, it also closes the connection on the audit's own 503 when a body was left
    # unread. SafeHeaders goes outermost so that 503 carries the safe headers too.
    app.add_middleware(AuditMiddleware, writer=audit_writer, clock=services.clock)
    # Outside the audit (its refusals are throttles' 429s, not audited) and inside the gate
    # (which closes a connection whose body was left unread).
    app.add_middleware(SignInGate)
    app.add_middleware(
        BodyGate,
        default_limit=settings.max_body_bytes,
        limits={"submit_report_batch": settings.max_batch_body_bytes},
    )
    app.add_middleware(SafeHeaders)
    # Outermost: every request is counted and timed, whichever layer answered it.
    app.add_middleware(RequestMetrics, metrics=metrics)
    # Routing tries each route in this order (the OpenAPI document sorts its own): the
    # patient app's report POST, the busiest write, goes first, as each route tried before it
    # costs every report a few microseconds (bench/README.md, "POST report in one statement").
    for router in (
        reports_router,
        health_router,
        metrics_router,
        auth_router,
        staff_router,
        patients_router,
        devices_router,
        procedures_router,
        alerts_router,
        rulesets_router,
        webhooks_router,
        timelines_router,
        outcomes_router,
        audit_router,
        docs_router,
        integrations_router,
        metadata_router,
        # Before fhir_router: its /Patient/{id} would otherwise take /Patient/$export.
        fhir_export_router,
        fhir_router,
        fhir_report_router,
        fhir_observation_search_router,
    ):
        app.include_router(router)
    install_openapi(app)
    return app


def openapi_json(app: FastAPI) -> str:
    """The OpenAPI document exactly as committed in openapi/openapi.json."""
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
