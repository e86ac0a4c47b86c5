"""GET /v1/procedures/{id}/summary and GET /v1/patients/{id}/outcomes on crafted series: each
figure of docs/clinical-rules.md "Relief" through the API, and a series of blocks compared in
sequence."""

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Actor, Api, ClinicActors, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

T0 = datetime.fromisoformat("2026-11-21T11:30:00+00:00")  # helpers.procedure_body performed_at


def at(hours: float, start: datetime = T0) -> datetime:
    return start + timedelta(hours=hours)


def when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value is not None else None


async def block(
    api: Api, clinic: ClinicActors, patient_id: str | None = None, **fields: Any
) -> dict[str, Any]:
    """A block (of a new patient unless one is given), entered once it has been performed."""
    if patient_id is None:
        patient_id = (await api.create_patient(clinic.clinician))["id"]
    performed = fields.setdefault("performed_at", T0.isoformat())
    if api.clock.now() < datetime.fromisoformat(performed):
        api.clock.set(datetime.fromisoformat(performed))
    return await api.create_procedure(clinic.clinician, patient_id, **fields)


async def report(
    api: Api,
    staff: Actor,
    procedure: dict[str, Any],
    hours: float,
    pain: int = 5,
    relief: int | None = None,
    ended: float | None = None,
    effects: tuple[str, ...] = (),
) -> dict[str, Any]:
    start = datetime.fromisoformat(procedure["performed_at"])
    recorded = at(hours, start)
    if api.clock.now() < recorded:  # a report is posted once it has been filled in
        api.clock.set(recorded)
    body = report_body(
        recorded_at=recorded.isoformat(),
        pain_score=pain,
        relief_percent=relief,
        relief_ended_at=at(ended, start).isoformat() if ended is not None else None,
        temperature=None,
        side_effects=[{"kind": k, "severity": "mild"} for k in effects],
    )
    response = await api.post_report(staff, procedure["id"], body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def summary_of(api: Api, staff: Actor, procedure: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.get(
        f"/v1/procedures/{procedure['id']}/summary", headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def figures(s: dict[str, Any]) -> tuple[Any, ...]:
    return (
        when(s["relief_onset_at"]),
        when(s["relief_ended_at"]),
        s["relief_duration_hours"],
        s["relief_ongoing"],
        s["response"],
    )


async def test_onset_and_end_by_a_later_report_below_50(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic, baseline_pain=8)
    for hours, pain in ((0.5, 7), (2, 3), (6, 2), (30, 6), (40, 3)):
        await report(api, clinic.clinician, procedure, hours, pain)
    s = await summary_of(api, clinic.clinician, procedure)
    # Relief from pain scores: 13 %, 63 % (62.5 half up: onset), 75 %, 25 % (the end), 63 %.
    assert figures(s) == (at(2), at(30), 30.0, False, "positive")
    assert [p["relief_percent"] for p in s["pain_series"]] == [13, 63, 75, 25, 63]
    assert (s["baseline_pain"], s["latest_pain"], s["lowest_pain"]) == (8, 3, 2)
    assert (s["peak_relief_percent"], s["report_count"]) == (75, 5)
    assert (s["procedure_id"], s["sequence_number"]) == (procedure["id"], 1)
    assert when(s["performed_at"]) == T0


async def test_end_by_the_reported_relief_ended_at_before_a_later_report_below_50(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic)
    await report(api, clinic.clinician, procedure, 2, relief=80)
    await report(api, clinic.clinician, procedure, 10, relief=30)  # would end it at 10 h
    await report(api, clinic.clinician, procedure, 30, relief=20, ended=9)
    await report(api, clinic.clinician, procedure, 31, relief=20, ended=8.25)  # the earliest
    s = await summary_of(api, clinic.clinician, procedure)
    assert figures(s) == (at(2), at(8.25), 8.3, False, "positive")  # 8.25 h rounds half up


async def test_ongoing_relief_lasts_to_the_latest_report(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic)
    await report(api, clinic.clinician, procedure, 0.5, relief=20)
    await report(api, clinic.clinician, procedure, 1, relief=50)  # exactly 50: onset
    await report(api, clinic.clinician, procedure, 20.5, relief=90)
    s = await summary_of(api, clinic.clinician, procedure)
    assert figures(s) == (at(1), None, 20.5, True, "positive")
    assert s["peak_relief_percent"] == 90


@pytest.mark.parametrize(
    ("series", "response"),
    [
        (((2, 70), (5, 20)), "positive"),
        (((2, 49), (24, 40)), "negative"),  # a report at exactly 24 h
        (((2, 49), (24 - 1 / 3600, 40)), "indeterminate"),  # 23:59:59
    ],
)
async def test_response(api: Api, series: tuple[tuple[float, int], ...], response: str) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic, steroid=None)
    for hours, relief in series:
        await report(api, clinic.clinician, procedure, hours, relief=relief)
    s = await summary_of(api, clinic.clinician, procedure)
    assert s["response"] == response
    assert s["peak_relief_percent"] == max(relief for _, relief in series)


async def test_a_block_with_baseline_0_derives_no_relief_but_takes_a_given_one(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic, baseline_pain=0, steroid=None)
    await report(api, clinic.clinician, procedure, 1, pain=0)
    await report(api, clinic.clinician, procedure, 25, pain=2)  # above baseline: still 0 %
    s = await summary_of(api, clinic.clinician, procedure)
    assert [p["relief_percent"] for p in s["pain_series"]] == [0, 0]
    assert figures(s) == (None, None, None, False, "negative")
    await report(api, clinic.clinician, procedure, 26, pain=0, relief=70)
    s = await summary_of(api, clinic.clinician, procedure)
    assert figures(s) == (at(26), None, 26.0, True, "positive")
    assert (s["baseline_pain"], s["peak_relief_percent"]) == (0, 70)


async def test_a_block_without_reports(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic)
    s = await summary_of(api, clinic.clinician, procedure)
    assert figures(s) == (None, None, None, False, "indeterminate")
    for name in ("latest_pain", "lowest_pain", "peak_relief_percent"):
        assert s[name] is None
    assert (s["report_count"], s["pain_series"], s["side_effects"]) == (0, [], {})
    assert (s["open_alerts"], s["alerts"]) == (0, [])


async def test_side_effects_are_counted_and_worked_alerts_leave_the_count(api: Api) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    procedure = await block(api, clinic, baseline_pain=3)
    await report(api, staff, procedure, 0.5, 3, effects=("soreness", "leg_warmth"))
    await report(api, staff, procedure, 1, 6, effects=("soreness",))  # pain_flare, routine
    rash = await report(api, staff, procedure, 2, 3, effects=("rash_or_itching",))  # urgent
    short = await report(api, staff, procedure, 3, 3, effects=("breathing_difficulty",))
    s = await summary_of(api, staff, procedure)
    assert s["side_effects"] == {
        "breathing_difficulty": 1,
        "leg_warmth": 1,
        "rash_or_itching": 1,
        "soreness": 2,
    }
    assert [(a["rule_id"], a["severity"], a["status"]) for a in s["alerts"]] == [
        ("breathing_difficulty", "emergency", "open"),
        ("allergic_reaction", "urgent", "open"),
        ("pain_flare", "routine", "open"),
    ]
    assert s["open_alerts"] == 3
    emergency, urgent = short["alerts"][0]["id"], rash["alerts"][0]["id"]
    acked = await api.client.post(
        f"/v1/alerts/{emergency}/acknowledge", json={}, headers=staff.headers
    )
    assert acked.status_code == 200, acked.text
    resolved = await api.client.post(
        f"/v1/alerts/{urgent}/resolve", json={"note": "Antihistamine."}, headers=staff.headers
    )
    assert resolved.status_code == 200, resolved.text
    s = await summary_of(api, staff, procedure)
    assert s["open_alerts"] == 2  # acknowledged is still to work; resolved is not
    assert [(a["rule_id"], a["status"]) for a in s["alerts"]] == [
        ("breathing_difficulty", "acknowledged"),
        ("pain_flare", "open"),
    ]
    assert s["alerts"][0]["id"] == emergency and urgent not in [a["id"] for a in s["alerts"]]


async def test_pain_series_is_in_recorded_order_with_hours_since_the_block(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic)
    api.clock.set(at(3))
    await report(api, clinic.clinician, procedure, 2.25, pain=6)
    await report(api, clinic.clinician, procedure, 0, pain=7)  # synced late, recorded first
    await report(api, clinic.clinician, procedure, 1 + 20 / 60, pain=4)
    tied = [await report(api, clinic.clinician, procedure, 3, pain=p) for p in (2, 3, 1)]
    s = await summary_of(api, clinic.clinician, procedure)
    by_id = sorted(tied, key=lambda r: uuid.UUID(r["report"]["id"]))  # ties: recorded_at, then id
    assert [(when(p["at"]), p["hours_since_block"], p["pain_score"]) for p in s["pain_series"]] == [
        (at(0), 0.0, 7),
        (at(4 / 3), 1.3, 4),
        (at(2.25), 2.3, 6),
        *((at(3), 3.0, r["report"]["pain_score"]) for r in by_id),
    ]
    assert s["latest_pain"] == by_id[-1]["report"]["pain_score"]


async def test_the_side_effects_of_rule_set_2_are_counted(api: Api) -> None:
    clinic = await api.new_clinic()
    procedure = await block(api, clinic)
    kinds = (
        "weakness_both_legs",
        "back_pain_deep",
        "face_lip_tongue_swelling",
        "seizure",
        "ringing_ears_or_metallic_taste",
        "numb_lips_or_tongue",
        "headache_when_upright",
        "burning_pain_new_area",
        "facial_flushing",
    )
    await report(api, clinic.clinician, procedure, 1, effects=kinds)
    await report(api, clinic.clinician, procedure, 2, effects=("seizure",))
    s = await summary_of(api, clinic.clinician, procedure)
    assert s["side_effects"] == {**dict.fromkeys(kinds, 1), "seizure": 2}


# --- a series of blocks --------------------------------------------------------------------

DAYS = timedelta(days=4)  # between blocks: longer than any series below
SERIES = [  # (reports as (hours, relief %), expected comparison, duration, ongoing)
    (((1, 70), (30, 20)), "first", 30.0, False),
    (((2, 80), (60, 10)), "longer", 60.0, False),
    (((1, 60), (12, 30)), "shorter", 12.0, False),
    (((2, 10), (30, 20)), "no_relief", None, False),
    (((1, 90), (20, 40)), "longer", 20.0, False),  # than a block without relief
    (((1, 60), (5, 70)), "too_early", 5.0, True),
]


async def patient_with_series(api: Api, clinic: ClinicActors) -> str:
    patient_id: str = (await api.create_patient(clinic.clinician))["id"]
    for number, (series, *_) in enumerate(SERIES):
        procedure = await block(
            api, clinic, patient_id, performed_at=(T0 + number * DAYS).isoformat(), steroid=None
        )
        for hours, relief in series:
            await report(api, clinic.clinician, procedure, hours, relief=relief)
    return patient_id


async def outcomes(api: Api, staff: Actor, patient_id: str, **params: Any) -> dict[str, Any]:
    response = await api.client.get(
        f"/v1/patients/{patient_id}/outcomes", params=params, headers=staff.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_outcomes_compare_each_block_with_the_one_before(api: Api) -> None:
    clinic = await api.new_clinic()
    patient_id = await patient_with_series(api, clinic)
    page = await outcomes(api, clinic.clinician, patient_id)
    rows = page["items"]
    assert page["next_cursor"] is None
    assert [r["sequence_number"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [
        (r["compared_with_previous"], r["relief_duration_hours"], r["relief_ongoing"]) for r in rows
    ] == [(comparison, hours, going) for _, comparison, hours, going in SERIES]
    assert [when(r["performed_at"]) for r in rows] == [T0 + n * DAYS for n in range(6)]
    # The hours count from the block, so the words name both ends: never "lasted 30 h".
    assert [r["comparison"] for r in rows] == [
        "First block: relief until 30 h after the block (from 1 h).",
        "Relief until 60 h after the block (from 2 h); block 1: relief until 30 h after the "
        "block (from 1 h).",
        "Relief until 12 h after the block (from 1 h); block 2: relief until 60 h after the "
        "block (from 2 h).",
        "No relief; block 3: relief until 12 h after the block (from 1 h).",
        "Relief until 20 h after the block (from 1 h); block 4: no relief.",
        "Relief ongoing at 5 h after the block (from 1 h); block 5: relief until 20 h after the "
        "block (from 1 h).",
    ]


@pytest.mark.parametrize("limit", [1, 2, 4])
async def test_outcome_pages_compare_across_page_boundaries(api: Api, limit: int) -> None:
    clinic = await api.new_clinic()
    patient_id = await patient_with_series(api, clinic)
    whole = (await outcomes(api, clinic.clinician, patient_id))["items"]
    walked: list[dict[str, Any]] = []
    cursor = None
    for _ in range(len(SERIES) + 1):
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = await outcomes(api, clinic.clinician, patient_id, **params)
        assert len(page["items"]) <= limit
        walked += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == whole  # every block once, each compared with the block before it


# --- relief under rule set 2 (docs/clinical-rules.md, "Relief, version 2") ---------------


@pytest.mark.parametrize(
    ("version", "steroid", "hours", "response", "comparison"),
    [
        (2, True, 30, "indeterminate", "too_early"),  # steroid relief may start after 2-3 days
        (1, True, 30, "negative", "no_relief"),  # rule set 1: 24 h, steroid or not
        (2, True, 72, "negative", "no_relief"),
        (2, False, 24, "negative", "no_relief"),
    ],
)
async def test_a_steroid_block_is_negative_only_from_72_h_on_rule_set_2(
    api: Api, version: int, steroid: bool, hours: float, response: str, comparison: str
) -> None:
    clinic = await api.new_clinic()  # new clinics run rule set 2
    if version == 1:
        moved = await api.client.patch(
            "/v1/clinic", json={"rule_set_version": 1}, headers=clinic.admin.headers
        )
        assert moved.status_code == 200, moved.text
    first = await block(api, clinic)
    second = await block(
        api,
        clinic,
        first["patient_id"],
        performed_at=(T0 + DAYS).isoformat(),
        **({} if steroid else {"steroid": None}),
    )
    await report(api, clinic.clinician, second, hours, relief=20)
    s = await summary_of(api, clinic.clinician, second)
    row = (await outcomes(api, clinic.clinician, first["patient_id"]))["items"][1]
    assert (s["response"], row["response"], row["compared_with_previous"]) == (
        response,
        response,
        comparison,
    )


# --- roles and tenancy ---------------------------------------------------------------------


async def test_summary_and_outcomes_are_for_the_clinic_s_staff_only(api: Api) -> None:
    clinic = api.world.a
    patient, procedure = await api.patient_with_procedure(clinic)
    paths = (f"/v1/procedures/{procedure['id']}/summary", f"/v1/patients/{patient.id}/outcomes")
    for path in paths:
        for staff in (clinic.clinician, clinic.admin):
            assert (await api.client.get(path, headers=staff.headers)).status_code == 200
        mine = await api.client.get(path, headers=patient.headers)
        assert_problem(mine, 403)
        for staff in (api.world.b.clinician, api.world.b.admin):
            other = await api.client.get(path, headers=staff.headers)
            assert other.status_code == 404, (path, other.text)
        assert (await api.client.get(path)).status_code == 401
    for path in (f"/v1/procedures/{uuid.uuid4()}/summary", f"/v1/patients/{uuid.uuid4()}/outcomes"):
        unknown = await api.client.get(path, headers=clinic.clinician.headers)
        assert_problem(unknown, 404)


@pytest.mark.parametrize(
    "cursor",
    [
        "bm90LWpzb24",  # base64 of "not-json"
        base64.urlsafe_b64encode(b'["x"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b'["1","2"]').decode().rstrip("="),
        base64.urlsafe_b64encode(b"[1]").decode().rstrip("="),
        base64.urlsafe_b64encode(b'["-1"]').decode().rstrip("="),
    ],
)
async def test_a_bad_outcomes_cursor_is_400(api: Api, cursor: str) -> None:
    clinic = api.world.a
    patient, _ = await api.patient_with_procedure(clinic)
    response = await api.client.get(
        f"/v1/patients/{patient.id}/outcomes",
        params={"cursor": cursor},
        headers=clinic.clinician.headers,
    )
    assert_problem(response, 400)
