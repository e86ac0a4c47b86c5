"""Every validation rule of the spec, on both sides of its limit.

Bad input gets a clear 4xx application/problem+json, changes nothing, and is never a 500:
after every rejected request the stored state read back through the API is exactly what it
was before. The clock is fixed at START (2026-11-21T12:00Z); procedures are performed at
11:30Z unless a case says otherwise.
"""

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import START
from tests.helpers import Actor, Api, ClinicActors, procedure_body, report_body
from tests.problems import assert_issues, assert_problem

pytestmark = pytest.mark.anyio

MISSING = object()  # an override that removes the field from the body
CANARY = "ECHO-CANARY-7f3a"  # patient text that must never come back in an error

PERFORMED_AT = "2026-11-21T11:30:00Z"
NOW_PLUS_5MIN = "2026-11-21T12:05:00Z"

# red-flags.md, "Side-effect vocabulary" (copied from the spec, not from the app's enum).
SPEC_SIDE_EFFECT_KINDS = [
    "soreness",
    "bruising",
    "swelling",
    "site_redness",
    "site_drainage",
    "bleeding",
    "leg_warmth",
    "numbness",
    "leg_weakness",
    "tingling",
    "burning_pain",
    "unable_to_walk",
    "dizziness",
    "fainting",
    "headache",
    "neck_stiffness",
    "nausea",
    "chills",
    "confusion",
    "rash_or_itching",
    "breathing_difficulty",
    "chest_pain",
    "bladder_bowel_change",
    "saddle_numbness",
    "flank_pain",
    "blood_in_urine",
    "other",
    # red-flags-v2.md, "Vocabulary additions": accepted from every clinic.
    "weakness_both_legs",
    "back_pain_deep",
    "face_lip_tongue_swelling",
    "seizure",
    "ringing_ears_or_metallic_taste",
    "numb_lips_or_tongue",
    "headache_when_upright",
    "burning_pain_new_area",
    "facial_flushing",
]
SEVERITIES = ["mild", "moderate", "severe"]


# --------------------------------------------------------------------------- helpers


def changed(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    body = dict(base)
    for key, value in overrides.items():
        if value is MISSING:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def send(
    api: Api, method: str, url: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    """JSON with non-ASCII escaped, so that even a lone surrogate reaches the server."""
    return await api.client.request(
        method,
        url,
        content=json.dumps(body),
        headers={**headers, "Content-Type": "application/json"},
    )


# Objects the rejection tests share, one set per database: a rejected request stores nothing,
# and each test compares what it reads back before and after, so they need no fresh data.
_SHARED: dict[tuple[str, str], Any] = {}


class Stored:
    """Something whose stored rows a test reads back through the API. A shared one remembers
    what it held after the previous test, which spares each rejection test a read before."""

    state_key: tuple[str, str] | None = None

    async def read(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def snapshot(self) -> list[dict[str, Any]]:
        if self.state_key is not None and self.state_key in _SHARED:
            known: list[dict[str, Any]] = _SHARED[self.state_key]
            return known
        return await self.read()

    async def rejected(
        self,
        before: list[dict[str, Any]],
        response: httpx.Response,
        status: int | set[int],
        field: str | None = None,
    ) -> None:
        """The request got a clear problem and nothing stored changed."""
        after = await self.read()
        if self.state_key is not None:
            _SHARED[self.state_key] = after  # a failure here must not fail the next test too
        assert_problem(response, status, field, no_echo=CANARY)
        assert after == before, "a rejected request changed what is stored"

    async def assert_unchanged(self, before: list[dict[str, Any]]) -> None:
        after = await self.read()
        if self.state_key is not None:
            _SHARED[self.state_key] = after  # a failure here must not fail the next test too
        assert after == before, "a rejected request changed what is stored"


def cursor_of(*values: str) -> str:
    """A cursor built the way the API builds them, around a chosen payload."""
    raw = json.dumps(list(values), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


class Block(Stored):
    """A fresh patient of clinic A with one procedure and one stored report."""

    def __init__(self, api: Api, patient: Actor, procedure: dict[str, Any]) -> None:
        self.api = api
        self.patient = patient
        self.procedure = procedure
        self.id = procedure["id"]
        self.url = f"/v1/procedures/{self.id}/reports"

    async def post(self, body: Any) -> httpx.Response:
        return await send(self.api, "POST", self.url, body, self.patient.headers)

    async def post_raw(
        self, content: bytes | str, content_type: str = "application/json"
    ) -> httpx.Response:
        headers = {**self.patient.headers, "Content-Type": content_type}
        return await self.api.client.post(self.url, content=content, headers=headers)

    async def post_batch(self, body: Any) -> httpx.Response:
        return await send(self.api, "POST", self.url + "/batch", body, self.patient.headers)

    async def read(self) -> list[dict[str, Any]]:
        return await self.reports()

    async def reports(self) -> list[dict[str, Any]]:
        response = await self.api.client.get(
            self.url, params={"limit": 200}, headers=self.patient.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


async def make_block(api: Api) -> Block:
    clinic = api.world.a
    patient = await api.create_patient(clinic.clinician)
    procedure = await api.create_procedure(clinic.clinician, patient["id"])
    actor = await api.patient_actor(patient)
    made = Block(api, actor, procedure)
    seeded = await made.post(report_body(recorded_at="2026-11-21T11:40:00Z"))
    assert seeded.status_code == 201, seeded.text
    return made


@pytest.fixture
async def block(api: Api) -> Block:
    """A block of its own, for tests that store reports."""
    return await make_block(api)


@pytest.fixture
async def shared_block(api: Api, database_url: str) -> Block:
    """One block per database for the rejection tests."""
    key = (database_url, "block")
    if key not in _SHARED:
        _SHARED[key] = await make_block(api)
    made: Block = _SHARED[key]
    shared = Block(api, made.patient, made.procedure)
    shared.state_key = (database_url, "block-state")
    return shared


def bad_report(**overrides: Any) -> dict[str, Any]:
    return changed(report_body(notes=f"{CANARY} my leg hurts"), overrides)


# --------------------------------------------------------------------------- reports: accepted

ACCEPTED_REPORTS = [
    pytest.param({"pain_score": 0}, id="pain_score-0"),
    pytest.param({"pain_score": 10}, id="pain_score-10"),
    pytest.param({"relief_percent": 0}, id="relief_percent-0"),
    pytest.param({"relief_percent": 100}, id="relief_percent-100"),
    pytest.param({"relief_percent": None}, id="relief_percent-null"),
    pytest.param({"relief_percent": MISSING}, id="relief_percent-omitted"),
    pytest.param({"notes": "n" * 2000}, id="notes-2000-chars"),
    pytest.param({"notes": "é" * 2000}, id="notes-2000-non-ascii-chars"),
    pytest.param({"notes": None}, id="notes-null"),
    pytest.param({"side_effects": []}, id="side_effects-empty"),
    pytest.param({"temperature": None}, id="temperature-null"),
    pytest.param({"temperature": {"value": 30.0, "unit": "C"}}, id="temperature-30.0C"),
    pytest.param({"temperature": {"value": 45.0, "unit": "C"}}, id="temperature-45.0C"),
    pytest.param({"temperature": {"value": 37, "unit": "C"}}, id="temperature-integer-37C"),
    pytest.param({"temperature": {"value": 86.0, "unit": "F"}}, id="temperature-86.0F"),
    pytest.param({"temperature": {"value": 113.0, "unit": "F"}}, id="temperature-113.0F"),
    # blood_glucose: 1.0-60.0 mmol/L, 18-1,081 mg/dL (red-flags-v2.md)
    pytest.param({"blood_glucose": None}, id="glucose-null"),
    pytest.param({"blood_glucose": {"value": 1.0, "unit": "mmol/L"}}, id="glucose-1.0mmol"),
    pytest.param({"blood_glucose": {"value": 60.0, "unit": "mmol/L"}}, id="glucose-60.0mmol"),
    pytest.param({"blood_glucose": {"value": 18, "unit": "mg/dL"}}, id="glucose-18mg"),
    pytest.param({"blood_glucose": {"value": 1081, "unit": "mg/dL"}}, id="glucose-1081mg"),
    pytest.param({"recorded_at": PERFORMED_AT}, id="recorded_at-equals-performed_at"),
    pytest.param(
        {"recorded_at": "2026-11-21T05:30:00-06:00"},
        id="recorded_at-equals-performed_at-other-offset",
    ),
    pytest.param({"recorded_at": NOW_PLUS_5MIN}, id="recorded_at-now-plus-5min"),
    pytest.param(
        {"recorded_at": "2026-11-21T12:05:00.000000Z"}, id="recorded_at-now-plus-5min-micros"
    ),
    pytest.param({"recorded_at": "2026-11-21T11:45:00+00:00"}, id="recorded_at-explicit-plus-zero"),
    pytest.param({"relief_ended_at": PERFORMED_AT}, id="relief_ended_at-equals-performed_at"),
    pytest.param(
        {"relief_ended_at": "2026-11-21T11:45:00Z"}, id="relief_ended_at-equals-recorded_at"
    ),
    pytest.param(
        {"relief_ended_at": "2026-11-21T12:45:00+01:00"},
        id="relief_ended_at-equals-recorded_at-other-offset",
    ),
]


@pytest.mark.parametrize("overrides", ACCEPTED_REPORTS)
async def test_report_accepted(block: Block, overrides: dict[str, Any]) -> None:
    before = await block.snapshot()
    body = changed(report_body(), overrides)
    response = await block.post(body)
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    for key in ("pain_score", "relief_percent", "notes"):
        if key in overrides:
            assert report[key] == (None if overrides[key] is MISSING else overrides[key])
    if "temperature" in overrides:
        sent = overrides["temperature"]
        if sent is None:
            assert report["temperature"] is None
        else:
            assert report["temperature"]["value"] == sent["value"]
            assert report["temperature"]["unit"] == sent["unit"]
    if "blood_glucose" in overrides:
        sent = overrides["blood_glucose"]
        shown = report["blood_glucose"]
        assert (
            shown is None
            if sent is None
            else (shown["value"], shown["unit"]) == tuple(sent.values())
        )
    for key in ("recorded_at", "relief_ended_at"):
        if key in overrides:
            assert report[key].endswith("Z"), report[key]
            assert parse_ts(report[key]) == parse_ts(overrides[key])
    after = await block.reports()
    assert len(after) == len(before) + 1
    assert report["id"] in {r["id"] for r in after}


async def test_report_every_side_effect_kind_accepted(block: Block) -> None:
    effects = [
        {"kind": kind, "severity": SEVERITIES[i % 3]}
        for i, kind in enumerate(SPEC_SIDE_EFFECT_KINDS)
    ]
    response = await block.post(report_body(side_effects=effects, notes="many things"))
    assert response.status_code == 201, response.text
    stored = response.json()["report"]["side_effects"]
    assert sorted((e["kind"], e["severity"]) for e in stored) == sorted(
        (e["kind"], e["severity"]) for e in effects
    )


async def test_report_offset_is_accepted_and_answered_in_utc(block: Block) -> None:
    body = report_body(
        recorded_at="2026-11-21T05:45:00-06:00", relief_ended_at="2026-11-21T17:10:00+05:30"
    )
    response = await block.post(body)
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["recorded_at"] == "2026-11-21T11:45:00Z"
    assert report["relief_ended_at"] == "2026-11-21T11:40:00Z"
    assert report["received_at"].endswith("Z")
    listed = {r["id"]: r for r in await block.reports()}[report["id"]]
    assert listed["recorded_at"] == "2026-11-21T11:45:00Z"
    assert listed["relief_ended_at"] == "2026-11-21T11:40:00Z"


# --------------------------------------------------------------------------- reports: rejected

REJECTED_REPORTS = [
    # pain_score: integer 0..10
    pytest.param({"pain_score": -1}, "pain_score", id="pain_score-minus-1"),
    pytest.param({"pain_score": 11}, "pain_score", id="pain_score-11"),
    pytest.param({"pain_score": 4.5}, "pain_score", id="pain_score-float-4.5"),
    pytest.param({"pain_score": "4"}, "pain_score", id="pain_score-string-4"),
    pytest.param({"pain_score": True}, "pain_score", id="pain_score-bool-true"),
    pytest.param({"pain_score": None}, "pain_score", id="pain_score-null"),
    pytest.param({"pain_score": [4]}, "pain_score", id="pain_score-list"),
    pytest.param({"pain_score": 10**30}, "pain_score", id="pain_score-10e30"),
    pytest.param({"pain_score": -(10**30)}, "pain_score", id="pain_score-minus-10e30"),
    pytest.param({"pain_score": 10**400}, "pain_score", id="pain_score-400-digits"),
    pytest.param({"pain_score": MISSING}, "pain_score", id="pain_score-missing"),
    # relief_percent: 0..100 or null
    pytest.param({"relief_percent": -1}, "relief_percent", id="relief_percent-minus-1"),
    pytest.param({"relief_percent": 101}, "relief_percent", id="relief_percent-101"),
    pytest.param({"relief_percent": 50.5}, "relief_percent", id="relief_percent-float"),
    pytest.param({"relief_percent": "50"}, "relief_percent", id="relief_percent-string"),
    pytest.param({"relief_percent": 10**30}, "relief_percent", id="relief_percent-10e30"),
    # notes: <= 2000 chars or null
    pytest.param({"notes": CANARY + "n" * (2001 - len(CANARY))}, "notes", id="notes-2001-chars"),
    pytest.param({"notes": "n" * 100_000}, "notes", id="notes-100k-chars"),
    pytest.param({"notes": 42}, "notes", id="notes-integer"),
    pytest.param({"notes": f"{CANARY}\x00DROP"}, None, id="notes-NUL-byte"),
    pytest.param({"notes": ["a"]}, "notes", id="notes-list"),
    # side_effects: the closed vocabulary, each kind once
    pytest.param(
        {"side_effects": [{"kind": f"{CANARY}-kind", "severity": "mild"}]},
        "side_effects",
        id="side_effect-unknown-kind",
    ),
    pytest.param(
        {"side_effects": [{"kind": "Soreness", "severity": "mild"}]},
        "side_effects",
        id="side_effect-kind-wrong-case",
    ),
    pytest.param(
        {"side_effects": [{"kind": "fever", "severity": "mild"}]},
        "side_effects",
        id="side_effect-fever-is-not-a-kind",
    ),
    pytest.param(
        {
            "side_effects": [
                {"kind": "nausea", "severity": "mild"},
                {"kind": "nausea", "severity": "mild"},
            ]
        },
        "side_effects",
        id="side_effect-same-kind-twice",
    ),
    pytest.param(
        {
            "side_effects": [
                {"kind": "headache", "severity": "mild"},
                {"kind": "headache", "severity": "severe"},
            ]
        },
        "side_effects",
        id="side_effect-same-kind-twice-different-severity",
    ),
    pytest.param(
        {
            "side_effects": [{"kind": k, "severity": "mild"} for k in SPEC_SIDE_EFFECT_KINDS]
            + [{"kind": "soreness", "severity": "mild"}]
        },
        "side_effects",
        id="side_effect-all-kinds-plus-a-repeat",
    ),
    pytest.param(
        {"side_effects": [{"kind": "nausea", "severity": "extreme"}]},
        "side_effects",
        id="side_effect-unknown-severity",
    ),
    pytest.param(
        {"side_effects": [{"kind": "nausea", "severity": 3}]},
        "side_effects",
        id="side_effect-numeric-severity",
    ),
    pytest.param(
        {"side_effects": [{"kind": "nausea"}]}, "side_effects", id="side_effect-missing-severity"
    ),
    pytest.param(
        {"side_effects": [{"kind": "nausea", "severity": "mild", "extra": 1}]},
        "side_effects",
        id="side_effect-unknown-field",
    ),
    pytest.param({"side_effects": "nausea"}, "side_effects", id="side_effects-a-string"),
    pytest.param({"side_effects": ["nausea"]}, "side_effects", id="side_effects-list-of-strings"),
    pytest.param(
        {"side_effects": {"kind": "nausea", "severity": "mild"}},
        "side_effects",
        id="side_effects-an-object",
    ),
    pytest.param({"side_effects": None}, "side_effects", id="side_effects-null"),
    # temperature: 30.0-45.0 C / 86.0-113.0 F
    pytest.param(
        {"temperature": {"value": 29.9, "unit": "C"}}, "temperature", id="temperature-29.9C"
    ),
    pytest.param(
        {"temperature": {"value": 45.1, "unit": "C"}}, "temperature", id="temperature-45.1C"
    ),
    pytest.param(
        {"temperature": {"value": 85.9, "unit": "F"}}, "temperature", id="temperature-85.9F"
    ),
    pytest.param(
        {"temperature": {"value": 113.1, "unit": "F"}}, "temperature", id="temperature-113.1F"
    ),
    pytest.param(
        {"temperature": {"value": 100.4, "unit": "C"}},
        "temperature",
        id="temperature-fahrenheit-value-sent-as-C",
    ),
    pytest.param(
        {"temperature": {"value": 37.0, "unit": "F"}},
        "temperature",
        id="temperature-celsius-value-sent-as-F",
    ),
    pytest.param(
        {"temperature": {"value": -40.0, "unit": "C"}}, "temperature", id="temperature-minus-40C"
    ),
    pytest.param(
        {"temperature": {"value": 10**30, "unit": "C"}}, "temperature", id="temperature-10e30"
    ),
    pytest.param(
        {"temperature": {"value": 10**400, "unit": "C"}},
        "temperature",
        id="temperature-400-digit-integer",
    ),
    pytest.param(
        {"temperature": {"value": 1e308, "unit": "F"}}, "temperature", id="temperature-1e308F"
    ),
    pytest.param(
        {"temperature": {"value": 310.15, "unit": "K"}}, "temperature", id="temperature-unit-K"
    ),
    pytest.param(
        {"temperature": {"value": 37.0, "unit": "c"}},
        "temperature",
        id="temperature-unit-lowercase-c",
    ),
    pytest.param({"temperature": {"value": 37.0}}, "temperature", id="temperature-missing-unit"),
    pytest.param({"temperature": {"unit": "C"}}, "temperature", id="temperature-missing-value"),
    pytest.param(
        {"temperature": {"value": "37.0", "unit": "C"}},
        "temperature",
        id="temperature-value-string",
    ),
    pytest.param({"temperature": 37.0}, "temperature", id="temperature-a-bare-number"),
    pytest.param(
        {"blood_glucose": {"value": 0.9, "unit": "mmol/L"}}, "blood_glucose", id="glucose-0.9mmol"
    ),
    pytest.param(
        {"blood_glucose": {"value": 60.1, "unit": "mmol/L"}}, "blood_glucose", id="glucose-60.1mmol"
    ),
    pytest.param(
        {"blood_glucose": {"value": 17, "unit": "mg/dL"}}, "blood_glucose", id="glucose-17mg"
    ),
    pytest.param(
        {"blood_glucose": {"value": 1082, "unit": "mg/dL"}}, "blood_glucose", id="glucose-1082mg"
    ),
    pytest.param(
        {"blood_glucose": {"value": 180, "unit": "mmol/L"}},
        "blood_glucose",
        id="glucose-mg-value-sent-as-mmol",
    ),
    pytest.param(
        {"blood_glucose": {"value": 7.8, "unit": "mg/dl"}},
        "blood_glucose",
        id="glucose-unit-lowercase",
    ),
    pytest.param(
        {"blood_glucose": {"value": 7.8, "unit": "mmol"}},
        "blood_glucose",
        id="glucose-unit-unknown",
    ),
    pytest.param(
        {"blood_glucose": {"value": "7.8", "unit": "mmol/L"}},
        "blood_glucose",
        id="glucose-value-string",
    ),
    pytest.param(
        {"blood_glucose": {"value": 10**400, "unit": "mg/dL"}},
        "blood_glucose",
        id="glucose-400-digit-integer",
    ),
    pytest.param({"blood_glucose": {"value": 7.8}}, "blood_glucose", id="glucose-missing-unit"),
    pytest.param({"blood_glucose": 7.8}, "blood_glucose", id="glucose-a-bare-number"),
    pytest.param(
        {"temperature": {"value": 37.0, "unit": "C", "site": "oral"}},
        "temperature",
        id="temperature-unknown-field",
    ),
    # recorded_at: offset required, performed_at <= recorded_at <= now + 5 min
    pytest.param({"recorded_at": "2026-11-21T11:45:00"}, "recorded_at", id="recorded_at-naive"),
    pytest.param(
        {"recorded_at": "2026-11-21T11:29:59Z"},
        "recorded_at",
        id="recorded_at-1s-before-performed_at",
    ),
    pytest.param(
        {"recorded_at": "2026-11-21T05:29:59-06:00"},
        "recorded_at",
        id="recorded_at-1s-before-performed_at-other-offset",
    ),
    pytest.param(
        {"recorded_at": "2026-11-21T12:05:01Z"}, "recorded_at", id="recorded_at-now-plus-5min-1s"
    ),
    pytest.param(
        {"recorded_at": "2026-11-21T12:05:00.001Z"},
        "recorded_at",
        id="recorded_at-now-plus-5min-1ms",
    ),
    pytest.param(
        {"recorded_at": "2026-11-21T13:00:00+00:30"},
        "recorded_at",
        id="recorded_at-future-hidden-in-offset",
    ),
    pytest.param(
        {"recorded_at": "9999-12-31T23:00:00-05:00"}, "recorded_at", id="recorded_at-year-10000"
    ),
    pytest.param(
        {"recorded_at": "0001-01-01T00:00:00+05:00"}, "recorded_at", id="recorded_at-year-0"
    ),
    pytest.param(
        {"recorded_at": "1899-12-31T23:59:59Z"}, "recorded_at", id="recorded_at-year-1899"
    ),
    pytest.param({"recorded_at": "2026-11-21"}, "recorded_at", id="recorded_at-date-only"),
    pytest.param({"recorded_at": "yesterday"}, "recorded_at", id="recorded_at-garbage"),
    pytest.param(
        {"recorded_at": "2026-02-30T10:00:00Z"}, "recorded_at", id="recorded_at-impossible-date"
    ),
    pytest.param({"recorded_at": None}, "recorded_at", id="recorded_at-null"),
    pytest.param({"recorded_at": 1795261500}, "recorded_at", id="recorded_at-unix-integer"),
    pytest.param({"recorded_at": "1795261500"}, "recorded_at", id="recorded_at-unix-string"),
    pytest.param({"recorded_at": MISSING}, "recorded_at", id="recorded_at-missing"),
    # relief_ended_at: performed_at <= relief_ended_at <= recorded_at
    pytest.param(
        {"relief_ended_at": "2026-11-21T11:40:00"}, "relief_ended_at", id="relief_ended_at-naive"
    ),
    pytest.param(
        {"relief_ended_at": "2026-11-21T11:29:59Z"},
        "relief_ended_at",
        id="relief_ended_at-before-performed_at",
    ),
    pytest.param(
        {"relief_ended_at": "2026-11-21T11:45:01Z"},
        "relief_ended_at",
        id="relief_ended_at-after-recorded_at",
    ),
    pytest.param(
        {"relief_ended_at": "9999-12-31T23:00:00-05:00"},
        "relief_ended_at",
        id="relief_ended_at-year-10000",
    ),
    # client_report_id: a UUID
    pytest.param(
        {"client_report_id": f"{CANARY}-not-a-uuid"}, "client_report_id", id="client_id-not-uuid"
    ),
    pytest.param({"client_report_id": 12345}, "client_report_id", id="client_id-integer"),
    pytest.param({"client_report_id": ""}, "client_report_id", id="client_id-empty"),
    pytest.param({"client_report_id": None}, "client_report_id", id="client_id-null"),
    pytest.param({"client_report_id": MISSING}, "client_report_id", id="client_id-missing"),
    # the body as a whole
    pytest.param({"mood": "fine"}, "mood", id="unknown-top-level-field"),
    pytest.param({"Pain_Score": 4}, "Pain_Score", id="unknown-field-wrong-case"),
    pytest.param({"no\x00tes": "x"}, None, id="NUL-byte-in-a-key"),
    pytest.param(
        {"side_effects": [{"kind": "nausea\x00", "severity": "mild"}]},
        None,
        id="NUL-byte-in-side-effect-kind",
    ),
    pytest.param(
        {"notes": f"{CANARY} broken \ud800 surrogate"}, "notes", id="notes-lone-surrogate"
    ),
]


@pytest.mark.parametrize(("overrides", "field"), REJECTED_REPORTS)
async def test_report_rejected(
    shared_block: Block, overrides: dict[str, Any], field: str | None
) -> None:
    block = shared_block
    before = await block.snapshot()
    response = await block.post(bad_report(**overrides))
    await block.rejected(before, response, 422, field)


REJECTED_RAW_REPORTS = [
    pytest.param(
        json.dumps(bad_report(temperature=None)).replace(
            '"temperature": null', '"temperature": {"value": NaN, "unit": "C"}'
        ),
        {422},
        id="temperature-NaN",
    ),
    pytest.param(
        json.dumps(bad_report(temperature=None)).replace(
            '"temperature": null', '"temperature": {"value": Infinity, "unit": "C"}'
        ),
        {422},
        id="temperature-Infinity",
    ),
    pytest.param(
        json.dumps(bad_report(temperature=None)).replace(
            '"temperature": null', '"temperature": {"value": -Infinity, "unit": "F"}'
        ),
        {422},
        id="temperature-minus-Infinity",
    ),
    pytest.param(
        json.dumps(bad_report(temperature=None)).replace(
            '"temperature": null', '"temperature": {"value": 1e400, "unit": "C"}'
        ),
        {422},
        id="temperature-1e400-overflows-to-inf",
    ),
    *(
        pytest.param(
            json.dumps(bad_report(blood_glucose=None)).replace(
                '"blood_glucose": null', f'"blood_glucose": {{"value": {raw}, "unit": "mmol/L"}}'
            ),
            {422},
            id=f"glucose-{raw}",
        )
        for raw in ("NaN", "Infinity", "1e400")
    ),
    pytest.param(
        json.dumps(bad_report(pain_score=0)).replace('"pain_score": 0', '"pain_score": NaN'),
        {422},
        id="pain_score-NaN",
    ),
    pytest.param(
        json.dumps(bad_report(pain_score=0)).replace('"pain_score": 0', '"pain_score": 1e400'),
        {422},
        id="pain_score-1e400",
    ),
    pytest.param(
        json.dumps(bad_report(relief_percent=0)).replace(
            '"relief_percent": 0', '"relief_percent": Infinity'
        ),
        {422},
        id="relief_percent-Infinity",
    ),
    pytest.param(
        json.dumps(bad_report(pain_score=0)).replace(
            '"pain_score": 0', '"pain_score": ' + "9" * 5000
        ),
        {400, 422},
        id="pain_score-5000-digit-integer",
    ),
    pytest.param('{"pain_score": ', {422}, id="malformed-json-truncated"),
    pytest.param("{'pain_score': 4}", {422}, id="malformed-json-single-quotes"),
    pytest.param(json.dumps(bad_report()) + ",", {422}, id="malformed-json-trailing-comma"),
    pytest.param("not json at all " + CANARY, {422}, id="malformed-json-plain-text"),
    pytest.param("[]", {422}, id="body-empty-list"),
    pytest.param(json.dumps([bad_report()]), {422}, id="body-a-list-of-reports"),
    pytest.param('"a string"', {422}, id="body-a-string"),
    pytest.param("42", {422}, id="body-a-number"),
    pytest.param("null", {422}, id="body-null"),
    pytest.param("{}", {422}, id="body-empty-object"),
    pytest.param("", {422}, id="body-empty"),
    pytest.param(b"\xff\xfe{\x00}", {400, 422}, id="body-not-utf8"),
    pytest.param("[" * 100_000 + "]" * 100_000, {400, 422}, id="body-deeply-nested"),
]


@pytest.mark.parametrize(("content", "statuses"), REJECTED_RAW_REPORTS)
async def test_report_raw_body_rejected(
    shared_block: Block, content: str | bytes, statuses: set[int]
) -> None:
    block = shared_block
    before = await block.snapshot()
    response = await block.post_raw(content)
    await block.rejected(before, response, statuses)


@pytest.mark.parametrize(
    "content_type",
    [
        pytest.param("text/plain", id="text-plain"),
        pytest.param("application/x-www-form-urlencoded", id="form-urlencoded"),
    ],
)
async def test_report_wrong_content_type_rejected(shared_block: Block, content_type: str) -> None:
    block = shared_block
    before = await block.snapshot()
    response = await block.post_raw(json.dumps(bad_report()), content_type)
    await block.rejected(before, response, {415, 422})


@pytest.mark.parametrize(
    ("procedure_id", "status"),
    [
        pytest.param("not-a-uuid", 422, id="procedure_id-not-uuid"),
        pytest.param("1", 422, id="procedure_id-integer"),
        pytest.param(str(uuid.uuid4()), 404, id="procedure_id-unknown"),
    ],
)
async def test_report_bad_procedure_id(api: Api, procedure_id: str, status: int) -> None:
    patient = api.world.a.patient
    url = f"/v1/procedures/{procedure_id}/reports"
    assert_problem(
        await send(api, "POST", url, report_body(), patient.headers), status, no_echo=CANARY
    )
    assert_problem(
        await send(api, "POST", url + "/batch", {"reports": []}, patient.headers),
        status,
        no_echo=CANARY,
    )
    assert_problem(await api.client.get(url, headers=patient.headers), status, no_echo=CANARY)


async def test_report_time_rules_follow_the_clock(block: Block) -> None:
    """now + 5 min moves with the clock: rejected at 12:00, accepted once it is 12:01."""
    body = report_body(recorded_at="2026-11-21T12:06:00Z")
    assert_problem(await block.post(body), 422, "recorded_at", no_echo=CANARY)
    block.api.clock.advance(timedelta(minutes=1))
    response = await block.post(body)
    assert response.status_code == 201, response.text


# --------------------------------------------------------------------------- batch


def batch_item(**overrides: Any) -> dict[str, Any]:
    return changed(report_body(), overrides)


async def test_batch_of_100_is_accepted(block: Block) -> None:
    before = await block.snapshot()
    items = [
        batch_item(recorded_at=(START - timedelta(minutes=29) + timedelta(seconds=i)).isoformat())
        for i in range(100)
    ]
    response = await block.post_batch({"reports": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] * 100
    assert [r["client_report_id"] for r in results] == [i["client_report_id"] for i in items]
    assert len(await block.reports()) == len(before) + 100


async def test_batch_of_101_is_rejected_whole(shared_block: Block) -> None:
    block = shared_block
    before = await block.snapshot()
    items = [batch_item() for _ in range(101)]
    await block.rejected(before, await block.post_batch({"reports": items}), 422, "reports")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="reports-missing"),
        pytest.param({"reports": None}, id="reports-null"),
        pytest.param({"reports": "x"}, id="reports-a-string"),
        pytest.param({"reports": {"a": 1}}, id="reports-an-object"),
        pytest.param({"reports": [], "extra": True}, id="unknown-top-level-field"),
        pytest.param([report_body()], id="body-a-bare-list"),
        pytest.param({"reports\x00": []}, id="NUL-byte-in-key"),
    ],
)
async def test_batch_envelope_rejected(shared_block: Block, body: Any) -> None:
    block = shared_block
    before = await block.snapshot()
    await block.rejected(before, await block.post_batch(body), 422)


async def test_batch_mixed_items_stand_alone(block: Block) -> None:
    before = await block.snapshot()
    first = batch_item(recorded_at="2026-11-21T11:50:00Z", pain_score=3)
    second = batch_item(recorded_at="2026-11-21T11:35:00Z", pain_score=5)
    items: list[Any] = [
        first,  # 0 created
        batch_item(pain_score=11, notes=CANARY),  # 1 rejected (schema)
        second,  # 2 created
        batch_item(notes=f"{CANARY}\x00"),  # 3 rejected: NUL byte, alone
        42,  # 4 rejected: not an object
        "a string",  # 5 rejected: not an object
        None,  # 6 rejected: not an object
        batch_item(recorded_at="2026-11-21T12:10:00Z"),  # 7 rejected: future (service rule)
        dict(first),  # 8 duplicate of 0 (same body)
        {**second, "pain_score": 9},  # 9 rejected: same id as 2, different body -> 409
        batch_item(side_effects=[{"kind": "xyzzy", "severity": "mild"}]),  # 10 rejected
        [first],  # 11 rejected: a list is not a report
        batch_item(temperature={"value": 45.1, "unit": "C"}),  # 12 rejected
        batch_item(recorded_at="2026-11-21T11:45:00"),  # 13 rejected: naive
    ]
    response = await block.post_batch({"reports": items})
    assert response.status_code == 200, response.text
    assert CANARY not in response.text
    results = response.json()["results"]
    statuses = [r["status"] for r in results]
    assert statuses == [
        "created",
        "rejected",
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "duplicate",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
    ]
    for index in (0, 1, 2, 3, 7, 8, 9, 10, 12, 13):
        assert results[index]["client_report_id"] == items[index]["client_report_id"]
    for index in (4, 5, 6, 11):
        assert results[index]["client_report_id"] is None
    for index, result in enumerate(results):
        if result["status"] != "rejected":
            assert result["report"]["client_report_id"] == items[index]["client_report_id"]
            assert result.get("error") is None
            continue
        error = result["error"]
        assert isinstance(error["detail"], str) and error["detail"]
        expected_status = 409 if index == 9 else 422
        assert error["status"] == expected_status, (index, error)
        if expected_status == 422:
            assert_issues(error["errors"])
        assert result.get("report") is None
    assert results[8]["report"]["id"] == results[0]["report"]["id"]
    after = await block.reports()
    new = [r for r in after if r["id"] not in {b["id"] for b in before}]
    assert sorted(r["client_report_id"] for r in new) == sorted(
        [first["client_report_id"], second["client_report_id"]]
    )
    stored_second = next(r for r in new if r["client_report_id"] == second["client_report_id"])
    assert stored_second["pain_score"] == 5


async def test_batch_item_with_nul_byte_is_rejected_alone(block: Block) -> None:
    before = await block.snapshot()
    good = batch_item()
    response = await block.post_batch(
        {"reports": [batch_item(notes="bad\x00notes"), good, {"\x00": 1}]}
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "created", "rejected"]
    after = await block.reports()
    assert len(after) == len(before) + 1
    assert good["client_report_id"] in {r["client_report_id"] for r in after}


async def test_batch_empty_list_stores_nothing(block: Block) -> None:
    before = await block.snapshot()
    response = await block.post_batch({"reports": []})
    assert response.status_code == 200, response.text
    assert response.json()["results"] == []
    await block.assert_unchanged(before)


# --------------------------------------------------------------------------- procedures


class PatientFile(Stored):
    """A fresh patient of clinic A and a clinician to enter blocks for them."""

    def __init__(self, api: Api, clinician: Actor, patient: dict[str, Any]) -> None:
        self.api = api
        self.clinician = clinician
        self.id = patient["id"]
        self.url = f"/v1/patients/{self.id}/procedures"

    async def post(self, body: Any) -> httpx.Response:
        return await send(self.api, "POST", self.url, body, self.clinician.headers)

    async def read(self) -> list[dict[str, Any]]:
        return await self.procedures()

    async def procedures(self) -> list[dict[str, Any]]:
        response = await self.api.client.get(
            self.url, params={"limit": 200}, headers=self.clinician.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def patient_file(api: Api) -> PatientFile:
    clinician = api.world.a.clinician
    return PatientFile(api, clinician, await api.create_patient(clinician))


@pytest.fixture
async def shared_patient_file(api: Api, database_url: str) -> PatientFile:
    key = (database_url, "patient")
    clinician = api.world.a.clinician
    if key not in _SHARED:
        _SHARED[key] = await api.create_patient(clinician)
    shared = PatientFile(api, clinician, _SHARED[key])
    shared.state_key = (database_url, "patient-state")
    return shared


ACCEPTED_PROCEDURES = [
    pytest.param({}, id="defaults"),
    pytest.param({"baseline_pain": 0}, id="baseline_pain-0"),
    pytest.param({"baseline_pain": 10}, id="baseline_pain-10"),
    pytest.param({"levels": ["L1"]}, id="levels-one"),
    pytest.param({"levels": ["L1", "L2", "L3", "L4", "L5"]}, id="levels-all-five"),
    pytest.param({"side": "right"}, id="side-right"),
    pytest.param({"side": "bilateral"}, id="side-bilateral"),
    *[
        pytest.param({"indication": ind}, id=f"indication-{ind}")
        for ind in (
            "crps",
            "neuropathy",
            "vascular",
            "phantom_limb",
            "hyperhidrosis",
            "post_surgical",
            "other",
        )
    ],
    pytest.param({"baseline_symptoms": SPEC_SIDE_EFFECT_KINDS}, id="baseline_symptoms-all-kinds"),
    pytest.param({"sedation": True}, id="sedation-true"),
    pytest.param(
        {"anesthetic": {"drug": "lidocaine", "concentration_percent": 100, "volume_ml": 5}},
        id="anesthetic-concentration-100",
    ),
    pytest.param(
        {"anesthetic": {"drug": "lidocaine", "concentration_percent": 0.01, "volume_ml": 5}},
        id="anesthetic-concentration-0.01",
    ),
    pytest.param({"anesthetic": None, "steroid": None}, id="no-anesthetic-no-steroid"),
    pytest.param(
        {"anesthetic": MISSING, "steroid": MISSING, "notes": MISSING}, id="optionals-omitted"
    ),
    pytest.param({"notes": "n" * 2000}, id="notes-2000-chars"),
    pytest.param({"performed_at": NOW_PLUS_5MIN}, id="performed_at-now-plus-5min"),
    pytest.param({"performed_at": "2026-11-21T17:00:00+05:30"}, id="performed_at-offset"),
    pytest.param({"performed_at": "2025-11-21T11:30:00Z"}, id="performed_at-a-year-ago"),
]


@pytest.mark.parametrize("overrides", ACCEPTED_PROCEDURES)
async def test_procedure_accepted(patient_file: PatientFile, overrides: dict[str, Any]) -> None:
    response = await patient_file.post(changed(procedure_body(), overrides))
    assert response.status_code == 201, response.text
    procedure = response.json()
    assert procedure["patient_id"] == patient_file.id
    assert procedure["sequence_number"] == 1
    for key in ("baseline_pain", "levels", "side", "indication", "sedation", "notes"):
        if key in overrides:
            sent = overrides[key]
            assert procedure[key] == (None if sent is MISSING else sent)
    if "baseline_symptoms" in overrides:
        assert sorted(procedure["baseline_symptoms"]) == sorted(overrides["baseline_symptoms"])
    if "performed_at" in overrides:
        assert procedure["performed_at"].endswith("Z")
        assert parse_ts(procedure["performed_at"]) == parse_ts(overrides["performed_at"])
    assert [p["id"] for p in await patient_file.procedures()] == [procedure["id"]]


ANESTHETIC = {"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10}

REJECTED_PROCEDURES = [
    pytest.param({"baseline_pain": -1}, "baseline_pain", id="baseline_pain-minus-1"),
    pytest.param({"baseline_pain": 11}, "baseline_pain", id="baseline_pain-11"),
    pytest.param({"baseline_pain": 5.5}, "baseline_pain", id="baseline_pain-float"),
    pytest.param({"baseline_pain": "5"}, "baseline_pain", id="baseline_pain-string"),
    pytest.param({"baseline_pain": True}, "baseline_pain", id="baseline_pain-bool"),
    pytest.param({"baseline_pain": 10**30}, "baseline_pain", id="baseline_pain-10e30"),
    pytest.param({"baseline_pain": MISSING}, "baseline_pain", id="baseline_pain-missing"),
    pytest.param({"levels": []}, "levels", id="levels-empty"),
    pytest.param({"levels": ["L2", "L2"]}, "levels", id="levels-duplicate"),
    pytest.param({"levels": ["L6"]}, "levels", id="levels-unknown-L6"),
    pytest.param({"levels": ["T12"]}, "levels", id="levels-unknown-T12"),
    pytest.param({"levels": ["l2"]}, "levels", id="levels-lowercase"),
    pytest.param({"levels": "L2"}, "levels", id="levels-a-string"),
    pytest.param({"levels": [2]}, "levels", id="levels-a-number"),
    pytest.param({"levels": MISSING}, "levels", id="levels-missing"),
    pytest.param({"side": "both"}, "side", id="side-unknown"),
    pytest.param({"side": "Left"}, "side", id="side-wrong-case"),
    pytest.param({"side": None}, "side", id="side-null"),
    pytest.param({"indication": "cancer"}, "indication", id="indication-unknown"),
    pytest.param({"indication": MISSING}, "indication", id="indication-missing"),
    pytest.param(
        {"baseline_symptoms": [f"{CANARY}-symptom"]},
        "baseline_symptoms",
        id="baseline_symptoms-unknown-kind",
    ),
    pytest.param(
        {"baseline_symptoms": ["burning_pain", "burning_pain"]},
        "baseline_symptoms",
        id="baseline_symptoms-duplicate",
    ),
    pytest.param(
        {"baseline_symptoms": [{"kind": "burning_pain", "severity": "mild"}]},
        "baseline_symptoms",
        id="baseline_symptoms-objects",
    ),
    pytest.param({"sedation": MISSING}, "sedation", id="sedation-missing"),
    pytest.param({"sedation": None}, "sedation", id="sedation-null"),
    pytest.param({"sedation": "false"}, "sedation", id="sedation-string"),
    pytest.param({"sedation": 0}, "sedation", id="sedation-zero"),
    pytest.param(
        {"anesthetic": {**ANESTHETIC, "concentration_percent": 0}},
        "concentration_percent",
        id="anesthetic-concentration-0",
    ),
    pytest.param(
        {"anesthetic": {**ANESTHETIC, "concentration_percent": 100.1}},
        "concentration_percent",
        id="anesthetic-concentration-100.1",
    ),
    pytest.param(
        {"anesthetic": {**ANESTHETIC, "concentration_percent": -1}},
        "concentration_percent",
        id="anesthetic-concentration-negative",
    ),
    pytest.param(
        {"anesthetic": {**ANESTHETIC, "concentration_percent": 10**400}},
        "concentration_percent",
        id="anesthetic-concentration-400-digits",
    ),
    pytest.param(
        {"anesthetic": {**ANESTHETIC, "volume_ml": 0}}, "volume_ml", id="anesthetic-volume-0"
    ),
    pytest.param({"anesthetic": {**ANESTHETIC, "drug": ""}}, "drug", id="anesthetic-drug-empty"),
    pytest.param(
        {"anesthetic": {"concentration_percent": 0.25, "volume_ml": 10}},
        "drug",
        id="anesthetic-drug-missing",
    ),
    pytest.param(
        {"anesthetic": {**ANESTHETIC, "route": "iv"}}, "route", id="anesthetic-unknown-field"
    ),
    pytest.param(
        {"steroid": {"drug": "dexamethasone", "dose_mg": -4}}, "dose_mg", id="steroid-dose-negative"
    ),
    pytest.param({"performed_at": "2026-11-21T11:30:00"}, "performed_at", id="performed_at-naive"),
    pytest.param(
        {"performed_at": "2026-11-21T12:05:01Z"}, "performed_at", id="performed_at-now-plus-5min-1s"
    ),
    pytest.param(
        {"performed_at": "2027-11-21T11:30:00Z"}, "performed_at", id="performed_at-next-year"
    ),
    pytest.param(
        {"performed_at": "9999-12-31T23:00:00-05:00"}, "performed_at", id="performed_at-year-10000"
    ),
    pytest.param(
        {"performed_at": "1800-01-01T00:00:00Z"}, "performed_at", id="performed_at-year-1800"
    ),
    pytest.param({"performed_at": MISSING}, "performed_at", id="performed_at-missing"),
    pytest.param({"performed_at": 1795253400}, "performed_at", id="performed_at-unix-integer"),
    pytest.param({"notes": "n" * 2001}, "notes", id="notes-2001-chars"),
    pytest.param({"notes": f"{CANARY}\x00"}, None, id="notes-NUL-byte"),
    pytest.param({"notes": f"{CANARY} \udfff"}, "notes", id="notes-lone-surrogate"),
    pytest.param({"sequence_number": 7}, "sequence_number", id="unknown-field-sequence_number"),
    pytest.param({"patient_id": str(uuid.uuid4())}, "patient_id", id="unknown-field-patient_id"),
]


@pytest.mark.parametrize(("overrides", "field"), REJECTED_PROCEDURES)
async def test_procedure_rejected(
    shared_patient_file: PatientFile, overrides: dict[str, Any], field: str | None
) -> None:
    patient_file = shared_patient_file
    before = await patient_file.snapshot()
    body = changed(procedure_body(notes=f"{CANARY} notes"), overrides)
    await patient_file.rejected(before, await patient_file.post(body), 422, field)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            json.dumps(procedure_body(baseline_pain=0)).replace(
                '"baseline_pain": 0', '"baseline_pain": NaN'
            ),
            id="baseline_pain-NaN",
        ),
        pytest.param(
            json.dumps(procedure_body()).replace(
                '"concentration_percent": 0.25', '"concentration_percent": NaN'
            ),
            id="concentration-NaN",
        ),
        pytest.param(
            json.dumps(procedure_body()).replace('"volume_ml": 10', '"volume_ml": Infinity'),
            id="volume-Infinity",
        ),
        pytest.param('{"side": "left",', id="malformed-json"),
        pytest.param("[]", id="body-a-list"),
    ],
)
async def test_procedure_raw_body_rejected(shared_patient_file: PatientFile, content: str) -> None:
    patient_file = shared_patient_file
    before = await patient_file.snapshot()
    response = await patient_file.api.client.post(
        patient_file.url,
        content=content,
        headers={**patient_file.clinician.headers, "Content-Type": "application/json"},
    )
    await patient_file.rejected(before, response, 422)


async def test_procedure_sequence_numbers(api: Api, patient_file: PatientFile) -> None:
    numbers = []
    for _ in range(3):
        response = await patient_file.post(procedure_body())
        assert response.status_code == 201, response.text
        numbers.append(response.json()["sequence_number"])
        # a rejected block in between does not use up a number
        assert_problem(
            await patient_file.post(procedure_body(baseline_pain=11)), 422, no_echo=CANARY
        )
    assert numbers == [1, 2, 3]
    assert [p["sequence_number"] for p in await patient_file.procedures()] == [1, 2, 3]
    other = PatientFile(
        api, patient_file.clinician, await api.create_patient(api.world.a.clinician)
    )
    response = await other.post(procedure_body())
    assert response.status_code == 201, response.text
    assert response.json()["sequence_number"] == 1


# --------------------------------------------------------------------------- patients


class ClinicFile(Stored):
    """A clinic of its own, so its patient list is exactly what the test made."""

    def __init__(self, api: Api, clinic: ClinicActors) -> None:
        self.api = api
        self.clinic = clinic
        self.headers = clinic.clinician.headers

    async def post(self, body: Any) -> httpx.Response:
        return await send(self.api, "POST", "/v1/patients", body, self.headers)

    async def read(self) -> list[dict[str, Any]]:
        return await self.patients()

    async def patients(self) -> list[dict[str, Any]]:
        response = await self.api.client.get(
            "/v1/patients", params={"limit": 200}, headers=self.headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
async def clinic_file(api: Api) -> ClinicFile:
    return ClinicFile(api, await api.new_clinic())


@pytest.fixture
async def shared_clinic_file(api: Api, database_url: str) -> ClinicFile:
    key = (database_url, "clinic")
    if key not in _SHARED:
        _SHARED[key] = await api.new_clinic()
    shared = ClinicFile(api, _SHARED[key])
    shared.state_key = (database_url, "clinic-state")
    return shared


def patient_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "mrn": f"MRN-{uuid.uuid4().hex[:10]}",
        "display_name": "Jordan Alvarez",
        "birth_date": "1971-04-02",
        "timezone": "America/Chicago",
        "temperature_unit": "F",
    }
    return changed(body, overrides)


ACCEPTED_PATIENTS = [
    pytest.param({}, id="defaults"),
    pytest.param({"timezone": "UTC"}, id="timezone-UTC"),
    pytest.param({"timezone": "Asia/Kathmandu"}, id="timezone-Asia-Kathmandu"),
    pytest.param({"timezone": "America/Argentina/Buenos_Aires"}, id="timezone-three-parts"),
    pytest.param({"temperature_unit": "C"}, id="temperature_unit-C"),
    pytest.param({"temperature_unit": "F"}, id="temperature_unit-F"),
    pytest.param({"temperature_unit": MISSING}, id="temperature_unit-omitted"),
    pytest.param({"mrn": "M"}, id="mrn-1-char"),
    pytest.param({"mrn": "M" * 64}, id="mrn-64-chars"),
    pytest.param({"mrn": "MRN 0042"}, id="mrn-inner-space"),
    pytest.param({"birth_date": "2026-11-21"}, id="birth_date-today"),
    pytest.param({"birth_date": "1900-01-01"}, id="birth_date-1900-01-01"),
    pytest.param({"birth_date": None}, id="birth_date-null"),
    pytest.param({"birth_date": MISSING}, id="birth_date-omitted"),
    pytest.param({"display_name": "Zoë Ñúñez-O'Brien"}, id="display_name-non-ascii"),
    pytest.param({"display_name": "x" * 200}, id="display_name-200-chars"),
]


@pytest.mark.parametrize("overrides", ACCEPTED_PATIENTS)
async def test_patient_accepted(clinic_file: ClinicFile, overrides: dict[str, Any]) -> None:
    before = await clinic_file.snapshot()
    body = patient_body(**overrides)
    response = await clinic_file.post(body)
    assert response.status_code == 201, response.text
    patient = response.json()
    for key in ("mrn", "display_name", "timezone", "temperature_unit", "birth_date"):
        if key in body:
            assert patient[key] == body[key], key
    if "temperature_unit" not in body:
        assert patient["temperature_unit"] in {"C", "F"}
    assert patient["created_at"].endswith("Z")
    after = await clinic_file.patients()
    assert len(after) == len(before) + 1


REJECTED_PATIENTS = [
    pytest.param({"timezone": "Mars/Olympus"}, "timezone", id="timezone-Mars-Olympus"),
    pytest.param({"timezone": "../etc/passwd"}, "timezone", id="timezone-path-traversal"),
    pytest.param({"timezone": "/etc/localtime"}, "timezone", id="timezone-absolute-path"),
    pytest.param({"timezone": "america/chicago"}, "timezone", id="timezone-wrong-case"),
    pytest.param({"timezone": "CST"}, "timezone", id="timezone-abbreviation"),
    pytest.param({"timezone": "+05:00"}, "timezone", id="timezone-an-offset"),
    pytest.param({"timezone": ""}, "timezone", id="timezone-empty"),
    pytest.param({"timezone": "A" * 5000}, "timezone", id="timezone-5000-chars"),
    pytest.param({"timezone": "Europe/Berlin\x00"}, None, id="timezone-NUL-byte"),
    pytest.param({"timezone": None}, "timezone", id="timezone-null"),
    pytest.param({"timezone": MISSING}, "timezone", id="timezone-missing"),
    pytest.param({"temperature_unit": "K"}, "temperature_unit", id="temperature_unit-K"),
    pytest.param({"temperature_unit": "c"}, "temperature_unit", id="temperature_unit-lowercase"),
    pytest.param({"temperature_unit": None}, "temperature_unit", id="temperature_unit-null"),
    pytest.param({"mrn": ""}, "mrn", id="mrn-empty"),
    pytest.param({"mrn": "M" * 65}, "mrn", id="mrn-65-chars"),
    pytest.param({"mrn": " MRN1"}, "mrn", id="mrn-leading-space"),
    pytest.param({"mrn": "MRN1 "}, "mrn", id="mrn-trailing-space"),
    pytest.param({"mrn": "MRN\n1"}, "mrn", id="mrn-newline"),
    pytest.param({"mrn": "MRN\x001"}, None, id="mrn-NUL-byte"),
    pytest.param({"mrn": 12345}, "mrn", id="mrn-a-number"),
    pytest.param({"mrn": MISSING}, "mrn", id="mrn-missing"),
    pytest.param({"display_name": ""}, "display_name", id="display_name-empty"),
    pytest.param({"display_name": "   "}, "display_name", id="display_name-blank"),
    pytest.param({"display_name": "x" * 201}, "display_name", id="display_name-201-chars"),
    pytest.param({"display_name": None}, "display_name", id="display_name-null"),
    pytest.param(
        {"display_name": f"{CANARY} \ud800"}, "display_name", id="display_name-lone-surrogate"
    ),
    pytest.param({"birth_date": "2026-11-22"}, "birth_date", id="birth_date-tomorrow"),
    pytest.param({"birth_date": "2100-01-01"}, "birth_date", id="birth_date-far-future"),
    pytest.param({"birth_date": "1899-12-31"}, "birth_date", id="birth_date-1899-12-31"),
    pytest.param({"birth_date": "0001-01-01"}, "birth_date", id="birth_date-year-1"),
    pytest.param({"birth_date": "2026-02-30"}, "birth_date", id="birth_date-impossible"),
    pytest.param({"birth_date": "02/04/1971"}, "birth_date", id="birth_date-us-format"),
    pytest.param({"birth_date": 19710402}, "birth_date", id="birth_date-a-number"),
    pytest.param({"birth_date": 0}, "birth_date", id="birth_date-unix-zero"),
    pytest.param({"clinic_id": str(uuid.uuid4())}, "clinic_id", id="unknown-field-clinic_id"),
    pytest.param({"id": str(uuid.uuid4())}, "id", id="unknown-field-id"),
]


@pytest.mark.parametrize(("overrides", "field"), REJECTED_PATIENTS)
async def test_patient_rejected(
    shared_clinic_file: ClinicFile, overrides: dict[str, Any], field: str | None
) -> None:
    clinic_file = shared_clinic_file
    before = await clinic_file.snapshot()
    body = changed(patient_body(display_name=f"{CANARY} Jordan"), overrides)
    await clinic_file.rejected(before, await clinic_file.post(body), 422, field)


async def test_patient_raw_body_rejected(clinic_file: ClinicFile) -> None:
    before = await clinic_file.snapshot()
    for content in ('{"mrn": "x", ', "[]", "null"):
        response = await clinic_file.api.client.post(
            "/v1/patients",
            content=content,
            headers={**clinic_file.headers, "Content-Type": "application/json"},
        )
        assert_problem(response, 422, no_echo=CANARY)
    await clinic_file.assert_unchanged(before)


async def test_patient_duplicate_mrn(api: Api, clinic_file: ClinicFile) -> None:
    body = patient_body(mrn="MRN-DUPLICATE-1")
    first = await clinic_file.post(body)
    assert first.status_code == 201, first.text
    before = await clinic_file.snapshot()
    again = await clinic_file.post(patient_body(mrn="MRN-DUPLICATE-1", display_name="Someone Else"))
    await clinic_file.rejected(before, again, 409)
    other = ClinicFile(api, await api.new_clinic())
    elsewhere = await other.post(patient_body(mrn="MRN-DUPLICATE-1"))
    assert elsewhere.status_code == 201, elsewhere.text
    assert elsewhere.json()["clinic_id"] == str(other.clinic.clinic_id)
    assert [p["id"] for p in await clinic_file.patients()] == [p["id"] for p in before]


REJECTED_PATCHES = [
    pytest.param({"display_name": None}, "display_name", 422, id="display_name-null"),
    pytest.param({"display_name": ""}, "display_name", 422, id="display_name-empty"),
    pytest.param({"mrn": None}, "mrn", 422, id="mrn-null"),
    pytest.param({"mrn": " MRN"}, "mrn", 422, id="mrn-leading-space"),
    pytest.param({"timezone": None}, "timezone", 422, id="timezone-null"),
    pytest.param({"timezone": "Mars/Olympus"}, "timezone", 422, id="timezone-invalid"),
    pytest.param({"temperature_unit": None}, "temperature_unit", 422, id="temperature_unit-null"),
    pytest.param({"temperature_unit": "K"}, "temperature_unit", 422, id="temperature_unit-K"),
    pytest.param({"birth_date": "2026-11-22"}, "birth_date", 422, id="birth_date-future"),
    pytest.param({"birth_date": "1899-12-31"}, "birth_date", 422, id="birth_date-before-1900"),
    pytest.param({"nickname": "JJ"}, "nickname", 422, id="unknown-field"),
    pytest.param({"display_name": f"{CANARY}\x00"}, None, 422, id="NUL-byte"),
    pytest.param({"mrn": "MRN-TAKEN-BY-OTHER"}, None, 409, id="mrn-of-another-patient"),
]


@pytest.mark.parametrize(("changes", "field", "status"), REJECTED_PATCHES)
async def test_patient_patch_rejected(
    clinic_file: ClinicFile, changes: dict[str, Any], field: str | None, status: int
) -> None:
    taken = await clinic_file.post(patient_body(mrn="MRN-TAKEN-BY-OTHER"))
    assert taken.status_code == 201, taken.text
    created = await clinic_file.post(patient_body())
    assert created.status_code == 201, created.text
    url = f"/v1/patients/{created.json()['id']}"
    before = (await clinic_file.api.client.get(url, headers=clinic_file.headers)).json()
    response = await send(clinic_file.api, "PATCH", url, changes, clinic_file.headers)
    assert_problem(response, status, field, no_echo=CANARY)
    after = (await clinic_file.api.client.get(url, headers=clinic_file.headers)).json()
    assert after == before


async def test_patient_patch_accepted(clinic_file: ClinicFile) -> None:
    created = await clinic_file.post(patient_body())
    url = f"/v1/patients/{created.json()['id']}"
    changes = {"birth_date": None, "display_name": "New Name"}
    response = await send(clinic_file.api, "PATCH", url, changes, clinic_file.headers)
    assert response.status_code == 200, response.text
    assert response.json()["birth_date"] is None
    assert response.json()["display_name"] == "New Name"


# --------------------------------------------------------------------------- query parameters


async def list_url(api: Api, kind: str) -> tuple[str, dict[str, str]]:
    url = str(api.app.state.services.settings.database_url)
    if (url, "lists") not in _SHARED:
        # a clinic of its own with two patients, two blocks and two reports: a page of 1
        # has a next page on every list
        clinic = await api.new_clinic()
        patient = await api.create_patient(clinic.clinician)
        await api.create_patient(clinic.clinician)
        procedure = await api.create_procedure(clinic.clinician, patient["id"])
        await api.create_procedure(clinic.clinician, patient["id"])
        for _ in range(2):
            response = await api.post_report(clinic.clinician, procedure["id"], report_body())
            assert response.status_code == 201, response.text
        _SHARED[(url, "lists")] = {
            "patients": "/v1/patients",
            "procedures": f"/v1/patients/{patient['id']}/procedures",
            "reports": f"/v1/procedures/{procedure['id']}/reports",
            "headers": clinic.clinician.headers,
        }
    lists = _SHARED[(url, "lists")]
    return lists[kind], lists["headers"]


LIST_KINDS = ["reports", "procedures", "patients"]


@pytest.mark.parametrize("kind", LIST_KINDS)
@pytest.mark.parametrize(
    ("limit", "status"),
    [
        pytest.param("0", 422, id="limit-0"),
        pytest.param("1", 200, id="limit-1"),
        pytest.param("200", 200, id="limit-200"),
        pytest.param("201", 422, id="limit-201"),
        pytest.param("-1", 422, id="limit-minus-1"),
        pytest.param("1.5", 422, id="limit-float"),
        pytest.param("ten", 422, id="limit-word"),
        pytest.param("", 422, id="limit-empty"),
        pytest.param(str(10**30), 422, id="limit-10e30"),
        pytest.param("9" * 5000, 422, id="limit-5000-digits"),
    ],
)
async def test_list_limit(api: Api, kind: str, limit: str, status: int) -> None:
    url, headers = await list_url(api, kind)
    response = await api.client.get(url, params={"limit": limit}, headers=headers)
    if status == 200:
        assert response.status_code == 200, response.text
        page = response.json()
        if limit == "1":  # every list has two rows: a full page with a working cursor
            assert len(page["items"]) == 1
            assert page["next_cursor"] is not None
            follow = await api.client.get(
                url, params={"limit": limit, "cursor": page["next_cursor"]}, headers=headers
            )
            assert follow.status_code == 200, follow.text
            assert follow.json()["items"][0]["id"] != page["items"][0]["id"]
        else:
            assert 2 <= len(page["items"]) <= int(limit)
            assert page["next_cursor"] is None
    else:
        assert_problem(response, status, "limit", no_echo=CANARY)


def _cursor_cases() -> list[Any]:
    some_id = str(uuid.uuid4())
    common = [
        ("garbage", "garbage"),
        ("not-json", b64("not json")),
        ("json-object", b64('{"a": 1}')),
        ("json-numbers", b64("[1, 2]")),
        ("empty-list", cursor_of()),
        ("three-values", cursor_of("a", "b", "c")),
        ("padding-only", "===="),
    ]
    time_id = [
        ("time-garbage", cursor_of("yesterday", some_id)),
        ("time-naive", cursor_of("2026-11-21T12:00:00", some_id)),
        ("id-not-uuid", cursor_of("2026-11-21T12:00:00+00:00", "nope")),
        ("time-year-0", cursor_of("0001-01-01T00:00:00+05:00", some_id)),
        ("time-year-10000", cursor_of("9999-12-31T23:00:00-05:00", some_id)),
    ]
    sequence = [
        ("sequence-word", cursor_of("abc")),
        ("sequence-negative", cursor_of("-1")),
        ("sequence-superscript-two", cursor_of("\u00b2")),
        ("sequence-40-digits", cursor_of("9" * 40)),
        ("sequence-empty", cursor_of("")),
    ]
    cases = [pytest.param(k, c, id=f"{k}-{i}") for k in LIST_KINDS for i, c in common]
    cases += [
        pytest.param(k, c, id=f"{k}-{i}") for k in ("reports", "patients") for i, c in time_id
    ]
    cases += [pytest.param("procedures", c, id=f"procedures-{i}") for i, c in sequence]
    return cases


@pytest.mark.parametrize(("kind", "cursor"), _cursor_cases())
async def test_list_garbage_cursor(api: Api, kind: str, cursor: str) -> None:
    url, headers = await list_url(api, kind)
    response = await api.client.get(url, params={"cursor": cursor}, headers=headers)
    assert_problem(response, 400, no_echo=CANARY)


@pytest.mark.parametrize("kind", LIST_KINDS)
@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!", id="punctuation"),
        pytest.param("a" * 5000, id="5000-chars"),
        pytest.param("abc\x00", id="NUL-byte"),
    ],
)
async def test_list_cursor_outside_alphabet(api: Api, kind: str, cursor: str) -> None:
    url, headers = await list_url(api, kind)
    response = await api.client.get(url, params={"cursor": cursor}, headers=headers)
    assert_problem(response, {400, 422}, no_echo=CANARY)
