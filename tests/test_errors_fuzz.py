"""Bad input of any shape is a 4xx problem+json and never a 500."""

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import Api, procedure_body, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

PROBLEM_KEYS = {"type", "title", "status", "detail"}
CLIENT_ERRORS = range(400, 500)


def assert_accepted_or_problem(response: httpx.Response) -> None:
    """Whatever the fuzzer sent: taken, or refused with a 4xx problem; never a 500."""
    if response.status_code >= 300:
        assert_problem(response, CLIENT_ERRORS)


async def test_unknown_route_is_404_problem(api: Api) -> None:
    assert_problem(await api.client.get("/v1/nothing-here"), 404)


async def test_wrong_method_is_405_problem(api: Api) -> None:
    response = await api.client.delete("/v1/patients", headers=api.world.a.admin.headers)
    assert_problem(response, 405)
    assert "allow" in response.headers


async def test_validation_error_lists_errors_without_echoing_input(api: Api) -> None:
    secret = "PATIENT-SECRET-NOTE"
    response = await api.client.post(
        "/v1/patients",
        json={"mrn": secret, "display_name": 5, "timezone": secret},
        headers=api.world.a.admin.headers,
    )
    errors = assert_problem(response, 422, no_echo=secret)["errors"]
    assert {tuple(e["loc"]) for e in errors} >= {("body", "display_name"), ("body", "timezone")}


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "\x00",
            "\ud800",  # a lone surrogate: valid JSON, not encodable as UTF-8
            "2026-11-21T12:00:00",
            "2026-11-21T12:00:00Z",
            "9999-12-31T23:59:59-05:00",
            str(uuid.uuid4()),
            "NaN",
            "soreness",
            "C",
            "F",
            "L2",
            "crps",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def mutated(base: dict[str, Any]) -> st.SearchStrategy[object]:
    """Valid bodies with one field replaced, dropped or added: reaches deep validation."""
    keys = st.sampled_from(sorted(base))
    return st.one_of(
        json_values,
        st.builds(lambda k, v: {**base, k: v}, keys, json_values),
        st.builds(lambda k: {x: y for x, y in base.items() if x != k}, keys),
        st.builds(lambda k, v: {**base, k: v}, st.text(min_size=1, max_size=10), json_values),
    )


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


async def _fuzz(
    api: Api,
    path: str,
    headers: dict[str, str],
    strategy: st.SearchStrategy[object],
    method: str = "POST",
) -> list[int]:
    statuses: list[int] = []

    @FUZZ
    @given(body=strategy)
    def collect(body: object) -> None:
        bodies.append(body)

    bodies: list[object] = []
    collect()
    for body in bodies:
        response = await api.client.request(
            method,
            path,
            content=json.dumps(body),
            headers={**headers, "content-type": "application/json"},
        )
        assert_accepted_or_problem(response)
        statuses.append(response.status_code)
    return statuses


async def test_fuzz_report_submission(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    path = f"/v1/procedures/{procedure['id']}/reports"
    before = (await api.client.get(path, headers=patient.headers)).json()["items"]
    statuses = await _fuzz(api, path, patient.headers, mutated(report_body()))
    assert any(s == 422 for s in statuses)
    after = (await api.client.get(path, params={"limit": 200}, headers=patient.headers)).json()[
        "items"
    ]
    assert len(after) - len(before) == statuses.count(201)  # rejected bodies stored nothing


async def test_fuzz_batch_submission(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    items = st.lists(mutated(report_body()), max_size=5)
    await _fuzz(
        api,
        f"/v1/procedures/{procedure['id']}/reports/batch",
        patient.headers,
        st.one_of(json_values, st.builds(lambda r: {"reports": r}, items)),
    )


async def test_a_batch_item_with_an_unencodable_id_is_rejected_alone(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    items = [report_body(client_report_id=bad) for bad in ("\ud800", "\x00")] + [report_body()]
    response = await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports/batch",
        content=json.dumps({"reports": items}),
        headers={**patient.headers, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [(r["status"], r["client_report_id"]) for r in results[:2]] == [("rejected", None)] * 2
    assert results[2]["status"] == "created"


async def test_fuzz_procedure_and_patient_creation(api: Api) -> None:
    clinician = api.world.a.clinician
    patient = await api.create_patient(clinician)
    await _fuzz(
        api,
        f"/v1/patients/{patient['id']}/procedures",
        clinician.headers,
        mutated(procedure_body()),
    )
    base_patient = {
        "mrn": "M-1",
        "display_name": "A B",
        "timezone": "Europe/Paris",
        "temperature_unit": "C",
    }
    await _fuzz(api, "/v1/patients", clinician.headers, mutated(base_patient))


async def test_fuzz_auth_endpoints(api: Api) -> None:
    await _fuzz(api, "/v1/auth/enroll", {}, mutated({"code": "ABCD-EFGH-JKMN"}))
    await _fuzz(api, "/v1/auth/refresh", {}, mutated({"refresh_token": "x"}))
    for form in (
        {"username": "\x00", "password": "x"},
        {"username": "a" * 400, "password": "x"},
        {},
    ):
        response = await api.client.post("/v1/auth/token", data=form)
        # OAuth 2.0 errors here (RFC 6749 5.2), with the problem members beside them.
        assert response.status_code == 400 and response.json()["error"] == "invalid_request"
        assert response.json().keys() >= PROBLEM_KEYS


async def test_fuzz_webhooks_and_clinic_settings(api: Api) -> None:
    # A clinic of its own that never raises an event: nothing is ever sent to these URLs.
    admin = (await api.new_clinic()).admin
    base = {"url": "https://8.8.8.8/hook", "events": ["alert.created"], "description": "EHR"}
    statuses = await _fuzz(api, "/v1/webhooks", admin.headers, mutated(base))
    listed = await api.client.get("/v1/webhooks", params={"limit": 200}, headers=admin.headers)
    assert len(listed.json()["items"]) == statuses.count(201)  # rejected bodies stored nothing
    hook = listed.json()["items"][0]["id"] if statuses.count(201) else None
    if hook is None:
        created = await api.client.post("/v1/webhooks", json=base, headers=admin.headers)
        hook = created.json()["id"]
    await _fuzz(
        api, f"/v1/webhooks/{hook}", admin.headers, mutated({**base, "enabled": False}), "PATCH"
    )
    before = (await api.client.get("/v1/clinic", headers=admin.headers)).json()
    clinic_body = {"escalate_emergency_minutes": 10, "escalate_urgent_minutes": 60}
    statuses = await _fuzz(api, "/v1/clinic", admin.headers, mutated(clinic_body), "PATCH")
    if 200 not in statuses:
        assert (await api.client.get("/v1/clinic", headers=admin.headers)).json() == before


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "abc"},
        {"cursor": "!!"},
        {"cursor": "eyJ4IjoxfQ"},
        {"cursor": "W10"},
        {"search": "\x00"},
        {"search": "%_%"},
    ],
)
async def test_bad_list_queries_are_4xx(api: Api, query: dict[str, str]) -> None:
    response = await api.client.get("/v1/patients", params=query, headers=api.world.a.admin.headers)
    if "search" in query:
        assert_accepted_or_problem(response)
    else:
        assert_problem(response, {400, 422})
