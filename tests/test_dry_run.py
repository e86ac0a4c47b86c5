"""POST /v1/rules/dry-run and `aftercare rules dry-run`: a clinic on rule set 1 with a history
whose differences under rule set 2 are known (red-flags-v2.md), replayed through both."""

import random
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.alerts.models import Alert
from app.audit.models import AuditEvent, AuditEventPatient
from app.cli import cli
from app.core.models import Base
from app.rules.document import clinical_rules_markdown
from app.rules.engine import ProcedureFacts
from app.rulesets.replay import BlockInfo, Change, Tally, Verdict
from app.rulesets.service import _blocks
from app.rulesets.statements import Scope
from tests.helpers import TEST_SECRET, Api, ClinicActors, report_body

pytestmark = pytest.mark.anyio

URL = "/v1/rules/dry-run"
B1_AT = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)  # block 1 (patient 1)
B2_AT = datetime(2026, 11, 21, 11, 0, tzinfo=UTC)  # block 2 (patient 2)
FEVER = {"value": 101.3, "unit": "F"}  # 38.5 °C


def effects(*pairs: str) -> list[dict[str, str]]:
    return [{"kind": k, "severity": s} for k, s in (p.split(":") for p in pairs)]


# (name, block, hours after it, side effects, temperature): rules and guidance now (v1) and
# with the candidate (v2).
HISTORY: list[tuple[str, int, float, list[dict[str, str]], dict[str, Any] | None]] = [
    # v1 calls the block's own leg weakness with mild chills a spinal infection; v2 does not.
    ("chills_weakness", 1, 3, effects("chills:mild", "leg_weakness:mild"), None),
    # v2: severe dizziness at any hour is persistent_dizziness; v1 gave no guidance.
    ("dizzy", 2, 2, effects("dizziness:severe"), None),
    # v2 adds the internal-bleeding emergency before 6 h; urinary_tract_injury in both.
    ("flank_dizzy", 2, 4, effects("flank_pain:mild", "dizziness:moderate"), None),
    ("sore", 1, 4, effects("soreness:mild"), None),  # expected in both
    ("fever", 1, 5, [], FEVER),  # fever in both ...
    ("fever_again", 1, 6, [], FEVER),  # ... re-triggered: still one alert
    # Weakness that came back after the previous report had none: both versions.
    ("weakness_back", 1, 7.5, effects("leg_weakness:mild"), None),
]
CHANGED = ["dizzy", "chills_weakness", "flank_dizzy"]  # in (recorded_at, id) order
RULES = {
    "infection_with_neuro_signs": (0, 1, 0),  # (added, removed, unchanged)
    "possible_internal_bleeding": (1, 0, 0),
    "persistent_dizziness": (1, 0, 0),
    "urinary_tract_injury": (0, 0, 1),
    "fever": (0, 0, 1),
    "worsening_weakness": (0, 0, 1),
}
MATRIX = {
    ("emergency", "none"): 1,
    ("none", "contact_provider"): 1,
    ("contact_provider", "emergency"): 1,
    ("expected", "expected"): 1,
    ("contact_provider", "contact_provider"): 2,
    ("emergency", "emergency"): 1,
}


@dataclass
class Scene:
    clinic: ClinicActors
    patients: list[str]  # patient 1, patient 2
    blocks: list[str]
    reports: dict[str, str]  # name -> report id

    def at(self, block: int, hours: float) -> datetime:
        return (B1_AT if block == 1 else B2_AT) + timedelta(hours=hours)


async def seed(api: Api) -> Scene:
    clinic = await api.new_clinic(rule_set_version=1)  # as the migration leaves a clinic
    api.clock.set(datetime(2026, 11, 21, 20, 0, tzinfo=UTC))
    patients, blocks = [], []
    for performed in (B1_AT, B2_AT):
        patient = await api.create_patient(clinic.clinician)
        block = await api.create_procedure(
            clinic.clinician, patient["id"], performed_at=performed.isoformat()
        )
        patients.append(patient["id"])
        blocks.append(block["id"])
    scene = Scene(clinic, patients, blocks, {})
    for name, block_no, hours, side_effects, temperature in HISTORY:
        body = report_body(
            recorded_at=scene.at(block_no, hours).isoformat(),
            side_effects=side_effects,
            temperature=temperature,
        )
        response = await api.post_report(clinic.clinician, blocks[block_no - 1], body)
        assert response.status_code == 201, response.text
        scene.reports[name] = response.json()["report"]["id"]
    return scene


async def run(api: Api, scene: Scene, **body: Any) -> dict[str, Any]:
    params = body.pop("params", {})
    response = await api.client.post(
        URL, json={"rule_set_version": 2, **body}, params=params, headers=scene.clinic.admin.headers
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def names(scene: Scene, items: list[dict[str, Any]]) -> list[str]:
    by_id = {v: k for k, v in scene.reports.items()}
    return [by_id[item["report_id"]] for item in items]


def rule_counts(result: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {r["rule_id"]: (r["added"], r["removed"], r["unchanged"]) for r in result["rules"]}


async def row_counts(api: Api) -> Counter[str]:
    async with api.db.read() as session:
        return Counter(
            {
                table.name: await session.scalar(select(func.count()).select_from(table)) or 0
                for table in Base.metadata.sorted_tables
            }
        )


async def test_known_differences_and_nothing_stored(api: Api) -> None:
    scene = await seed(api)
    before = await row_counts(api)
    result = await run(api, scene, params={"limit": 50})
    after = await row_counts(api)

    assert (result["rule_set_version"], result["current_rule_set_version"]) == (2, 1)
    assert (result["reports_judged"], result["blocks"], result["reports_changed"]) == (7, 2, 3)
    assert rule_counts(result) == RULES
    severities = [r["severity"] for r in result["rules"]]
    assert severities == sorted(severities, key=["emergency", "urgent", "routine"].index)
    assert len(result["guidance"]) == 16
    assert {
        (c["current"], c["candidate"]): c["reports"] for c in result["guidance"] if c["reports"]
    } == MATRIX
    page = result["changed_reports"]
    assert page["next_cursor"] is None and names(scene, page["items"]) == CHANGED
    chills, dizzy, flank = (
        page["items"][CHANGED.index(n)] for n in ("chills_weakness", "dizzy", "flank_dizzy")
    )
    assert chills == {
        "report_id": scene.reports["chills_weakness"],
        "patient_id": scene.patients[0],
        "procedure_id": scene.blocks[0],
        "block_sequence_number": 1,
        "recorded_at": "2026-11-21T14:30:00Z",
        "hours_since_block": 3.0,
        "rules_now": ["infection_with_neuro_signs"],
        "rules_candidate": [],
        "guidance_now": "emergency",
        "guidance_candidate": "none",
    }
    assert (dizzy["rules_now"], dizzy["rules_candidate"]) == ([], ["persistent_dizziness"])
    assert flank["rules_now"] == ["urinary_tract_injury"]
    assert flank["rules_candidate"] == ["possible_internal_bleeding", "urinary_tract_injury"]

    # Nothing but the dry run's own audit event, naming the two patients the page shows.
    assert after - before == Counter({"audit_events": 1, "audit_event_patients": 2})
    assert before - after == Counter()
    async with api.db.read() as session:
        (event,) = await session.scalars(
            select(AuditEvent).where(
                AuditEvent.clinic_id == scene.clinic.clinic_id, AuditEvent.route == URL
            )
        )
        patients = set(
            await session.scalars(
                select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)
            )
        )
    assert (event.action, event.resource_type, event.resource_id, event.status) == (
        "rules.dry_run",
        "rule_set",
        "2",
        200,
    )
    assert patients == {uuid.UUID(p) for p in scene.patients}


async def test_paging_walks_every_changed_report_once(api: Api) -> None:
    scene = await seed(api)
    until = "2026-11-21T20:00:00Z"  # fixed, as a client paging through a live clinic would
    first = await run(api, scene, until=until)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        result = await run(api, scene, until=until, params=params)
        assert {k: v for k, v in result.items() if k != "changed_reports"} == {
            k: v for k, v in first.items() if k != "changed_reports"
        }
        seen += names(scene, result["changed_reports"]["items"])
        pages += 1
        cursor = result["changed_reports"]["next_cursor"]
        if cursor is None:
            break
    assert seen == CHANGED and pages == 3


async def test_window_and_patient(api: Api) -> None:
    scene = await seed(api)
    window = await run(api, scene, since="2026-11-21T14:00:00Z", until="2026-11-21T15:15:00Z")
    assert (window["reports_judged"], window["blocks"]) == (2, 2)
    assert names(scene, window["changed_reports"]["items"]) == ["chills_weakness", "flank_dizzy"]
    assert window["since"] == "2026-11-21T14:00:00Z" and window["until"] == "2026-11-21T15:15:00Z"
    # The only report in this window fires worsening_weakness because of its previous report,
    # recorded before `since`: that one is read, not judged.
    late = await run(api, scene, since=scene.at(1, 7).isoformat())
    assert (late["reports_judged"], late["blocks"], late["reports_changed"]) == (1, 1, 0)
    assert rule_counts(late) == {"worsening_weakness": (0, 0, 1)}
    one = await run(api, scene, patient_id=scene.patients[1])
    assert (one["reports_judged"], one["blocks"]) == (2, 1)
    assert names(scene, one["changed_reports"]["items"]) == ["dizzy", "flank_dizzy"]
    empty = await run(api, scene, until="2026-11-21T12:00:00Z")
    assert (empty["reports_judged"], empty["blocks"], empty["rules"]) == (0, 0, [])


async def test_who_may_and_what_is_refused(api: Api) -> None:
    clinic = await api.new_clinic(rule_set_version=1)
    body = {"rule_set_version": 2}
    for actor in (clinic.clinician, clinic.patient):
        assert (await api.client.post(URL, json=body, headers=actor.headers)).status_code == 403
    refusals: list[tuple[dict[str, Any], int]] = [
        ({"rule_set_version": 3}, 422),
        ({"rule_set_version": True}, 422),  # strict: a JSON integer, nothing coerced
        ({"rule_set_version": "2"}, 422),
        ({"rule_set_version": 2.0}, 422),
        ({"rule_set_version": 2, "since": "2026-11-21T12:00:00"}, 422),  # no offset
        (
            {
                "rule_set_version": 2,
                "since": "2026-11-22T00:00:00Z",
                "until": "2026-11-21T00:00:00Z",
            },
            422,
        ),
        ({"rule_set_version": 2, "patient_id": str(api.world.b.patient.id)}, 404),
        ({"rule_set_version": 2, "patient_id": str(uuid.uuid4())}, 404),
    ]
    for refused, status in refusals:
        response = await api.client.post(URL, json=refused, headers=clinic.admin.headers)
        assert response.status_code == status, (refused, response.text)
        if status == 422 and "since" not in refused:
            assert response.json()["errors"][0]["loc"][:2] == ["body", "rule_set_version"]
    response = await api.client.post(
        URL, json=body, params={"cursor": "nope"}, headers=clinic.admin.headers
    )
    assert response.status_code == 400


async def test_cli_prints_the_tables(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene = await seed(api)
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", database_url)
    monkeypatch.setenv("AFTERCARE_SECRET_KEY", TEST_SECRET)
    args = ["rules", "dry-run", "--clinic", str(scene.clinic.clinic_id), "--version", "2"]
    # The command runs its own event loop: in a thread, beside this test's.
    result = await anyio.to_thread.run_sync(CliRunner().invoke, cli, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "7 reports judged in 2 blocks; 3 would change." in out
    rows = {
        line.split()[0]: line.split()[2:]
        for line in out.splitlines()
        if line.split()[:1] and line.split()[0] in RULES
    }
    assert rows == {rule_id: [str(n) for n in counts] for rule_id, counts in RULES.items()}
    assert any(
        line.split()
        == ["now", "\\", "candidate", "emergency", "contact_provider", "expected", "none"]
        for line in out.splitlines()
    )
    assert [
        line.split()[:5] for line in out.splitlines() if line.startswith("contact_provider ")
    ] == [["contact_provider", "1", "2", "0", "0"]]
    for name in CHANGED:
        assert scene.reports[name] in out
    async with api.db.read() as session:
        action = await session.scalar(
            select(AuditEvent.action).where(
                AuditEvent.clinic_id == scene.clinic.clinic_id, AuditEvent.actor_type == "operator"
            )
        )
    assert action == "rules.dry_run"
    other = await anyio.to_thread.run_sync(
        CliRunner().invoke, cli, [*args, "--patient", str(api.world.b.patient.id)]
    )
    assert other.exit_code == 1 and "not found" in other.output.lower()


@pytest.mark.unit
async def test_rules_doc_writes_and_checks(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "clinical-rules.md"
    runner = CliRunner()
    assert runner.invoke(cli, ["rules", "doc", "--check", "--output", str(doc)]).exit_code == 1
    written = runner.invoke(cli, ["rules", "doc", "--output", str(doc)])
    assert written.exit_code == 0 and doc.read_text(encoding="utf-8") == clinical_rules_markdown()
    assert runner.invoke(cli, ["rules", "doc", "--check", "--output", str(doc)]).exit_code == 0
    doc.write_text(clinical_rules_markdown() + "edited\n", encoding="utf-8")
    assert runner.invoke(cli, ["rules", "doc", "--check", "--output", str(doc)]).exit_code == 1


# (name, hours after the block, side effects), posted in this order: "late" was recorded
# before "weak_nausea" and arrives after it (the live path then judges "weak_nausea" again);
# the two at 4 h share their recorded_at; "before" is recorded before the dry run's `since`.
LIVE_HISTORY: list[tuple[str, float, list[dict[str, str]]]] = [
    ("before", 1, effects("leg_weakness:mild")),
    ("chills", 3, effects("chills:mild", "leg_weakness:mild")),
    ("tie_dizzy", 4, effects("dizziness:severe", "leg_weakness:mild")),
    ("tie_flank", 4, effects("flank_pain:mild", "dizziness:moderate", "leg_weakness:mild")),
    ("weak_nausea", 7.5, effects("leg_weakness:mild", "nausea:severe")),
    ("nausea_again", 9, effects("nausea:severe", "leg_weakness:mild")),  # re-triggers
    ("late", 5, effects("soreness:mild")),  # no weakness: "weak_nausea"'s came back
]


async def live_clinic(api: Api, version: int) -> tuple[ClinicActors, dict[str, dict[str, Any]]]:
    """A clinic on `version` whose one patient (in Sydney) posts LIVE_HISTORY; each report's
    POST answer by name."""
    clinic = await api.new_clinic(rule_set_version=version)
    patient = await api.create_patient(clinic.clinician, timezone="Australia/Sydney")
    block = await api.create_procedure(
        clinic.clinician, patient["id"], performed_at=B1_AT.isoformat()
    )
    answers = {}
    for name, hours, side_effects in LIVE_HISTORY:
        at = (B1_AT + timedelta(hours=hours)).isoformat()
        body = report_body(recorded_at=at, side_effects=side_effects)
        response = await api.post_report(clinic.clinician, block["id"], body)
        assert response.status_code == 201, response.text
        answers[name] = response.json()
    return clinic, answers


async def test_the_dry_run_predicts_what_the_live_path_raises(api: Api) -> None:
    """The same history in a clinic on 1 (dry-run with 2) and in a clinic on 2 (judged live):
    each changed report's candidate rules are the alerts the live clinic raised for it (an
    alert belongs to the first report of the block that fires its rule), and its candidate
    guidance is the live one."""
    api.clock.set(datetime(2026, 11, 22, 0, 0, tzinfo=UTC))
    old, stored = await live_clinic(api, 1)
    new, live = await live_clinic(api, 2)
    since = (B1_AT + timedelta(hours=2)).isoformat()
    response = await api.client.post(
        URL, json={"rule_set_version": 2, "since": since}, headers=old.admin.headers
    )
    assert response.status_code == 200, response.text
    result = response.json()
    async with api.db.read() as session:
        alerts = (
            await session.execute(
                select(Alert.report_id, Alert.rule_id).where(Alert.clinic_id == new.clinic_id)
            )
        ).all()
    ids = {str(a["report"]["id"]): name for name, a in live.items()}
    raised: dict[str, set[str]] = {name: set() for name in live}
    for report_id, rule_id in alerts:
        raised[ids[str(report_id)]].add(rule_id)

    assert (result["reports_judged"], result["reports_changed"]) == (6, 5)
    # Per rule, the candidate's alerts (added and unchanged) are the live clinic's.
    candidate = {r["rule_id"]: r["added"] + r["unchanged"] for r in result["rules"]}
    assert {k: n for k, n in candidate.items() if n} == Counter(rule_id for _, rule_id in alerts)
    old_ids = {str(a["report"]["id"]): name for name, a in stored.items()}
    order = [name for name, *_ in sorted(LIVE_HISTORY, key=lambda h: h[1])]
    changed = {old_ids[c["report_id"]]: c for c in result["changed_reports"]["items"]}
    assert sorted(changed, key=order.index) == [
        "chills",
        "tie_dizzy",
        "tie_flank",
        "weak_nausea",
        "nausea_again",
    ]
    earlier: set[str] = set()
    for name in order:
        if name in changed:
            first = set(changed[name]["rules_candidate"]) - earlier
            assert first == raised[name], name
        earlier |= raised[name]
    for name, item in changed.items():
        guidance = live[name]["guidance"]["level"]
        if name == "weak_nausea":
            # Judged live before "late" arrived, with the 4 h reports as its previous: that
            # first guidance stands, and re-judging only added worsening_weakness's alert.
            # The dry run judges in recorded order, as if "late" had come in time.
            assert (guidance, item["guidance_candidate"]) == ("contact_provider", "emergency")
        else:
            assert item["guidance_candidate"] == guidance, name

    # The replay's blocks carry the patient's timezone, as the live path's ProcedureRef does.
    async with api.db.read() as session:
        (block,) = (await _blocks(session, Scope(old.clinic_id, None, None, None))).values()
    assert block.facts.timezone == "Australia/Sydney"


@pytest.mark.unit
def test_a_page_keeps_only_the_earliest_changes() -> None:
    """The tally keeps the `limit` + 1 earliest changes by (recorded_at, report_id) whatever
    the order they come in (block by block), and no more."""
    verdict = Verdict((), "none")
    block = BlockInfo(uuid.uuid4(), uuid.uuid4(), 1, ProcedureFacts(B1_AT, 5))
    changes = [
        Change(B1_AT + timedelta(minutes=i // 3), uuid.uuid4(), block, 0.0, verdict, verdict)
        for i in range(300)  # three at each instant
    ]
    random.Random(10).shuffle(changes)
    bounded, everything = Tally(keep=7), Tally()
    for change in changes:
        bounded.add_change(change)
        everything.add_change(change)
        assert len(bounded._kept) <= 7
    assert bounded.changes() == sorted(changes)[:7]
    assert everything.changes() == sorted(changes)
