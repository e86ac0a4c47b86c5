"""GET /v1/patients/{id}/timeline: blocks, reports, alerts and due check-ins, newest first, with
filters and keyset pages that neither repeat nor skip while reports keep arriving."""

import base64
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Api, ClinicActors, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

T0 = datetime.fromisoformat("2026-11-21T11:30:00+00:00")  # helpers.procedure_body performed_at
Key = tuple[datetime, uuid.UUID]


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def key(item: dict[str, Any]) -> Key:
    return datetime.fromisoformat(item["at"]), uuid.UUID(item["id"])


@dataclass
class History:
    clinic: ClinicActors
    patient_id: str
    procedure: dict[str, Any]
    items: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # id -> (type, at)
    names: dict[str, str] = field(default_factory=dict)  # a name -> id

    def expected(
        self, types: tuple[str, ...] = (), since: float = -1, until: float = 1e6
    ) -> list[str]:
        """Ids, newest first, ties on `at` broken by id (descending too)."""
        chosen = [
            (moment, uuid.UUID(item_id))
            for item_id, (kind, moment) in self.items.items()
            if (not types or kind in types) and at(since) <= moment < at(until)
        ]
        return [str(i) for _, i in sorted(chosen, reverse=True)]

    async def report(
        self, api: Api, name: str, when: float | datetime, **fields: Any
    ) -> dict[str, Any]:
        moment = when if isinstance(when, datetime) else at(when)
        if api.clock.now() < moment:
            api.clock.set(moment)
        defaults: dict[str, Any] = {
            "pain_score": 4,
            "relief_percent": None,
            "temperature": None,
            "side_effects": [],
        }
        body = report_body(recorded_at=moment.isoformat(), **{**defaults, **fields})
        response = await api.post_report(self.clinic.clinician, self.procedure["id"], body)
        assert response.status_code == 201, response.text
        result = dict(response.json())
        self.add(name, "report", result["report"]["id"], moment)
        for alert in result["alerts"]:
            self.add(f"{name}:{alert['rule_id']}", "alert", alert["id"], api.clock.now())
        return result

    def add(self, name: str, kind: str, item_id: str, moment: datetime) -> None:
        self.items[item_id] = (kind, moment)
        self.names[name] = item_id


async def history(api: Api) -> History:
    """A block at 11:30 (T0), four reports, two alerts and two due check-ins, with ties on `at`:
    the block and report A at T0; report C, the alert it raised and the 4 h check-in at T0+4h;
    report D and its alert at T0+4.5h."""
    clinic = await api.new_clinic()
    patient_id = (await api.create_patient(clinic.clinician))["id"]
    procedure = await api.create_procedure(clinic.clinician, patient_id)  # at 12:00
    h = History(clinic, patient_id, procedure)
    h.add("block", "procedure", procedure["id"], T0)
    await h.report(
        api,
        "A",
        0,
        pain_score=7,
        relief_percent=20,
        side_effects=[{"kind": "leg_weakness", "severity": "moderate"}],
    )
    await h.report(api, "B", 2, pain_score=3, temperature={"value": 37.0, "unit": "C"})
    await h.report(
        api,
        "C",
        4,
        relief_percent=40,
        side_effects=[{"kind": "rash_or_itching", "severity": "mild"}],
    )
    await h.report(api, "D", 4.5, temperature={"value": 38.6, "unit": "C"})
    for checkin in procedure["checkins"]:
        due = datetime.fromisoformat(checkin["due_at"])
        if due <= api.clock.now():
            h.add(
                f"checkin {int((due - T0).total_seconds() // 3600)} h",
                "checkin",
                checkin["id"],
                due,
            )
    assert set(h.names) == {
        "block",
        "A",
        "B",
        "C",
        "C:allergic_reaction",
        "D",
        "D:fever",
        "checkin 1 h",
        "checkin 4 h",
    }
    return h


async def get(api: Api, h: History, params: Any = None, **more: Any) -> dict[str, Any]:
    response = await fetch(api, h, params, **more)
    assert response.status_code == 200, response.text
    page = dict(response.json())
    return page


async def fetch(api: Api, h: History, params: Any = None, **more: Any) -> Any:
    return await api.client.get(
        f"/v1/patients/{h.patient_id}/timeline",
        params=params if params is not None else more,
        headers=h.clinic.clinician.headers,
    )


async def walk(api: Api, h: History, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        page = await get(api, h, **params, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("the walk did not end")


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


async def test_newest_first_across_types_with_ties_broken_by_id(api: Api) -> None:
    h = await history(api)
    page = await get(api, h)
    assert page["next_cursor"] is None
    assert ids(page["items"]) == h.expected()
    assert [(i["type"], datetime.fromisoformat(i["at"])) for i in page["items"]] == [
        h.items[i] for i in h.expected()
    ]
    assert {i["procedure_id"] for i in page["items"]} == {h.procedure["id"]}
    keys = [key(i) for i in page["items"]]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == len(keys)
    assert len([k for k in keys if k[0] == at(4)]) == 3  # the ties are really there


async def test_each_type_has_its_one_line_summary(api: Api) -> None:
    h = await history(api)
    items = {i["id"]: i for i in (await get(api, h))["items"]}
    text = {name: items[item_id]["summary"] for name, item_id in h.names.items()}
    assert text["block"] == "Block 1: left L2-L3, CRPS; baseline pain 7/10"
    assert text["A"] == "Pain 7/10, relief 20 %, leg weakness (moderate)"
    assert text["B"] == "Pain 3/10, relief 57 %"  # derived from baseline 7; 37.0 °C not shown
    assert text["C"] == "Pain 4/10, relief 40 %, rash or itching (mild)"
    assert text["D"].startswith("Pain 4/10, relief 43 %") and "38.6 °C" in text["D"]
    assert text["C:allergic_reaction"] == "Urgent alert: Possible allergic reaction, open"
    assert text["D:fever"] == "Urgent alert: Fever, open"
    assert text["checkin 1 h"] == "Check-in 1 h after block 1: completed"
    assert text["checkin 4 h"] == "Check-in 4 h after block 1: completed"
    data = {name: items[item_id]["data"] for name, item_id in h.names.items()}
    assert data["block"]["baseline_pain"] == 7 and data["A"]["pain_score"] == 7
    assert data["C:allergic_reaction"]["rule_id"] == "allergic_reaction"
    assert data["checkin 4 h"]["report_id"] == h.names["C"]


async def test_check_ins_appear_only_once_due(api: Api) -> None:
    h = await history(api)
    day = next(c for c in h.procedure["checkins"] if c["due_at"].startswith("2026-11-22T11:30"))
    api.clock.set(at(24) - timedelta(seconds=1))
    assert day["id"] not in ids((await get(api, h))["items"])
    api.clock.set(at(24))
    (item,) = [i for i in (await get(api, h))["items"] if i["id"] == day["id"]]
    assert (item["type"], item["at"][:16], item["data"]["status"]) == (
        "checkin",
        "2026-11-22T11:30",
        "pending",
    )
    assert item["summary"] == "Check-in 24 h after block 1: pending"
    assert ids((await get(api, h, types="checkin"))["items"])[0] == day["id"]


async def test_since_is_inclusive_and_until_exclusive(api: Api) -> None:
    h = await history(api)
    since = await get(api, h, since=at(4).isoformat())
    until = await get(api, h, until=at(4).isoformat())
    assert ids(since["items"]) == h.expected(since=4)
    assert ids(until["items"]) == h.expected(until=4)
    assert (
        len(ids(since["items"])) == 5 and ids(since["items"]) + ids(until["items"]) == h.expected()
    )
    local = "2026-11-21T08:00:00-06:00"  # T0+2.5h, as an offset
    both = await get(api, h, since=at(2).isoformat(), until=local)
    assert ids(both["items"]) == h.expected(since=2, until=2.5) == [h.names["B"]]
    assert (await get(api, h, since=at(4).isoformat(), until=at(4).isoformat()))["items"] == []


@pytest.mark.parametrize(
    ("params", "types"),
    [
        ({"types": "report"}, ("report",)),
        ({"types": "alert"}, ("alert",)),
        ({"types": "report,alert"}, ("report", "alert")),
        ({"types": "checkin, procedure"}, ("checkin", "procedure")),
        ([("types", "report"), ("types", "checkin")], ("report", "checkin")),
        ([("types", "alert,procedure"), ("types", "report")], ("alert", "procedure", "report")),
        ({"types": "report,report"}, ("report",)),  # named twice, listed once
        ({"types": "procedure,report,alert,checkin"}, ()),
    ],
)
async def test_types_filter(api: Api, params: Any, types: tuple[str, ...]) -> None:
    h = await history(api)
    assert ids((await get(api, h, params))["items"]) == h.expected(types)


@pytest.mark.parametrize(
    "params", [{"types": "reports"}, {"types": "report,bogus"}, [("types", "alert"), ("types", "")]]
)
async def test_an_unknown_type_is_a_422_and_nothing_else(api: Api, params: Any) -> None:
    h = await history(api)
    response = await fetch(api, h, params)
    assert_problem(response, 422)
    problem = response.json()
    assert "items" not in problem and problem["errors"][0]["loc"] == ["query", "types"]
    assert ids((await get(api, h))["items"]) == h.expected()


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_filters_hold_across_pages(api: Api, limit: int) -> None:
    h = await history(api)
    walked = await walk(api, h, types="report,checkin", since=at(2).isoformat(), limit=limit)
    assert ids(walked) == h.expected(("report", "checkin"), since=2)
    walked = await walk(
        api, h, types="alert,procedure,report", until=at(4.5).isoformat(), limit=limit
    )
    assert ids(walked) == h.expected(("alert", "procedure", "report"), until=4.5)


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_pages_never_repeat_or_skip_while_reports_arrive(api: Api, limit: int) -> None:
    h = await history(api)
    before = h.expected()
    seen: list[dict[str, Any]] = []
    must_see: set[str] = set(before)
    cursor = None
    for n in range(100):
        page = await get(api, h, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert 0 < len(page["items"]) <= limit
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        last = key(page["items"][-1])
        # A live report (newer than everything); on the first pages also two synced late:
        # recorded a minute before the last item seen, and at the same moment (the id decides
        # its side). Each late one may be the next page, so not on every page: the walk would
        # crawl back a minute at a time.
        api.clock.advance(timedelta(minutes=1))
        moments = [api.clock.now()]
        if n < 4:
            moments += [max(T0, last[0] - timedelta(minutes=1)), last[0]]
        for moment in moments:
            result = await h.report(api, f"late {n} {moment}", moment)
            new = result["report"]["id"]
            assert not result["alerts"]
            if (moment, uuid.UUID(new)) < last:
                must_see.add(new)
    assert cursor is None, "the walk did not end"
    assert len(ids(seen)) == len(set(ids(seen))), "an item came twice"
    keys = [key(i) for i in seen]
    assert keys == sorted(keys, reverse=True)
    assert must_see <= set(ids(seen)), "an item was skipped"
    assert len(must_see - set(before)) >= 2  # late reports below the cursor really arrived


async def test_alert_items_carry_acknowledgement_and_resolution(api: Api) -> None:
    h = await history(api)
    staff = h.clinic.clinician
    rash, fever = h.names["C:allergic_reaction"], h.names["D:fever"]
    api.clock.advance(timedelta(minutes=5))
    ack = await api.client.post(
        f"/v1/alerts/{rash}/acknowledge", json={"note": "Calling."}, headers=staff.headers
    )
    assert ack.status_code == 200, ack.text
    api.clock.advance(timedelta(minutes=5))
    done = await api.client.post(
        f"/v1/alerts/{fever}/resolve", json={"note": "Paracetamol."}, headers=staff.headers
    )
    assert done.status_code == 200, done.text
    items = {i["id"]: i for i in (await get(api, h, types="alert"))["items"]}
    acked, resolved = items[rash], items[fever]
    assert acked["summary"] == "Urgent alert: Possible allergic reaction, acknowledged"
    assert acked["data"]["status"] == "acknowledged"
    assert (acked["data"]["acknowledged_by"], acked["data"]["acknowledgement_note"]) == (
        str(staff.id),
        "Calling.",
    )
    assert datetime.fromisoformat(acked["data"]["acknowledged_at"]) == at(4.5) + timedelta(
        minutes=5
    )
    assert resolved["summary"] == "Urgent alert: Fever, resolved"
    assert resolved["data"]["status"] == "resolved"
    assert (resolved["data"]["resolved_by"], resolved["data"]["resolution_note"]) == (
        str(staff.id),
        "Paracetamol.",
    )
    assert datetime.fromisoformat(resolved["data"]["resolved_at"]) == at(4.5) + timedelta(
        minutes=10
    )
    assert key(acked)[0] == at(4) and key(resolved)[0] == at(4.5)  # still at created_at


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_timeline_is_for_the_clinic_s_staff_only(api: Api) -> None:
    clinic = api.world.a
    patient, _ = await api.patient_with_procedure(clinic)
    path = f"/v1/patients/{patient.id}/timeline"
    assert (await api.client.get(path, headers=clinic.admin.headers)).status_code == 200
    own = await api.client.get(path, headers=patient.headers)
    assert_problem(own, 403)
    assert (await api.client.get(path, headers=clinic.other_patient.headers)).status_code == 403
    for staff in (api.world.b.clinician, api.world.b.admin):
        other = await api.client.get(path, headers=staff.headers)
        assert other.status_code == 404 and "items" not in other.json()
    unknown = await api.client.get(
        f"/v1/patients/{uuid.uuid4()}/timeline", headers=clinic.clinician.headers
    )
    assert_problem(unknown, 404)
    assert (await api.client.get(path)).status_code == 401


# Fixed, not random: every pytest-xdist worker must collect the same test ids.
SOME_ID = b"6f1c2f4e-8d1a-4b5e-9c3d-2a7b0e9f4c81"


@pytest.mark.parametrize(
    "cursor",
    [
        "bm90LWpzb24",  # base64 of "not-json"
        "x",
        b64(b'["2026-11-21T12:00:00+00:00"]'),
        b64(b'["2026-11-21T12:00:00", "' + SOME_ID + b'"]'),  # naive
        b64(b'["2026-11-21T12:00:00+00:00", "not-a-uuid"]'),
        b64(b'["yesterday", "' + SOME_ID + b'"]'),
        b64(b'{"at": "2026-11-21T12:00:00+00:00"}'),
    ],
)
async def test_a_malformed_cursor_is_400(api: Api, cursor: str) -> None:
    clinic = api.world.a
    patient, _ = await api.patient_with_procedure(clinic)
    response = await api.client.get(
        f"/v1/patients/{patient.id}/timeline",
        params={"cursor": cursor},
        headers=clinic.clinician.headers,
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("limit", "status"), [(0, 422), (201, 422), (-1, 422), (1, 200), (200, 200)]
)
async def test_limit_bounds(api: Api, limit: int, status: int) -> None:
    clinic = api.world.a
    patient, _ = await api.patient_with_procedure(clinic)
    response = await api.client.get(
        f"/v1/patients/{patient.id}/timeline",
        params={"limit": limit},
        headers=clinic.clinician.headers,
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert_problem(response, 422)
