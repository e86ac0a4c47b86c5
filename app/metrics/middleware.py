"""Counts and times every HTTP request by the route that matched it (pure ASGI: nothing is
buffered). The route template comes from the scope once routing has run, so
/v1/patients/{patient_id} is one series however many patients are asked for, and any path
no route matched is one series too (UNMATCHED)."""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics.registry import UNMATCHED, Metrics


def route_template(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestMetrics:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app fails before it starts a response

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self.metrics.observe_request(scope["method"], route_template(scope), status, started)
