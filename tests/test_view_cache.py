"""The clinicians' view cache (app/core/view_cache.py): a cached timeline, block summary or block
chart is never stale and never leaks. Each view is read (filling the cache), the data changed
(through the API, by the worker's clock pass, or by hand-run SQL the app never sees), and read
again: the answer must show the change and be byte for byte what an app without a cache says."""

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Table, Uuid, bindparam, delete, insert, select, text, update

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.core.config import Settings
from app.core.view_cache import View, ViewCache
from app.main import create_app
from app.procedures.models import Procedure
from app.reports.models import Report
from app.scheduled.service import close_missed_checkins
from tests.helpers import Actor, Api, ClinicActors, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)  # helpers.procedure_body performed_at


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
async def uncached(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same database and clock, served by an app with the cache turned off."""
    app = create_app(settings.model_copy(update={"view_cache_mb": 0}), api.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as c:
            yield c


def views(api: Api) -> ViewCache:
    cache: ViewCache = api.app.state.services.views
    return cache


async def block(api: Api, clinic: ClinicActors, **fields: Any) -> dict[str, Any]:
    patient = await api.create_patient(clinic.clinician)
    return await api.create_procedure(clinic.clinician, patient["id"], **fields)


async def report(
    api: Api, staff: Actor, procedure: dict[str, Any], hours: float, **fields: Any
) -> dict[str, Any]:
    if api.clock.now() < at(hours):
        api.clock.set(at(hours))
    body = report_body(recorded_at=at(hours).isoformat(), **{"temperature": None, **fields})
    response = await api.post_report(staff, procedure["id"], body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def paths(procedure: dict[str, Any]) -> dict[str, str]:
    return {
        "timeline": f"/v1/patients/{procedure['patient_id']}/timeline",
        "summary": f"/v1/procedures/{procedure['id']}/summary",
        "chart": f"/v1/procedures/{procedure['id']}/chart.svg",
    }


async def read(
    api: Api, uncached: httpx.AsyncClient, path: str, staff: Actor, **params: Any
) -> httpx.Response:
    """The cached app's answer, checked to be what the app without a cache answers now."""
    got = await api.client.get(path, params=params, headers=staff.headers)
    fresh = await uncached.get(path, params=params, headers=staff.headers)
    assert got.status_code == fresh.status_code == 200, got.text
    assert got.content == fresh.content, f"stale {path}"
    assert got.headers["content-type"] == fresh.headers["content-type"]
    return got


def same_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k != "x-request-id"}


async def sql(api: Api, statement: str, **ids: uuid.UUID) -> None:
    """Hand-run SQL, as an operator would: no app code runs, only the database's triggers."""
    bound = text(statement).bindparams(*(bindparam(k, v, type_=Uuid()) for k, v in ids.items()))
    async with api.db.write() as session:
        await session.execute(bound)


def item(timeline: httpx.Response, item_id: str) -> dict[str, Any]:
    (found,) = [i for i in timeline.json()["items"] if i["id"] == item_id]
    return dict(found)


async def test_timeline_shows_new_reports_missed_check_ins_and_hand_run_sql(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    path = paths(procedure)["timeline"]
    first = procedure["checkins"][0]  # due 12:30, its window closes 14:30
    api.clock.set(at(1.5))
    await read(api, uncached, path, staff)
    assert item(await read(api, uncached, path, staff), first["id"])["data"]["status"] == "pending"
    # The worker's clock pass at 14:30; the app's clock stays at 13:00, so nothing expires.
    while await close_missed_checkins(api.app.state.services, at(3)):
        pass
    missed = item(await read(api, uncached, path, staff), first["id"])
    assert (missed["data"]["status"], missed["summary"][-6:]) == ("missed", "missed")
    new = (await report(api, staff, procedure, 1.5, pain_score=6))["report"]["id"]
    assert item(await read(api, uncached, path, staff), new)["summary"].startswith("Pain 6/10")
    await sql(api, "UPDATE reports SET pain_score = 1 WHERE id = :id", id=uuid.UUID(new))
    assert item(await read(api, uncached, path, staff), new)["summary"].startswith("Pain 1/10")


async def test_summary_follows_alert_work_and_the_clinic_s_rule_set(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic(rule_set_version=1)
    staff = clinic.clinician
    procedure = await block(api, clinic)  # with a steroid: negative at 24 h, 72 h on version 2
    rash = await report(
        api,
        staff,
        procedure,
        1,
        relief_percent=20,
        side_effects=[{"kind": "rash_or_itching", "severity": "mild"}],
    )
    alert = rash["alerts"][0]["id"]
    await report(api, staff, procedure, 30, relief_percent=20, side_effects=[])
    summary, chart = paths(procedure)["summary"], paths(procedure)["chart"]
    before = (await read(api, uncached, summary, staff)).json()
    assert (before["open_alerts"], before["response"]) == (1, "negative")
    await read(api, uncached, chart, staff)
    for action, body, status in (
        ("acknowledge", {}, "acknowledged"),
        ("resolve", {"note": "Done."}, None),
    ):
        done = await api.client.post(
            f"/v1/alerts/{alert}/{action}", json=body, headers=staff.headers
        )
        assert done.status_code == 200, done.text
        after = (await read(api, uncached, summary, staff)).json()
        assert [a["status"] for a in after["alerts"]] == ([status] if status else [])
    moved = await api.client.patch(
        "/v1/clinic", json={"rule_set_version": 2}, headers=clinic.admin.headers
    )
    assert moved.status_code == 200, moved.text
    assert (await read(api, uncached, summary, staff)).json()["response"] == "indeterminate"
    assert "indeterminate" in (await read(api, uncached, chart, staff)).text


async def test_chart_follows_new_reports_and_hand_run_sql_on_alerts(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    effects = [{"kind": "rash_or_itching", "severity": "mild"}]
    alert = (await report(api, staff, procedure, 1, side_effects=effects))["alerts"][0]["id"]
    path = paths(procedure)["chart"]
    before = (await read(api, uncached, path, staff)).text
    await report(api, staff, procedure, 2, pain_score=1, side_effects=[])
    after = (await read(api, uncached, path, staff)).text
    assert after != before and "alert-status-open" in after
    await sql(api, "UPDATE alerts SET status = 'resolved' WHERE id = :id", id=uuid.UUID(alert))
    resolved = (await read(api, uncached, path, staff)).text
    assert "alert-status-resolved" in resolved and "alert-status-open" not in resolved


async def test_a_check_in_joins_the_timeline_once_due_with_no_row_changed(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic)
    path, first = paths(procedure)["timeline"], procedure["checkins"][0]["id"]
    api.clock.set(at(1) - timedelta(seconds=1))
    for _ in range(2):  # a miss, then a hit
        shown = await read(api, uncached, path, clinic.clinician)
        assert first not in [i["id"] for i in shown.json()["items"]]
    api.clock.set(at(1))
    assert item(await read(api, uncached, path, clinic.clinician), first)["type"] == "checkin"


async def test_another_clinic_gets_404_from_a_filled_cache_and_each_hit_is_audited(
    api: Api,
) -> None:
    clinic, stranger = await api.new_clinic(), await api.new_clinic()
    procedure = await block(api, clinic)
    actions = {
        "timeline": "timeline.read",
        "summary": "procedure.summary",
        "chart": "procedure.chart",
    }
    read_ids: dict[str, str] = {}
    refused_ids: list[str] = []
    for view, path in paths(procedure).items():
        for _ in range(2):  # a miss, then a hit
            got = await api.client.get(path, headers=clinic.clinician.headers)
            assert got.status_code == 200, got.text
            read_ids[got.headers["x-request-id"]] = actions[view]
        for staff in (stranger.clinician, stranger.admin):
            refused = await api.client.get(path, headers=staff.headers)
            assert_problem(refused, 404)
            assert procedure["id"] not in refused.text
            refused_ids.append(refused.headers["x-request-id"])
    ours = await audit_events(api, clinic.admin, patient_id=procedure["patient_id"])
    for request_id, action in read_ids.items():
        (event,) = [e for e in ours if e["request_id"] == request_id]
        assert (event["action"], event["status"]) == (action, 200)
        assert event["patient_ids"] == [procedure["patient_id"]]
    theirs = {e["request_id"]: e for e in await audit_events(api, stranger.admin)}
    assert all(theirs[r]["patient_ids"] == [] for r in refused_ids)


async def audit_events(api: Api, admin: Actor, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await api.client.get(
            "/v1/audit-events",
            params={**params, "limit": 200, **({"cursor": cursor} if cursor else {})},
            headers=admin.headers,
        )
        assert page.status_code == 200, page.text
        events += page.json()["items"]
        if (cursor := page.json()["next_cursor"]) is None:
            return events


async def test_cache_on_and_off_send_the_same_bytes(api: Api, uncached: httpx.AsyncClient) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    effects = [{"kind": "rash_or_itching", "severity": "mild"}]
    await report(api, staff, procedure, 1, relief_percent=55, side_effects=effects, notes="Übel")
    await report(
        api, staff, procedure, 2.25, pain_score=2, temperature={"value": 38.4, "unit": "C"}
    )
    requests: list[tuple[str, dict[str, Any]]] = [(p, {}) for p in paths(procedure).values()]
    requests.append((paths(procedure)["timeline"], {"types": "report,checkin", "limit": 2}))
    for path, params in requests:
        entries = len(views(api))
        miss = await read(api, uncached, path, staff, **params)
        assert len(views(api)) == entries + 1
        hit = await read(api, uncached, path, staff, **params)
        assert len(views(api)) == entries + 1
        assert hit.content == miss.content and same_headers(hit) == same_headers(miss)
        if path.endswith(".svg"):
            assert miss.headers["content-type"].startswith("image/svg+xml")
            assert miss.headers["cache-control"] == "no-store"
        else:  # what FastAPI's JSONResponse would have rendered for the same content
            assert miss.headers["content-type"] == "application/json"
            rendered = json.dumps(miss.json(), ensure_ascii=False, separators=(",", ":"))
            assert miss.content == rendered.encode()


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
    cache = ViewCache(80)  # one body may take at most 10 bytes
    for n in range(8):
        cache.put(n, View(bytes(10)))
    assert cache.get(0, now) == View(bytes(10))  # 0 is now the most recently used
    cache.put("ninth", View(bytes(10)))
    assert cache.get(1, now) is None and cache.get(0, now) is not None and len(cache) == 8
    cache.put("big", View(bytes(11)))
    assert cache.get("big", now) is None and len(cache) == 8
    cache.put(2, View(bytes(1)))  # replaced: its bytes count once, the space freed is reused
    cache.put("tenth", View(bytes(9)))
    assert len(cache) == 9
    dated = View(b"x", expires_at=now + timedelta(minutes=1))
    cache.put("dated", dated)  # 81 bytes: the least recently used (3) goes
    assert cache.get(3, now) is None and len(cache) == 9
    assert cache.get("dated", now + timedelta(seconds=59)) == dated
    assert cache.get("dated", now + timedelta(minutes=1)) is None
    assert cache.get("dated", now) is None and len(cache) == 8  # dropped once expired
    off = ViewCache(0)
    off.put("any", View(b"{}"))
    assert off.get("any", now) is None and len(off) == 0
