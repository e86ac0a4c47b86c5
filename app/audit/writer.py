"""Group commit for the events of reads: each request waits until its event is committed
(nothing answers unaudited), while concurrent requests share one transaction."""

import asyncio

from app.audit.record import EventRows, insert_events
from app.core.db import Database


class AuditWriter:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[tuple[EventRows, asyncio.Future[None]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def write(self, rows: EventRows) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, done))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        # Shielded: a client that hangs up must not cancel the batch others wait on.
        await asyncio.shield(done)

    async def _drain(self) -> None:
        # Events that arrive while one batch commits form the next batch.
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._db.write() as session:
                    await insert_events(session, [rows for rows, _ in batch])
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def aclose(self) -> None:
        if self._draining is not None:
            await asyncio.gather(self._draining, return_exceptions=True)
