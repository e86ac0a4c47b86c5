"""Alembic environment. The app passes an open connection (see app/core/migrations.py);
the `alembic` command line (for autogenerate) falls back to AFTERCARE_DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import Connection

from app.core.config import Settings
from app.models import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _from_settings() -> None:
    from app.core.db import create_engine_for

    engine = create_engine_for(Settings().resolved_database_url(), pool_size=1, foreign_keys=False)
    async with engine.begin() as conn:
        await conn.run_sync(run_migrations)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")

given = context.config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    asyncio.run(_from_settings())
