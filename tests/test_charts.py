"""The SVG charts: real XML, holding exactly the marks they claim, safe to show, staff only."""

import itertools
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.checkins.service import schedule_checkins
from app.core.deps import Services
from app.outcomes.block_chart import block_chart
from app.outcomes.chart_style import WIDTH
from app.outcomes.schemas import OutcomeRow, PainPointOut, ProcedureSummary
from app.outcomes.series_chart import outcomes_chart
from app.outcomes.svg import text_width
from app.procedures.models import Procedure
from app.rules.relief import ReliefReport, compare, hours_between, relief_summary
from app.scheduled.service import close_missed_checkins
from tests.helpers import Api, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

SVG_NS = "{http://www.w3.org/2000/svg}"
PERFORMED = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)


def parse(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    return parse_text(response.text)


def parse_text(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG_NS}svg"
    assert len(root.get("viewBox", "").split()) == 4
    assert root.find(f"{SVG_NS}title") is not None and root.find(f"{SVG_NS}desc") is not None
    for element in root.iter():  # nothing that runs: no script, no event handlers, no links out
        assert element.tag != f"{SVG_NS}script"
        assert not [name for name in element.attrib if name.lower().startswith("on")]
        assert not [name for name in element.attrib if name.endswith("href")]
    assert len(svg.encode()) < 60_000
    return root


def marks(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in e.get("class", "").split()]


def texts(root: ET.Element) -> str:
    return " ".join(t.strip() for e in root.iter(f"{SVG_NS}text") if (t := "".join(e.itertext())))


def services_of(api: Api) -> Services:
    services: Services = api.app.state.services
    return services


async def drain(services: Services, now: datetime) -> None:
    while await close_missed_checkins(services, now):
        pass


async def report(api: Api, patient: Any, procedure_id: str, hours: float, **fields: Any) -> None:
    at = PERFORMED + timedelta(hours=hours)
    body = report_body(**{"recorded_at": at.isoformat(), "side_effects": [], **fields})
    response = await api.post_report(patient, procedure_id, body)
    assert response.status_code in (200, 201), response.text


async def test_block_chart_holds_one_mark_per_report_checkin_and_alert(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    pid = procedure["id"]
    api.clock.set(PERFORMED + timedelta(hours=62))
    await report(api, patient, pid, 1.5, pain_score=6, relief_percent=10)
    await report(api, patient, pid, 5, pain_score=3, relief_percent=60)
    site = [{"kind": "site_redness", "severity": "moderate"}]  # urgent at >= 24 h
    await report(api, patient, pid, 26, pain_score=2, relief_percent=75, side_effects=site)
    chest = [{"kind": "chest_pain", "severity": "mild"}]  # emergency
    await report(api, patient, pid, 30, pain_score=2, relief_percent=None, side_effects=chest)
    await drain(services_of(api), api.clock.now())  # 48-60 h window: missed, routine alert

    root = parse(
        await api.client.get(f"/v1/procedures/{pid}/chart.svg", headers=clinic.clinician.headers)
    )

    pain, relief = marks(root, "pain-point"), marks(root, "relief-point")
    assert len(pain) == len(relief) == 4
    assert [p.get("data-value") for p in pain] == ["6", "3", "2", "2"]
    assert [r.get("data-value") for r in relief] == ["10", "60", "75", "71"]  # 71: from pain 2/7
    assert pain[0].get("data-at") == "2026-11-21T13:00:00Z"
    assert pain[0].findtext(f"{SVG_NS}title") == "Pain 6/10 at 1.5 h"
    assert relief[2].findtext(f"{SVG_NS}title") == "Relief 75 % at 26 h"
    checkins = marks(root, "checkin")
    assert len(checkins) == 7
    statuses = Counter(c.get("class", "").split()[1] for c in checkins)
    assert statuses == {"checkin-completed": 3, "checkin-missed": 1, "checkin-pending": 3}
    assert checkins[3].get("class") == "checkin checkin-missed"
    assert checkins[3].get("data-at") == "2026-11-23T11:30:00Z"  # due at 48 h
    alerts = marks(root, "alert")
    by_severity = Counter(a.get("class", "").split()[1] for a in alerts)
    assert by_severity == {"alert-emergency": 1, "alert-urgent": 1, "alert-routine": 1}
    for severity, letter in (("emergency", "E"), ("urgent", "U"), ("routine", "R")):
        (alert,) = marks(root, f"alert-{severity}")
        assert alert.findtext(f"{SVG_NS}text") == letter  # a letter as well as a shape
    emergency = marks(root, "alert-emergency")[0]
    assert "Breathing difficulty or chest pain" in (emergency.findtext(f"{SVG_NS}title") or "")
    assert (
        len(marks(root, "relief-onset")) == 1
        and marks(root, "relief-onset")[0].get("data-at") == "2026-11-21T16:30:00Z"
    )
    assert marks(root, "relief-end") == []  # relief still going on at the latest report
    words = texts(root)
    assert "baseline 7/10" in words and "50 % relief" in words
    assert "onset 5 h → ongoing at 30 h" in words
    ongoing = "relief ongoing at 30 h after the block (from 5 h)"  # not a duration from the onset
    assert f"4 reports; peak relief 75 %; {ongoing}; response positive." in words
    for label in ("Pain (0-10)", "Relief (%)", "Check-ins", "Alerts", "missed", "urgent"):
        assert label in words
    desc = root.findtext(f"{SVG_NS}desc") or ""
    assert "4 reports" in desc and ongoing in desc and "1 emergency, 1 urgent, 1 routine" in desc

    # A resolved alert still shows where it was raised.
    alert_id = (
        await api.client.get(
            "/v1/alerts",
            params={"patient_id": str(patient.patient_id)},
            headers=clinic.clinician.headers,
        )
    ).json()["items"][0]["id"]
    resolved = await api.client.post(
        f"/v1/alerts/{alert_id}/resolve", json={"note": "Seen."}, headers=clinic.clinician.headers
    )
    assert resolved.status_code == 200, resolved.text
    root = parse(
        await api.client.get(f"/v1/procedures/{pid}/chart.svg", headers=clinic.clinician.headers)
    )
    assert len(marks(root, "alert")) == 3 and len(marks(root, "alert-status-resolved")) == 1


async def test_block_chart_marks_the_end_of_relief(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    pid = procedure["id"]
    api.clock.set(PERFORMED + timedelta(hours=50))
    await report(api, patient, pid, 2, pain_score=2, relief_percent=70)
    ended = (PERFORMED + timedelta(hours=20)).isoformat()
    await report(api, patient, pid, 49, pain_score=6, relief_percent=10, relief_ended_at=ended)
    root = parse(
        await api.client.get(f"/v1/procedures/{pid}/chart.svg", headers=clinic.clinician.headers)
    )
    (end,) = marks(root, "relief-end")
    assert end.get("data-at") == "2026-11-22T07:30:00Z"
    assert "onset 2 h → ended 20 h" in texts(root)
    assert "relief until 20 h after the block (from 2 h)" in texts(root)


async def test_a_block_without_reports_says_so_and_still_shows_its_checkins(api: Api) -> None:
    clinic = await api.new_clinic()
    patient = await api.create_patient(clinic.clinician)
    old = await api.create_procedure(
        clinic.clinician, patient["id"], performed_at=(PERFORMED - timedelta(days=20)).isoformat()
    )
    root = parse(
        await api.client.get(f"/v1/procedures/{old['id']}/chart.svg", headers=clinic.admin.headers)
    )
    assert "No reports yet" in texts(root)
    assert marks(root, "pain-point") == marks(root, "relief-point") == []
    assert [c.get("class") for c in marks(root, "checkin")] == ["checkin checkin-skipped"] * 7
    assert marks(root, "alert") == []


async def test_outcomes_chart_has_one_bar_per_block_in_sequence(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, first = await api.patient_with_procedure(clinic)  # block 1: relief for 20 h
    api.clock.set(PERFORMED + timedelta(days=30))
    await report(api, patient, first["id"], 2, pain_score=2, relief_percent=70)
    await report(api, patient, first["id"], 20, pain_score=6, relief_percent=10)
    second = await api.create_procedure(
        clinic.clinician,
        str(patient.patient_id),
        performed_at=(PERFORMED + timedelta(days=10)).isoformat(),
        steroid=None,  # with one, rule set 2 waits for a 72 h report to call it no relief
    )  # block 2: no relief
    await report(api, patient, second["id"], 240 + 30, pain_score=7, relief_percent=0)
    third = await api.create_procedure(
        clinic.clinician,
        str(patient.patient_id),
        performed_at=(PERFORMED + timedelta(days=29)).isoformat(),
    )  # block 3: relief still going on at 12 h
    await report(api, patient, third["id"], 696 + 2, pain_score=1, relief_percent=90)
    await report(api, patient, third["id"], 696 + 12, pain_score=1, relief_percent=90)

    path = f"/v1/patients/{patient.patient_id}/outcomes.svg"
    root = parse(await api.client.get(path, headers=clinic.clinician.headers))
    bars = marks(root, "block-bar")
    assert [b.get("data-sequence") for b in bars] == ["1", "2", "3"]
    assert [b.get("data-hours") for b in bars] == ["20", "", "12"]
    words = texts(root)
    for label in ("until 20 h", "from 2 h", "no relief", "ongoing at 12 h", "peak 90 %"):
        assert label in words
    assert (bars[0].findtext(f"{SVG_NS}title") or "") == (
        "Block 1: relief until 20 h after the block (from 2 h); peak 70 %; positive response"
    )
    assert "Block 3: relief ongoing at 12 h after the block (from 2 h)" in (
        root.findtext(f"{SVG_NS}desc") or ""
    )
    assert [c.findtext(".") for c in marks(root, "comparison")] == ["no relief", "longer"]
    assert "Block 1" in words and "Block 3" in words


async def test_outcomes_chart_of_a_patient_without_blocks(api: Api) -> None:
    clinic = await api.new_clinic()
    patient = await api.create_patient(clinic.clinician)
    root = parse(
        await api.client.get(
            f"/v1/patients/{patient['id']}/outcomes.svg", headers=clinic.admin.headers
        )
    )
    assert "No blocks yet" in texts(root) and marks(root, "block-bar") == []


async def test_charts_are_for_the_clinic_staff_only(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    chart = f"/v1/procedures/{procedure['id']}/chart.svg"
    series = f"/v1/patients/{patient.patient_id}/outcomes.svg"
    for path in (chart, series):
        assert (await api.client.get(path, headers=patient.headers)).status_code == 403
        assert (
            await api.client.get(path, headers=api.world.b.clinician.headers)
        ).status_code == 404
        assert (await api.client.get(path)).status_code == 401
    unknown = uuid.uuid4()
    for path in (f"/v1/procedures/{unknown}/chart.svg", f"/v1/patients/{unknown}/outcomes.svg"):
        response = await api.client.get(path, headers=clinic.clinician.headers)
        assert_problem(response, 404)


# Pure: the chart functions on crafted data.


def _procedure(**fields: Any) -> Procedure:
    values: dict[str, Any] = {
        "id": uuid.UUID(int=1),
        "clinic_id": uuid.UUID(int=2),
        "patient_id": uuid.UUID(int=3),
        "sequence_number": 1,
        "performed_at": PERFORMED,
        "side": "left",
        "levels": ["L2", "L3"],
        "indication": "crps",
        "baseline_pain": 7,
        "baseline_symptoms": [],
        "sedation": False,
    }
    return Procedure(**{**values, **fields})


def _summary(
    procedure: Procedure, reports: Sequence[tuple[float, int, int | None]]
) -> ProcedureSummary:
    relief = relief_summary(
        procedure.performed_at,
        procedure.baseline_pain,
        [ReliefReport(PERFORMED + timedelta(hours=h), p, r, None) for h, p, r in reports],
    )
    figures = {
        name: getattr(relief, name)
        for name in ProcedureSummary.model_fields
        if hasattr(relief, name)
    }
    return ProcedureSummary.model_validate(
        {
            **figures,
            "procedure_id": procedure.id,
            "sequence_number": procedure.sequence_number,
            "performed_at": procedure.performed_at,
            "side_effects": {},
            "open_alerts": 0,
            "alerts": [],
            "pain_series": [
                PainPointOut(
                    at=p.at,
                    hours_since_block=hours_between(PERFORMED, p.at),
                    pain_score=p.pain_score,
                    relief_percent=p.relief_percent,
                )
                for p in relief.pain_series
            ],
        }
    )


def _alert(hours: float, severity: str, title: str, n: int) -> Alert:
    rank = {"emergency": 0, "urgent": 1, "routine": 2}[severity]
    return Alert(
        id=uuid.UUID(int=100 + n),
        rule_id="x",
        severity=severity,
        severity_rank=rank,
        title=title,
        status="open",
        created_at=PERFORMED + timedelta(hours=hours),
    )


def _checkins(now: datetime) -> list[Checkin]:
    rows = schedule_checkins(uuid.UUID(int=1), PERFORMED, now)
    for n, row in enumerate(rows):
        row.id = uuid.UUID(int=200 + n)
    return rows


@pytest.mark.unit
def test_text_is_escaped_and_the_output_is_deterministic() -> None:
    nasty = '<script>alert("x")</script> & "quotes" \'apos\''
    bell = "ring\x07 \ud800"  # not even escaped can XML hold these
    procedure = _procedure(side=nasty, levels=["L2<b>", "&amp;"])
    summary = _summary(procedure, [(1, 5, None), (3, 2, 80)])
    alerts = [_alert(3, "urgent", nasty, 1), _alert(3, "emergency", "</svg><svg onload=x>", 2)]
    alerts.append(_alert(5, "routine", bell, 3))
    checkins = _checkins(PERFORMED + timedelta(hours=4))
    svg = block_chart(procedure, summary, checkins, alerts)
    assert svg == block_chart(procedure, summary, list(reversed(checkins)), list(reversed(alerts)))
    root = parse_text(svg)
    assert nasty in texts(root)  # shown as written, not run
    assert "L2<b>, &amp;" in texts(root)
    titles = [t.text for t in root.iter(f"{SVG_NS}title")]
    assert f"Urgent alert at 3 h: {nasty} (open)" in titles
    assert "Emergency alert at 3 h: </svg><svg onload=x> (open)" in titles
    assert "Routine alert at 5 h: ring\ufffd \ufffd (open)" in titles
    assert len(marks(root, "alert")) == 3 and len(marks(root, "checkin")) == 7
    assert len(marks(root, "pain-point")) == 2


@pytest.mark.unit
def test_alerts_raised_together_are_stacked_not_drawn_over_each_other() -> None:
    procedure = _procedure()
    alerts = [_alert(6, s, s, n) for n, s in enumerate(["routine", "urgent", "emergency"] * 2)]
    root = parse_text(block_chart(procedure, _summary(procedure, []), [], alerts))
    shapes = [m.find(f"{SVG_NS}path") for m in marks(root, "alert")]
    positions = {(p.get("d") or "") for p in shapes if p is not None}
    assert len(positions) == 6
    assert [m.get("class", "").split()[1] for m in marks(root, "alert")][:3] == [
        "alert-emergency",
        "alert-emergency",
        "alert-urgent",
    ]


@pytest.mark.unit
def test_outcomes_chart_labels_each_kind_of_bar() -> None:
    rows: list[OutcomeRow] = []
    previous = None
    for n, reports in enumerate(
        [[(2, 2, 70), (30, 6, 10)], [(2, 1, 90)], [(30, 7, 0)], []], start=1
    ):
        procedure = _procedure(sequence_number=n, performed_at=PERFORMED, id=uuid.UUID(int=n))
        relief = relief_summary(
            PERFORMED,
            7,
            [ReliefReport(PERFORMED + timedelta(hours=h), p, r, None) for h, p, r in reports],
        )
        summary = _summary(procedure, reports)
        shown = summary.model_dump(exclude={"side_effects", "open_alerts", "alerts", "pain_series"})
        shown["compared_with_previous"] = compare(previous, relief)
        shown["comparison"] = f"<{n}> & co"
        rows.append(OutcomeRow.model_validate(shown))
        previous = relief
    root = parse_text(outcomes_chart(rows))
    bars = marks(root, "block-bar")
    assert [b.get("data-sequence") for b in bars] == ["1", "2", "3", "4"]
    words = texts(root)
    for label in ("until 30 h", "no relief", "ongoing at 2 h", "no reports", "indeterminate"):
        assert label in words
    assert [c.findtext(".") for c in marks(root, "comparison")] == [
        "too early",
        "no relief",
        "too early",  # no reports yet: too soon to call it no relief
    ]
    assert "<4> & co" in (bars[3].findtext(f"{SVG_NS}title") or "")
    empty = parse_text(outcomes_chart([]))
    assert "No blocks yet" in texts(empty) and marks(empty, "block-bar") == []


@pytest.mark.unit
def test_the_relief_words_fit_both_charts() -> None:
    """The longest relief words stay inside the block chart, and above each bar of a series
    as crowded as it gets (140 px a block) they keep clear of the next bar's."""
    hours = [(1, 7, 0), (100.5, 0, 100)] + [(100.5 + 1.1 * n, 0, 100) for n in range(1, 11)]
    procedure = _procedure()
    summary = _summary(procedure, hours)
    root = parse_text(block_chart(procedure, summary, [], []))
    (facts,) = [e for e in root.iter(f"{SVG_NS}text") if "after the block" in (e.text or "")]
    assert facts.text == (
        "12 reports; peak relief 100 %; relief ongoing at 111.5 h after the block (from 100.5 h); "
        "response positive."
    )
    assert float(facts.get("x", "")) + text_width(facts.text) <= WIDTH

    row = summary.model_dump(exclude={"side_effects", "open_alerts", "alerts", "pain_series"})
    rows = [
        OutcomeRow.model_validate(
            {**row, "sequence_number": n, "compared_with_previous": "same", "comparison": "."}
        )
        for n in range(1, 9)
    ]
    root = parse_text(outcomes_chart(rows))
    labels: dict[float, list[tuple[float, float]]] = {}  # y: (x, half width) of centred labels
    for e in root.iter(f"{SVG_NS}text"):
        if e.get("text-anchor") == "middle" and e.text and "transform" not in e.attrib:
            size = float(e.get("font-size", "12"))
            spans = labels.setdefault(float(e.get("y", "")), [])
            spans.append((float(e.get("x", "")), text_width(e.text, size) / 2))
    assert "ongoing at 111.5 h" in texts(root) and "from 100.5 h" in texts(root)
    for spans in labels.values():
        for (x, half), (next_x, next_half) in itertools.pairwise(spans):
            assert x + half <= next_x - next_half
