"""Response headers (app/core/edge.py, SafeHeaders): no cache keeps a /v1 answer, no browser
sniffs a type or sends a referrer, and an SVG chart opened on its own can load or run
nothing."""

import xml.etree.ElementTree as ET

import httpx
import pytest

from tests.helpers import Api, report_body

pytestmark = pytest.mark.anyio

SVG_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
# What a chart may not hold for that policy to be enough: nothing that fetches or runs.
FORBIDDEN_TAGS = {"script", "style", "image", "foreignObject", "iframe", "use", "a", "feImage"}


def assert_safe(response: httpx.Response, *, cached: bool = False) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    if cached:
        assert "cache-control" not in response.headers
    else:
        assert response.headers.get_list("cache-control") == ["no-store"]


def assert_self_contained(svg: str) -> None:
    """Presentation attributes and in-document references only (url(#...), href="#...")."""
    for element in ET.fromstring(svg).iter():
        assert element.tag.rsplit("}", 1)[-1] not in FORBIDDEN_TAGS, element.tag
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1]
            assert not local.startswith("on"), name
            assert local != "style", name
            if local == "href":
                assert value.startswith("#"), value
            if "url(" in value:
                assert value.startswith("url(#"), value


async def test_every_v1_answer_is_no_store(api: Api) -> None:
    clinician = api.world.a.clinician
    patient = await api.create_patient(clinician)
    answers = [
        await api.client.get(f"/v1/patients/{patient['id']}", headers=clinician.headers),
        await api.client.get("/v1/patients", params={"search": "Doe"}, headers=clinician.headers),
        await api.client.get(f"/v1/patients/{patient['id']}"),  # 401
        await api.client.post("/v1/patients", json={}, headers=clinician.headers),  # 422
        await api.client.get("/v1/no-such-thing", headers=clinician.headers),  # 404, no route
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 422, 404]
    for answer in answers:
        assert_safe(answer)
        assert "content-security-policy" not in answer.headers


async def test_answers_outside_v1_hold_no_patient_data_and_may_be_cached(api: Api) -> None:
    health = await api.client.get("/healthz")
    assert health.status_code == 200, health.text
    assert_safe(health, cached=True)


async def test_charts_can_load_and_run_nothing(api: Api) -> None:
    clinic = api.world.a
    patient, procedure = await api.patient_with_procedure(clinic)
    for body in (report_body(), report_body(recorded_at="2026-11-21T11:55:00Z", pain_score=9)):
        stored = await api.post_report(patient, procedure["id"], body)
        assert stored.status_code == 201, stored.text

    charts = [
        await api.client.get(
            f"/v1/procedures/{procedure['id']}/chart.svg", headers=clinic.clinician.headers
        ),
        await api.client.get(
            f"/v1/patients/{patient.id}/outcomes.svg", headers=clinic.clinician.headers
        ),
    ]

    for chart in charts:
        assert chart.status_code == 200, chart.text
        assert chart.headers["content-type"].startswith("image/svg+xml")
        assert chart.headers.get_list("content-security-policy") == [SVG_POLICY]
        assert_safe(chart)
        assert_self_contained(chart.text)
