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
                await self._insert(batch)
            except Exception:
                # One bad row must not fail the requests that shared its batch: each again
                # alone, so only a row that cannot be written fails its request.
                for one in batch:
                    try:
                        await self._insert([one])
                    except Exception as exc:
                        _settle(one[1], exc)

    async def _insert(self, batch: list[tuple[EventRows, asyncio.Future[None]]]) -> None:
        async with self._db.write() as session:
            await insert_events(session, [rows for rows, _ in batch])
        for _, done in batch:
            _settle(done, None)

    async def aclose(self) -> None:
        if self._draining is not None:
            await asyncio.gather(self._draining, return_exceptions=True)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
        # Its request may have gone (a client that hung up): never "exception was never
        # retrieved" in the log, which would print the database's words.
        done.add_done_callback(lambda future: future.exception())
