"""What the view cache (app/core/view_cache.py) stands on: every change to a block or to its
reports, alerts and check-ins bumps the block's revision once, by a database trigger (migration
20261202_0012), whoever makes it; and the cache itself, bounded in bytes, with expiry."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, delete, insert, select, update

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.core.view_cache import View, ViewCache
from app.procedures.models import Procedure
from app.reports.models import Report
from tests.helpers import Api
from tests.test_view_cache import at, block, report

pytestmark = pytest.mark.anyio


async def test_triggers_bump_the_block_revision_on_every_change(api: Api) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    other = await api.create_procedure(
        staff, procedure["patient_id"], performed_at=at(0.25).isoformat()
    )
    posted = await report(
        api, staff, procedure, 1, side_effects=[{"kind": "rash_or_itching", "severity": "mild"}]
    )
    one, two = uuid.UUID(procedure["id"]), uuid.UUID(other["id"])

    async def revisions() -> tuple[int, int]:
        async with api.db.read() as session:
            rows = await session.execute(
                select(Procedure.id, Procedure.revision).where(Procedure.id.in_([one, two]))
            )
            found = dict(rows.tuples().all())
        return found[one], found[two]

    async def bumps(statement: Any) -> tuple[int, int]:
        start = await revisions()
        async with api.db.write() as session:
            await session.execute(statement)
        end = await revisions()
        return end[0] - start[0], end[1] - start[1]

    # A copy of each kind of row, so that none of the block's own is disturbed.
    copies: dict[type[Any], tuple[uuid.UUID, dict[str, Any]]] = {
        Report: (uuid.UUID(posted["report"]["id"]), {"client_report_id": uuid.uuid4()}),
        Alert: (uuid.UUID(posted["alerts"][0]["id"]), {"status": "resolved"}),
        Checkin: (uuid.UUID(procedure["checkins"][-1]["id"]), {}),
    }
    for model, (source, changes) in copies.items():
        table = cast(Table, model.__table__)
        async with api.db.read() as session:
            row = dict(
                (await session.execute(select(table).where(table.c.id == source))).mappings().one()
            )
        copy = uuid.uuid4()
        this = table.c.id == copy
        assert await bumps(insert(table).values({**row, **changes, "id": copy})) == (1, 0), model
        assert await bumps(update(table).where(this).values(procedure_id=one)) == (1, 0), model
        assert await bumps(update(table).where(this).values(procedure_id=two)) == (1, 1), model
        assert await bumps(delete(table).where(this)) == (0, 1), model
    blocks = cast(Table, Procedure.__table__)
    assert await bumps(update(blocks).where(blocks.c.id == one).values(notes="Re-read.")) == (1, 0)


@pytest.mark.unit
def test_view_cache_evicts_by_bytes_expires_and_refuses_oversize_bodies() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    entry = View(bytes(10)).size  # the body, and a flat 1 KiB for the entry and its key
    assert entry == 10 + 1024
    cache = ViewCache(8 * entry)  # one view may take at most an eighth: 10 bytes of body
    for n in range(8):
        cache.put(n, View(bytes(10)))
    assert cache.get(0, now) == View(bytes(10))  # 0 is now the most recently used
    cache.put("ninth", View(bytes(10)))
    assert cache.get(1, now) is None and cache.get(0, now) is not None and len(cache) == 8
    cache.put("big", View(bytes(11)))
    assert cache.get("big", now) is None and len(cache) == 8
    cache.put(2, View(bytes(1)))  # replaced: its bytes count once, so nothing goes
    assert len(cache) == 8 and cache.get(3, now) is not None
    cache.put(2, View(bytes(10)))  # the 9 bytes it freed are taken again: nothing goes
    assert len(cache) == 8 and cache.get(4, now) is not None
    dated = View(b"x", expires_at=now + timedelta(minutes=1))
    cache.put("dated", dated)  # over budget: the least recently used (5) goes
    assert cache.get(5, now) is None and len(cache) == 8
    assert cache.get("dated", now + timedelta(seconds=59)) == dated
    assert cache.get("dated", now + timedelta(minutes=1)) is None
    assert cache.get("dated", now) is None and len(cache) == 7  # dropped once expired
    cache.clear()  # a dead connection (tests/test_view_cache_reset.py): all of it, bytes too
    for n in range(8):
        cache.put(n, View(bytes(10)))
    assert len(cache) == 8 and cache.get(0, now) is not None
    off = ViewCache(0)
    off.put("any", View(b"{}"))
    assert off.get("any", now) is None and len(off) == 0
