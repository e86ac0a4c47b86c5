"""The FHIR Observation search's cache (app/fhir/observation_search.py): kept
under the clinic, the full request URL and the revisions of the searched patients' blocks. As
for the clinicians' views (tests/test_view_cache.py), a search is read, the data changed, and
read again: never stale, never across clinics, every request audited, and byte for byte what an
app without a cache answers."""

import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import Actor, Api
from tests.test_integrations import client_actor
from tests.test_view_cache import (
    RASH,
    audit_events,
    block,
    read,
    report,
    same_headers,
    sql,
    uncached_app,  # noqa: F401  (the fixture `uncached`: the same database, no cache)
    views,
)

pytestmark = pytest.mark.anyio
OBSERVATION = "/fhir/r4/Observation"


def search(procedure: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"patient": f"Patient/{procedure['patient_id']}", **params}


def observation(bundle: httpx.Response, report_id: str, slug: str) -> dict[str, Any]:
    wanted = f"{uuid.UUID(report_id).hex}-{slug}"
    (found,) = [e["resource"] for e in bundle.json()["entry"] if e["resource"]["id"] == wanted]
    return dict(found)


def next_url(bundle: httpx.Response) -> str | None:
    links = bundle.json()["link"]
    return next((link["url"] for link in links if link["relation"] == "next"), None)


async def assert_audited(
    api: Api, admin: Actor, requests: list[httpx.Response], patients: list[str]
) -> None:
    """One event per request, hit or miss, naming exactly `patients`."""
    events = await audit_events(api, admin)
    for response in requests:
        (event,) = [e for e in events if e["request_id"] == response.headers["x-request-id"]]
        assert (event["action"], event["status"]) == ("fhir.observation.search", 200)
        assert event["patient_ids"] == patients


async def test_a_hit_is_the_uncached_answer_until_a_new_report(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    first = (await report(api, staff, procedure, 1, pain_score=6))["report"]["id"]
    entries = len(views(api))
    miss = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    hit = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    assert len(views(api)) == entries + 1
    assert hit.content == miss.content and same_headers(hit) == same_headers(miss)
    assert hit.headers["content-type"] == "application/fhir+json"
    assert observation(hit, first, "pain")["valueQuantity"]["value"] == 6
    new = (await report(api, staff, procedure, 2, pain_score=3))["report"]["id"]
    after = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    assert observation(after, new, "pain")["valueQuantity"]["value"] == 3
    assert observation(after, first, "pain")["valueQuantity"]["value"] == 6
    assert len(after.json()["entry"]) == 2 * len(miss.json()["entry"])


async def test_alert_work_changes_nothing_and_hand_run_sql_shows(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    posted = await report(api, staff, procedure, 1, pain_score=5, side_effects=RASH)
    report_id, alert = posted["report"]["id"], posted["alerts"][0]["id"]
    before = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    done = await api.client.post(f"/v1/alerts/{alert}/acknowledge", headers=staff.headers)
    assert done.status_code == 200, done.text
    acknowledged = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    assert acknowledged.content == before.content
    await sql(api, "UPDATE reports SET pain_score = 1 WHERE id = :id", id=uuid.UUID(report_id))
    changed = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    assert observation(changed, report_id, "pain")["valueQuantity"]["value"] == 1
    assert observation(changed, report_id, "rash-or-itching") == observation(
        before, report_id, "rash-or-itching"
    )


async def test_another_clinic_gets_nothing_from_the_same_url_and_every_request_is_audited(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic, stranger = await api.new_clinic(), await api.new_clinic()
    procedure = await block(api, clinic)
    await report(api, clinic.clinician, procedure, 1)
    ehr, _ = await client_actor(api, stranger.admin, ["system/Observation.read"])
    ours: list[httpx.Response] = []
    theirs: list[httpx.Response] = []
    entries = len(views(api))
    for _ in range(2):  # a miss, then a hit; the cache is filled before each stranger asks
        ours.append(await read(api, uncached, OBSERVATION, clinic.clinician, **search(procedure)))
        assert ours[-1].json()["entry"]
        for caller in (stranger.clinician, stranger.admin, ehr):
            got = await read(api, uncached, OBSERVATION, caller, **search(procedure))
            assert got.json()["entry"] == [] and got.url == ours[-1].url
            theirs.append(got)
    # One page per clinic. (The keys differ in the revisions too: the stranger's clinic has no
    # block of the patient, so its key holds none.)
    assert len(views(api)) == entries + 2
    await assert_audited(api, clinic.admin, ours, [procedure["patient_id"]])
    await assert_audited(api, stranger.admin, theirs, [])


async def test_a_paged_search_follows_its_next_links_and_hits_send_the_same_bytes(
    api: Api, uncached: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic)
    for hours in (1, 2):  # three observations each: pain, relief, soreness
        await report(api, staff, procedure, hours)
    whole = await read(api, uncached, OBSERVATION, staff, **search(procedure))
    ids = [e["resource"]["id"] for e in whole.json()["entry"]]
    assert len(ids) == 6
    paged: list[str] = []
    requests: list[httpx.Response] = []
    url: str | None = OBSERVATION
    params = search(procedure, _count=2)
    while url is not None:
        entries = len(views(api))
        miss = await read(api, uncached, url, staff, **params)
        hit = await read(api, uncached, url, staff, **params)
        assert len(views(api)) == entries + 1
        assert hit.content == miss.content and hit.url == miss.url
        paged += [e["resource"]["id"] for e in hit.json()["entry"]]
        requests += [miss, hit]
        url, params = next_url(hit), {}
    assert paged == ids and len(requests) == 2 * 3  # pages of 2, the second across two reports
    await assert_audited(api, clinic.admin, requests, [procedure["patient_id"]])
