"""Everything that writes a block's reports, alerts or check-ins takes the block's row lock
first, so the revision triggers (migration 20261202_0012: every child row written UPDATEs its
block) add no lock cycle. On one block with two open alerts, rounds of report submissions that
re-trigger them (plan_alerts locks and updates the active alerts), acknowledgements,
resolutions and escalation passes run at once: none may end in a 5xx or a deadlock, and every
report the API answered 201 for is stored exactly once.

PostgreSQL alone: SQLite's writers take turns (Database.write, BEGIN IMMEDIATE)."""

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.deps import Services
from app.scheduled.service import escalate_overdue_alerts
from tests.helpers import Actor, Api, PatientActor, report_body

pytestmark = [pytest.mark.anyio, pytest.mark.postgres_only, pytest.mark.slow]

# Each raises, then re-triggers, an alert of its own: an emergency (15 min) and an urgent (2 h).
RED_FLAGS = [
    {"kind": "breathing_difficulty", "severity": "mild"},
    {"kind": "rash_or_itching", "severity": "mild"},
]
# Per round, all in flight at once; five rounds make 50 operations.
ROUNDS, REPORTS, ACKS, RESOLVES, ESCALATIONS = 5, 5, 1, 2, 2

# What was done; its HTTP status, or for an escalation pass how many it escalated; and the
# response's text, or the exception an escalation pass raised.
Outcome = tuple[str, int, str]


async def _answer(what: str, request: Awaitable[httpx.Response]) -> Outcome:
    response = await request
    return what, response.status_code, response.text


async def _escalation(services: Services, at: datetime) -> Outcome:
    try:
        escalated = await escalate_overdue_alerts(services, at)
    except Exception as exc:  # reported with the other outcomes
        return "escalate", 0, f"{type(exc).__name__}: {exc}"
    return "escalate", escalated, ""


async def _active_alerts(api: Api, staff: Actor, patient: PatientActor) -> list[str]:
    params: dict[str, Any] = {"patient_id": str(patient.patient_id), "limit": 200}
    response = await api.client.get("/v1/alerts", params=params, headers=staff.headers)
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["items"]]


async def _stored_report_ids(api: Api, patient: PatientActor, block: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = await api.client.get(
            f"/v1/procedures/{block}/reports", params=params, headers=patient.headers
        )
        assert page.status_code == 200, page.text
        ids += [r["id"] for r in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            return ids


def _round(
    api: Api,
    staff: Actor,
    post: Callable[[], Awaitable[httpx.Response]],
    active: list[str],
    escalate: Callable[[], Awaitable[Outcome]],
    offset: int,
) -> list[Awaitable[Outcome]]:
    """One round's operations: reports re-triggering the active alerts, transitions of those
    alerts (two resolves take both; the acknowledgement may come too late: a 409) and passes."""

    def move(alert_id: str, verb: str, body: dict[str, str] | None) -> Awaitable[Outcome]:
        path = f"/v1/alerts/{alert_id}/{verb}"
        return _answer(verb, api.client.post(path, json=body, headers=staff.headers))

    return [
        *(_answer("report", post()) for _ in range(REPORTS)),
        *(move(active[i % 2], "acknowledge", None) for i in range(ACKS)),
        *(move(active[(offset + i) % 2], "resolve", {"note": "Called"}) for i in range(RESOLVES)),
        *(escalate() for _ in range(ESCALATIONS)),
    ]


async def test_reports_transitions_and_escalation_on_one_block_never_deadlock(api: Api) -> None:
    services: Services = api.app.state.services
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    block = procedure["id"]
    performed_at = api.clock.now() - timedelta(minutes=30)
    api.clock.advance(timedelta(hours=1))
    overdue = api.clock.now() + timedelta(hours=3)  # past both alerts' deadlines
    # Other tests' alerts due by then are escalated first, so that each pass below reaches
    # this block's (a pass takes at most 200, the earliest deadlines first).
    for _ in range(100):
        if not await escalate_overdue_alerts(services, overdue):
            break
    minutes = iter(range(1, 1000))  # each report recorded a minute after the one made before

    def post() -> Awaitable[httpx.Response]:
        recorded_at = (performed_at + timedelta(minutes=next(minutes))).isoformat()
        body = report_body(recorded_at=recorded_at, side_effects=RED_FLAGS)
        return api.post_report(patient, block, body)

    accepted: list[str] = []
    outcomes: list[Outcome] = []
    shuffle = random.Random(11).shuffle
    for offset in range(ROUNDS):
        active = await _active_alerts(api, clinic.clinician, patient)
        if len(active) < len(RED_FLAGS):  # the first round, or resolved after its last report
            raised = await post()
            assert raised.status_code == 201, raised.text
            accepted.append(raised.json()["report"]["id"])
            active = await _active_alerts(api, clinic.clinician, patient)
        assert len(active) == len(RED_FLAGS)
        operations = _round(
            api, clinic.clinician, post, active, lambda: _escalation(services, overdue), offset
        )
        shuffle(operations)
        done = await asyncio.wait_for(asyncio.gather(*operations), timeout=30)
        outcomes += done
        created = [text for what, status, text in done if what == "report" and status == 201]
        accepted += [json.loads(text)["report"]["id"] for text in created]

    failed = [o for o in outcomes if o[0] != "escalate" and o[1] >= 500]
    failed += [o for o in outcomes if "deadlock" in o[2].lower()]
    failed += [o for o in outcomes if o[0] == "escalate" and o[2]]
    assert failed == []
    assert [s for what, s, _ in outcomes if what == "report"] == [201] * ROUNDS * REPORTS
    assert {s for what, s, _ in outcomes if what in ("acknowledge", "resolve")} <= {200, 409}
    assert sum(n for what, n, _ in outcomes if what == "escalate") > 0  # the passes did escalate
    stored = await _stored_report_ids(api, patient, block)
    assert sorted(stored) == sorted(accepted)  # every 201 stored, once
