"""A block chart with more reports than it can draw stays small: it draws some of them, and
never drops the first or last, an extreme, a crossing of 50 % relief or an alerted report."""

import random
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest

from app.core.config import Settings
from app.outcomes.block_chart import block_chart
from app.outcomes.svg import iso
from tests.helpers import TEST_SECRET, Api, report_body
from tests.test_charts import PERFORMED, SVG_NS, _alert, _procedure, _summary, marks

pytestmark = pytest.mark.anyio

MAX_POINTS = 10  # the least the setting allows


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        db_pool_size=5,
        chart_max_points=MAX_POINTS,
    )


def drawn(root: ET.Element) -> list[tuple[str, str, str]]:
    """(data-at, pain, relief) of each report drawn."""
    pain, relief = marks(root, "pain-point"), marks(root, "relief-point")
    assert [p.get("data-at") for p in pain] == [r.get("data-at") for r in relief]
    return [
        (p.get("data-at", ""), p.get("data-value", ""), r.get("data-value", ""))
        for p, r in zip(pain, relief, strict=True)
    ]


@pytest.mark.unit
def test_a_long_series_is_thinned_keeping_every_extreme_crossing_and_alert() -> None:
    rng = random.Random(12)
    hours = [336 * (n + 1) / 3000 for n in range(3000)]
    pains = [5] * 3000
    spikes = sorted(rng.sample(range(1, 2999), 24))  # far apart: each a slice's extreme
    for n, index in enumerate(spikes):
        pains[index] = (9, 1)[n % 2]
    reliefs: list[int | None] = [30] * 3000
    reliefs[1500:1504] = [60, 60, 60, 60]  # up through 50 % and back down
    procedure = _procedure()
    summary = _summary(procedure, list(zip(hours, pains, reliefs, strict=True)))
    series = summary.pain_series
    alerts = [_alert(series[i].hours_since_block, "urgent", "Site redness", i) for i in (7, 2222)]
    alerted_at = {series[i].at for i in (7, 2222)}  # reports of pain 5, relief 30: no extremes

    svg = block_chart(procedure, summary, [], alerts, max_points=400, alerted_at=alerted_at)

    assert len(svg.encode()) < 250_000
    root = ET.fromstring(svg)
    points = drawn(root)
    assert 100 < len(points) <= 400
    at = {p[0]: p for p in points}
    stamp = [iso(p.at) for p in series]
    for i in (0, 2999, *spikes, 1499, 1500, 1503, 1504, 7, 2222):
        assert stamp[i] in at, i
    assert [p[0] for p in points] == sorted(at)  # still in time order
    assert len(marks(root, "alert")) == 2
    desc = root.findtext(f"{SVG_NS}desc") or ""
    assert f"{len(points)} of 3000 are drawn" in desc and "Every alert is marked." in desc
    (note,) = marks(root, "thinned")
    assert note.text == f"{len(points)} of 3000 reports drawn"


@pytest.mark.unit
def test_a_series_within_the_limit_is_drawn_exactly_as_before() -> None:
    procedure = _procedure()
    reports = [(n * 0.7, n % 11, None) for n in range(1, 41)]
    summary = _summary(procedure, reports)
    whole = block_chart(procedure, summary, [], [])
    assert block_chart(procedure, summary, [], [], max_points=40) == whole
    assert len(drawn(ET.fromstring(whole))) == 40 and "thinned" not in whole


async def test_the_chart_keeps_the_report_that_raised_an_alert(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    pid = procedure["id"]
    api.clock.set(PERFORMED + timedelta(hours=30))
    minutes = [20, 40, 60, 90, 120, 180, 240, 300, 301, 360, 480, 600, 720, 900]
    chest = [{"kind": "chest_pain", "severity": "mild"}]
    for minute in minutes:  # all alike, so only the alert can keep the one at 301 minutes
        fields = {"side_effects": chest if minute == 301 else [], "pain_score": 4}
        at = (PERFORMED + timedelta(minutes=minute)).isoformat()
        response = await api.post_report(patient, pid, report_body(recorded_at=at, **fields))
        assert response.status_code == 201, response.text

    chart = await api.client.get(f"/v1/procedures/{pid}/chart.svg", headers=clinic.admin.headers)
    assert chart.status_code == 200
    root = ET.fromstring(chart.text)
    points = [p[0] for p in drawn(root)]
    assert len(points) <= MAX_POINTS
    assert iso(PERFORMED + timedelta(minutes=301)) in points
    assert points[0] == iso(PERFORMED + timedelta(minutes=20))
    assert points[-1] == iso(PERFORMED + timedelta(minutes=900))
    assert len(marks(root, "alert-emergency")) == 1
    assert f"of {len(minutes)} are drawn" in (root.findtext(f"{SVG_NS}desc") or "")
