"""The view cache for a patient's outcomes and outcomes chart (app/outcomes/service.py), as
tests/test_view_cache.py tests the other views: never stale, whatever changes the blocks
they show, paging included; and, like a timeline page, never kept under a key that no longer
holds."""

import uuid
from typing import Any

import httpx
import pytest

import app.procedures.service as procedures_service
from app.core.db import Database
from app.core.pagination import encode_cursor
from app.core.security import Principal
from app.procedures.service import PatientVersion, patient_version
from tests.helpers import Api
from tests.problems import assert_problem
from tests.test_view_cache import block, paths, read, report, sql, uncached_app

pytestmark = pytest.mark.anyio
__all__ = ["uncached_app"]  # the `uncached` fixture


async def test_outcomes_follow_reports_new_blocks_the_rule_set_and_hand_run_sql(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic(rule_set_version=1)
    staff = clinic.clinician
    first = await block(api, clinic)  # with a steroid: negative at 24 h, 72 h on version 2
    outcomes, chart = paths(first)["outcomes"], paths(first)["outcomes.svg"]
    await read(api, uncached, chart, staff)
    assert (await read(api, uncached, outcomes, staff)).json()["items"][0]["response"] == (
        "indeterminate"
    )
    await report(api, staff, first, 30, relief_percent=10, side_effects=[])
    assert (await read(api, uncached, outcomes, staff)).json()["items"][0]["response"] == (
        "negative"
    )
    one_block = (await read(api, uncached, chart, staff)).text
    second = await api.create_procedure(staff, first["patient_id"])
    rows = (await read(api, uncached, outcomes, staff)).json()["items"]
    assert [r["procedure_id"] for r in rows] == [first["id"], second["id"]]
    assert (await read(api, uncached, chart, staff)).text != one_block
    moved = await api.client.patch(
        "/v1/clinic", json={"rule_set_version": 2}, headers=clinic.admin.headers
    )
    assert moved.status_code == 200, moved.text
    assert (await read(api, uncached, outcomes, staff)).json()["items"][0]["response"] == (
        "indeterminate"
    )
    await read(api, uncached, chart, staff)
    await sql(
        api, "UPDATE procedures SET baseline_pain = 2 WHERE id = :id", id=uuid.UUID(first["id"])
    )
    await read(api, uncached, outcomes, staff)
    await read(api, uncached, chart, staff)


async def test_outcomes_pages_and_cursors_hit_and_miss_alike(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    first = await block(api, clinic)
    blocks = [first] + [await api.create_procedure(staff, first["patient_id"]) for _ in range(2)]
    path = paths(first)["outcomes"]
    for _ in range(2):  # each page drawn, then each page from the cache
        cursor, seen = None, []
        while True:
            params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await read(api, uncached, path, staff, **params)).json()
            seen += [row["procedure_id"] for row in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                break
        assert seen == [b["id"] for b in blocks]
    await report(api, staff, blocks[0], 30, relief_percent=80, side_effects=[])
    await read(api, uncached, path, staff, limit=1, cursor=encode_cursor(1))
    past = (await read(api, uncached, path, staff, cursor=encode_cursor(99))).json()
    assert past == {"items": [], "next_cursor": None}
    for bad in ("x", encode_cursor("a")):
        refused = await api.client.get(path, params={"cursor": bad}, headers=staff.headers)
        assert_problem(refused, 400)


@pytest.mark.parametrize("view", ["outcomes", "timeline"])
async def test_a_block_filed_under_the_patient_while_drawn_is_not_kept(
    api: Api, uncached: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, view: str
) -> None:
    """An operator files another patient's block under this one just after the key was read,
    then moves it back: the key is what it was, so a body drawn with that block must not
    have been kept under it (the timeline keys by the same blocks)."""
    clinic = await api.new_clinic()
    mine, other = await block(api, clinic), await block(api, clinic)
    ids = {k: uuid.UUID(v) for k, v in (("a", mine["patient_id"]), ("x", other["id"]))}
    move = "UPDATE procedures SET patient_id = :a, sequence_number = 2 WHERE id = :x"
    key_of = patient_version  # what both views are keyed by, before the patch
    reads = 0

    async def moved_once_read(
        db: Database, caller: Principal, patient: uuid.UUID
    ) -> PatientVersion:
        nonlocal reads
        version = await key_of(db, caller, patient)
        reads += 1
        if reads == 1:  # committed between the key's read and the draw
            await sql(api, move, **ids)
        return version

    monkeypatch.setattr(procedures_service, "patient_version", moved_once_read)
    path = paths(mine)[view]
    drawn = await api.client.get(path, headers=clinic.clinician.headers)
    assert other["id"] in drawn.text
    back = "UPDATE procedures SET patient_id = :b, sequence_number = 1 WHERE id = :x"
    await sql(api, back, b=uuid.UUID(other["patient_id"]), x=ids["x"])
    assert other["id"] not in (await read(api, uncached, path, clinic.clinician)).text
