"""A process empties its view cache when it finds a pooled connection dead: the database
restarted or failed over, perhaps to a restored or lagging copy whose block revisions went
back and may come round again with other data behind them (app/core/view_cache.py)."""

import httpx
import pytest
from sqlalchemy import text

from app.core.clock import FixedClock
from app.core.config import Settings
from app.main import create_app
from tests.conftest import START
from tests.helpers import Api

pytestmark = pytest.mark.anyio


@pytest.mark.postgres_only
@pytest.mark.parametrize("driver", ["asyncpg", "psycopg"])
async def test_a_dead_connection_empties_the_view_cache(
    api: Api, database_url: str, driver: str
) -> None:
    url = database_url.replace("+psycopg", f"+{driver}").replace("+asyncpg", f"+{driver}")
    app = create_app(
        Settings(database_url=url, secret_key=api.app.state.services.settings.secret_key),
        FixedClock(START),
    )
    views = app.state.services.views
    patient, procedure = await api.patient_with_procedure(api.world.a)
    staff = api.world.a.clinician.headers
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        summary = await client.get(f"/v1/procedures/{procedure['id']}/summary", headers=staff)
        assert summary.status_code == 200
        assert len(views) == 1
        async with api.db.read() as session:
            await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        # The first request after finds its pooled connections dead, and the pool replaces
        # them; the cache was emptied then, so it holds only what this request drew.
        timeline = await client.get(f"/v1/patients/{patient.id}/timeline", headers=staff)
        assert timeline.status_code == 200
        assert len(views) == 1
        again = await client.get(f"/v1/procedures/{procedure['id']}/summary", headers=staff)
        assert again.status_code == 200 and again.content == summary.content
        assert len(views) == 2
