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
from sqlalchemy import Uuid, bindparam, text

from app.core.config import Settings
from app.core.view_cache import ViewCache
from app.main import create_app
from app.scheduled.service import close_missed_checkins
from tests.helpers import Actor, Api, ClinicActors, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)  # helpers.procedure_body performed_at
RASH = [{"kind": "rash_or_itching", "severity": "mild"}]  # raises an alert
ACTIONS = {
    "timeline": "timeline.read",
    "summary": "procedure.summary",
    "chart": "procedure.chart",
    "outcomes": "outcomes.read",
    "outcomes.svg": "outcomes.chart",
}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture(name="uncached")  # named so that other modules import it unshadowed
async def uncached_app(api: Api, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same database and clock, served by an app with the cache turned off."""
    app = create_app(settings.model_copy(update={"view_cache_mb": 0}), api.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as c:
            yield c


def views(api: Api) -> ViewCache:
    return cast(ViewCache, api.app.state.services.views)


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
        "outcomes": f"/v1/patients/{procedure['patient_id']}/outcomes",
        "outcomes.svg": f"/v1/patients/{procedure['patient_id']}/outcomes.svg",
    }


async def read(
    api: Api, uncached: httpx.AsyncClient, path: str, staff: Actor, **params: Any
) -> httpx.Response:
    """The cached app's answer, checked to be what the app without a cache answers now. With
    no params, a query string in `path` (a next link) is kept: httpx drops it for `{}`."""
    query = params or None
    got = await api.client.get(path, params=query, headers=staff.headers)
    fresh = await uncached.get(path, params=query, headers=staff.headers)
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
    rash = await report(api, staff, procedure, 1, relief_percent=20, side_effects=RASH)
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
    alert = (await report(api, staff, procedure, 1, side_effects=RASH))["alerts"][0]["id"]
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
    read_ids: dict[str, str] = {}
    refused_ids: list[str] = []
    for view, path in paths(procedure).items():
        for _ in range(2):  # a miss, then a hit
            got = await api.client.get(path, headers=clinic.clinician.headers)
            assert got.status_code == 200, got.text
            read_ids[got.headers["x-request-id"]] = ACTIONS[view]
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
    query = {**params, "limit": 200}
    while True:
        page = await api.client.get("/v1/audit-events", params=query, headers=admin.headers)
        assert page.status_code == 200, page.text
        events += page.json()["items"]
        if page.json()["next_cursor"] is None:
            return events
        query["cursor"] = page.json()["next_cursor"]


async def test_cache_on_and_off_send_the_same_bytes(api: Api, uncached: httpx.AsyncClient) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    await report(api, staff, procedure, 1, relief_percent=55, side_effects=RASH, notes="Übel")
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
        else:  # the body is its own content re-dumped compactly, non-ASCII kept as UTF-8: the
            # bytes Starlette's JSONResponse.render (this json.dumps call) gives that content
            assert miss.headers["content-type"] == "application/json"
            rendered = json.dumps(miss.json(), ensure_ascii=False, separators=(",", ":"))
            assert miss.content == rendered.encode()
