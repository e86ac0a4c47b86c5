"""One audit event for every API request, written before its response leaves.

A change stages its event in its own transaction (app/audit/record.py, `stage`); any other
request's event (reads, refusals, failures) is written here as the response starts, with the
status it answers (a throttle's 429 is the one refusal not recorded: see `_persist`). If that
write fails the client gets 503 instead of an unaudited answer.

Also the access log: one line per request with the route template (never the raw path or
query, which can hold names and MRNs), status, time, actor and request id, the last five also
as structured fields (core/logsafe.py prints them as JSON keys).
"""

import logging
import re
import time
import uuid
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit.record import event_rows
from app.audit.writer import AuditWriter
from app.core.audit import AuditRecord, begin_record
from app.core.clock import Clock
from app.core.errors import PROBLEM_JSON
from app.core.logsafe import FIELDS, log_failure

access_log = logging.getLogger("aftercare.access")
log = logging.getLogger("aftercare")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_UNAVAILABLE = (
    b'{"type":"https://aftercare.example/problems/audit-unavailable",'
    b'"title":"Service Unavailable","status":503,'
    b'"detail":"The access could not be recorded, so it was not answered; try again."}'
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class AuditMiddleware:
    def __init__(self, app: ASGIApp, *, writer: AuditWriter, clock: Clock) -> None:
        self.app = app
        self.writer = writer
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # /fhir (app/fhir) serves the same patient data as /v1 and is audited alike.
        if scope["type"] != "http" or not scope["path"].startswith(("/v1/", "/fhir/")):
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        client = scope.get("client")
        agent = _header(scope, b"user-agent")
        record = AuditRecord(
            scope=scope,
            request_id=request_id,
            method=scope["method"][:8],
            client_address=client[0][:64] if client else None,
            user_agent=agent[:200] if agent else None,
        )
        begin_record(record)
        started = time.perf_counter()
        replaced = False

        async def audited_send(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start":
                status = message["status"]
                if not await self._persist(record, status):
                    replaced, status = True, 503
                    await send(_unavailable_start(request_id))
                    await send({"type": "http.response.body", "body": _UNAVAILABLE})
                else:
                    headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                    await send({**message, "headers": headers})
                self._log(record, status, started)
                return
            if not replaced:
                await send(message)

        try:
            await self.app(scope, receive, audited_send)
        except Exception:
            # An unhandled error: the outermost middleware answers 500 after this.
            await self._persist(record, 500)
            self._log(record, 500, started)
            raise

    async def _persist(self, record: AuditRecord, status: int) -> bool:
        route = record.scope.get("route")
        methods = getattr(route, "methods", None) or ()
        if record.written or route is None or record.method not in methods:
            # Staged with its change, or no operation matched: nothing was read (a 404 for an
            # unknown path, a 405 for a method the path does not have).
            return True
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            # Refused by a throttle before anything was read or changed. Auditing each one
            # would turn a flood into as many writes to a table kept for six years (1,200 rows
            # a second in bench/enroll_flood.py); the access log still has every one.
            return True
        try:
            await self.writer.write(event_rows(record, status, self.clock.now()))
        except Exception as exc:
            log_failure(log, "audit event could not be written; answering 503", exc)
            return False
        record.written = True
        return True

    @staticmethod
    def _log(record: AuditRecord, status: int, started: float) -> None:
        route = getattr(record.scope.get("route"), "path", None) or "(no route)"
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        actor_id = str(record.actor_id) if record.actor_id else None
        fields = {
            "request_id": record.request_id,
            "method": record.method,
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "actor_type": record.actor_type,
            "actor_id": actor_id,
        }
        line = "%s %s %d %.1fms actor=%s:%s request_id=%s"
        values = (record.method, route, status, duration_ms, record.actor_type, actor_id or "-")
        access_log.info(line, *values, record.request_id, extra={FIELDS: fields})


def _unavailable_start(request_id: str) -> dict[str, Any]:
    return {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(_UNAVAILABLE)).encode()),
            (b"x-request-id", request_id.encode()),
        ],
    }
