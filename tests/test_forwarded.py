"""Behind a reverse proxy named in AFTERCARE_FORWARDED_ALLOW_IPS the client's address comes
from X-Forwarded-For (the throttles and the audit trail count the client, not the proxy);
otherwise the header is ignored, so nobody picks the address they are counted by."""

import asyncio
import socket
import uuid

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.cli import uvicorn_options
from tests.helpers import Api

pytestmark = pytest.mark.anyio
CLIENT = "203.0.113.9"  # TEST-NET-3: documentation only


async def recorded_address(api: Api, forwarded_allow_ips: str) -> str | None:
    """Serves the test's app behind a real uvicorn run with `serve`'s options, sends one
    request claiming to come from CLIENT, and answers the address its audit event holds."""
    clinic = await api.new_clinic()
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    options = uvicorn_options(forwarded_allow_ips)
    server = uvicorn.Server(uvicorn.Config(api.app, lifespan="off", **options))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    request_id = uuid.uuid4().hex
    headers = {**clinic.clinician.headers, "x-forwarded-for": CLIENT, "x-request-id": request_id}
    try:
        base_url = f"http://127.0.0.1:{listening.getsockname()[1]}"
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            assert (await client.get("/v1/me", headers=headers)).status_code == 200
    finally:
        server.should_exit = True
        await serving
        listening.close()
    async with api.db.read() as session:
        query = select(AuditEvent.client_address).where(AuditEvent.request_id == request_id)
        return await session.scalar(query)


async def test_the_proxys_forwarded_address_is_believed(api: Api) -> None:
    assert await recorded_address(api, "127.0.0.1") == CLIENT


async def test_without_a_named_proxy_the_header_is_ignored(api: Api) -> None:
    assert await recorded_address(api, "") == "127.0.0.1"
