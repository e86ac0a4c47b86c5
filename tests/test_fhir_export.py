"""FHIR bulk export (app/fhir/export_*.py) through the API and the worker: kick-off, status,
the manifest and its NDJSON files validated as FHIR R4B, _type and _since, cancel, expiry,
tenancy and who may export."""

import dataclasses
import json
import stat
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import delete

from app.core.config import Settings
from app.fhir.export_models import FhirExportJob
from app.fhir.export_types import EXPORT_TYPES
from app.worker.loop import Worker
from tests.helpers import TEST_SECRET, Actor, Api, ClinicActors, drain, report_body
from tests.test_fhir_base import outcome
from tests.test_integrations import client_actor

pytestmark = pytest.mark.anyio
BASE = "/fhir/r4"
ASYNC = {"Prefer": "respond-async"}
TYPES = ["Patient", "Procedure", "QuestionnaireResponse", "Observation", "Task"]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The suite's settings, with the export files in this test's own directory."""
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        db_pool_size=5,
        export_dir=str(tmp_path / "exports"),
        reports_per_caller_per_minute=100_000,
    )


def _headers(actor: Actor) -> dict[str, str]:
    return {**actor.headers, **ASYNC}


async def kick_off(api: Api, actor: Actor, path: str = "/Patient/$export", **params: str) -> str:
    response = await api.client.get(BASE + path, params=params, headers=_headers(actor))
    assert response.status_code == 202, response.text
    location = response.headers["content-location"]
    assert location.startswith("http://aftercare.test/fhir/r4/$export-status/")
    return location.removeprefix("http://aftercare.test")


async def finished(api: Api, worker: Worker, actor: Actor, status_path: str) -> dict[str, Any]:
    await drain(worker)
    response = await api.client.get(status_path, headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["requiresAccessToken"] is True and body["error"] == []
    return body


async def download(api: Api, actor: Actor, entry: dict[str, Any]) -> list[dict[str, Any]]:
    path = entry["url"].removeprefix("http://aftercare.test")
    response = await api.client.get(path, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/fhir+ndjson"
    model = get_fhir_model_class(entry["type"])
    lines = response.text.splitlines()
    for line in lines:
        model.model_validate_json(line)  # every line a valid R4B resource of its type
    resources = [json.loads(line) for line in lines]
    assert {r["resourceType"] for r in resources} == {entry["type"]}
    assert len(resources) == entry["count"]
    return resources


def _observations_of(report: dict[str, Any]) -> int:
    measures = [report["relief_percent"], report["relief_ended_at"], report["temperature"]]
    glucose = report.get("blood_glucose")
    return 1 + sum(m is not None for m in [*measures, glucose]) + len(report["side_effects"])


async def _rest_items(api: Api, actor: Actor, path: str, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get(path, params={"limit": 200, **params}, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return list(response.json()["items"])


async def seed(api: Api, clinic: ClinicActors) -> list[str]:
    """Patients with blocks, reports (side effects, fever, glucose) and alerts, one of them
    acknowledged; the blocks' ids."""
    blocks = []
    bodies = [
        [report_body(), report_body(temperature={"value": 101.5, "unit": "F"})],
        [report_body(side_effects=[{"kind": "breathing_difficulty", "severity": "mild"}])],
        [report_body(relief_percent=None, temperature=None, side_effects=[])],
    ]
    for reports in bodies:
        patient, block = await api.patient_with_procedure(clinic)
        blocks.append(block["id"])
        for body in reports:
            response = await api.post_report(patient, block["id"], body)
            assert response.status_code == 201, response.text
    alerts = await _rest_items(api, clinic.clinician, "/v1/alerts")
    assert alerts
    acknowledged = await api.client.post(
        f"/v1/alerts/{alerts[0]['id']}/acknowledge", json={}, headers=clinic.clinician.headers
    )
    assert acknowledged.status_code == 200, acknowledged.text
    return blocks


async def test_a_clinic_exports_to_ndjson_that_matches_the_rest_api(
    api: Api, worker: Worker, settings: Settings
) -> None:
    clinic = await api.new_clinic()
    blocks = await seed(api, clinic)
    staff = clinic.clinician
    status_path = await kick_off(api, staff, _outputFormat="application/fhir+ndjson")
    waiting = await api.client.get(status_path, headers=staff.headers)
    assert waiting.status_code == 202
    assert waiting.headers["x-progress"] == "queued" and waiting.headers["retry-after"]

    manifest = await finished(api, worker, staff, status_path)
    assert manifest["request"].endswith(
        "/fhir/r4/Patient/$export?_outputFormat=application%2Ffhir%2Bndjson"
    )
    assert [o["type"] for o in manifest["output"]] == TYPES
    files = {o["type"]: await download(api, staff, o) for o in manifest["output"]}

    patients = await _rest_items(api, staff, "/v1/patients")
    reports = [
        r
        for block in blocks
        for r in await _rest_items(api, staff, f"/v1/procedures/{block}/reports")
    ]
    alerts = await _rest_items(
        api, staff, "/v1/alerts", status=["open", "acknowledged", "resolved"]
    )
    assert {p["id"] for p in files["Patient"]} == {p["id"] for p in patients}
    assert len(files["Procedure"]) == len(blocks) == 3
    assert {q["id"] for q in files["QuestionnaireResponse"]} == {r["id"] for r in reports}
    assert len(files["Observation"]) == sum(_observations_of(r) for r in reports)
    assert {t["id"] for t in files["Task"]} == {a["id"] for a in alerts}
    assert {t["status"] for t in files["Task"]} >= {"accepted"}

    # Patient data on disk: a private directory and files.
    job_dir = Path(settings.export_dir) / uuid.UUID(status_path.rsplit("/", 1)[1]).hex
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in job_dir.iterdir())

    # The group is the clinic; `$` may come percent-encoded.
    group = await kick_off(api, staff, f"/Group/{clinic.clinic_id}/$export", _type="Patient")
    # One export at a time per clinic: the next waits for this one (other clinics do not).
    busy = await api.client.get(f"{BASE}/Patient/%24export", headers=_headers(clinic.admin))
    outcome(busy, 429, "throttled")
    assert int(busy.headers["retry-after"]) > 0
    await kick_off(api, api.world.b.admin, _type="Patient")
    await drain(worker)
    group_manifest = (await api.client.get(group, headers=staff.headers)).json()
    assert [(o["type"], o["count"]) for o in group_manifest["output"]] == [
        ("Patient", len(patients))
    ]
    encoded = await api.client.get(f"{BASE}/Patient/%24export", headers=_headers(staff))
    assert encoded.status_code == 202, encoded.text
    await drain(worker)


async def test_small_batches_give_the_same_files_and_report_progress(
    api: Api, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    await seed(api, clinic)
    staff = clinic.admin
    whole = await finished(api, worker, staff, await kick_off(api, staff))
    worker.exporter.batch = 1
    status_path = await kick_off(api, staff)
    for _ in range(3):  # Patient: 5 rows, one per pass
        await worker.run_once()
    progress = await api.client.get(status_path, headers=staff.headers)
    assert progress.status_code == 202 and progress.headers["x-progress"] == "Patient: 3 written"
    batched = await finished(api, worker, staff, status_path)
    for one, other in zip(whole["output"], batched["output"], strict=True):
        assert sorted(await download(api, staff, one), key=lambda r: r["id"]) == sorted(
            await download(api, staff, other), key=lambda r: r["id"]
        )


async def test_type_and_since_choose_what_is_exported(api: Api, worker: Worker) -> None:
    clinic = await api.new_clinic()  # two patients now
    staff = clinic.clinician
    await seed(api, clinic)
    api.clock.advance(timedelta(hours=1))
    since = api.clock.now().isoformat()
    api.clock.advance(timedelta(minutes=1))  # changed after _since, not at it
    later, block = await api.patient_with_procedure(clinic)
    assert (await api.post_report(later, block["id"], report_body())).status_code == 201

    only = await finished(api, worker, staff, await kick_off(api, staff, _type="Patient,Task"))
    assert [o["type"] for o in only["output"]] == ["Patient", "Task"]
    status_path = await kick_off(api, staff, _since=since, _type="Patient,QuestionnaireResponse")
    recent = await finished(api, worker, staff, status_path)
    assert [(o["type"], o["count"]) for o in recent["output"]] == [
        ("Patient", 1),
        ("QuestionnaireResponse", 1),
    ]
    assert (await download(api, staff, recent["output"][0]))[0]["id"] == str(later.id)

    refused = {
        "_type": {"_type": "Patient,Encounter"},
        "_since": {"_since": "yesterday"},
        "_since zone": {"_since": "2026-11-21T12:00:00"},
        "_outputFormat": {"_outputFormat": "text/csv"},
        "_typeFilter": {"_typeFilter": "Patient?name=x"},
    }
    for params in refused.values():
        response = await api.client.get(
            f"{BASE}/Patient/$export", params=params, headers=_headers(staff)
        )
        outcome(response, 400, "invalid")
    synchronous = await api.client.get(f"{BASE}/Patient/$export", headers=staff.headers)
    outcome(synchronous, 400, "invalid")


async def test_cancel_stops_the_export_and_removes_its_files(
    api: Api, worker: Worker, settings: Settings
) -> None:
    clinic = await api.new_clinic()
    await seed(api, clinic)
    staff = clinic.clinician
    worker.exporter.batch = 1
    status_path = await kick_off(api, staff)
    job_id = uuid.UUID(status_path.rsplit("/", 1)[1])
    await worker.run_once()
    job_dir = Path(settings.export_dir) / job_id.hex
    assert (job_dir / "Patient.ndjson").is_file()  # under way

    cancelled = await api.client.delete(status_path, headers=staff.headers)
    assert cancelled.status_code == 202, cancelled.text
    outcome(await api.client.get(status_path, headers=staff.headers), 404, "not-found")
    outcome(await api.client.delete(status_path, headers=staff.headers), 404, "not-found")
    await drain(worker)  # stops at its next batch
    assert not job_dir.exists()

    # A finished export is cancelled (deleted) the same way.
    done = await kick_off(api, staff, _type="Patient")
    manifest = await finished(api, worker, staff, done)
    assert (await api.client.delete(done, headers=staff.headers)).status_code == 202
    file_path = manifest["output"][0]["url"].removeprefix("http://aftercare.test")
    outcome(await api.client.get(file_path, headers=staff.headers), 404, "not-found")
    await drain(worker)
    assert not (Path(settings.export_dir) / done.rsplit("/", 1)[1].replace("-", "")).exists()


async def test_files_expire_after_a_day(api: Api, worker: Worker, settings: Settings) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    status_path = await kick_off(api, staff, _type="Patient")
    manifest = await finished(api, worker, staff, status_path)
    file_path = manifest["output"][0]["url"].removeprefix("http://aftercare.test")
    job_dir = Path(settings.export_dir) / status_path.rsplit("/", 1)[1].replace("-", "")
    api.clock.advance(timedelta(hours=23))
    assert (await api.client.get(file_path, headers=staff.headers)).status_code == 200
    api.clock.advance(timedelta(hours=1, seconds=1))
    outcome(await api.client.get(status_path, headers=staff.headers), 404, "not-found")
    outcome(await api.client.get(file_path, headers=staff.headers), 404, "not-found")
    assert job_dir.exists()
    await drain(worker)
    assert not job_dir.exists()


async def test_exports_are_the_clinics_own_and_for_staff_and_systems(
    api: Api, worker: Worker
) -> None:
    a, b = api.world.a, api.world.b
    status_path = await kick_off(api, a.clinician, _type="Patient")
    manifest = await finished(api, worker, a.clinician, status_path)
    file_path = manifest["output"][0]["url"].removeprefix("http://aftercare.test")

    group = await api.client.get(f"{BASE}/Group/{a.clinic_id}/$export", headers=_headers(b.admin))
    outcome(group, 404, "not-found")
    for path in (status_path, file_path):
        outcome(await api.client.get(path, headers=b.admin.headers), 404, "not-found")
    outcome(await api.client.delete(status_path, headers=b.admin.headers), 404, "not-found")
    unknown = f"{BASE}/$export-status/{uuid.uuid4()}"
    outcome(await api.client.get(unknown, headers=a.admin.headers), 404, "not-found")
    traversal = status_path.replace("$export-status", "$export-files") + "/..%2F..%2Fx.ndjson"
    outcome(await api.client.get(traversal, headers=a.admin.headers), 404, "not-found")

    patient = await api.client.get(f"{BASE}/Patient/$export", headers=_headers(a.patient))
    outcome(patient, 403, "forbidden")
    outcome(await api.client.get(file_path, headers=a.patient.headers), 403, "forbidden")
    nobody = await api.client.get(f"{BASE}/Patient/$export", headers=ASYNC)
    outcome(nobody, 401, "login")

    system, _ = await client_actor(api, a.admin, ["system/*.read"])
    reader, _ = await client_actor(api, a.admin, ["system/Patient.read"])
    refused = await api.client.get(f"{BASE}/Patient/$export", headers=_headers(reader))
    outcome(refused, 403, "forbidden")
    outcome(await api.client.get(file_path, headers=reader.headers), 403, "forbidden")
    client_status = await kick_off(api, system, _type="Patient")
    client_manifest = await finished(api, worker, system, client_status)
    client_file = client_manifest["output"][0]
    assert await download(api, system, client_file)
    # A client sees only the jobs it started (Bulk Data IG): not staff's, not another
    # client's; the clinic's staff see every job of the clinic.
    other_system, _ = await client_actor(api, a.admin, ["system/*.read"])
    for path in (status_path, file_path):
        outcome(await api.client.get(path, headers=system.headers), 404, "not-found")
    outcome(await api.client.delete(status_path, headers=system.headers), 404, "not-found")
    client_file_path = client_file["url"].removeprefix("http://aftercare.test")
    for path in (client_status, client_file_path):
        outcome(await api.client.get(path, headers=other_system.headers), 404, "not-found")
        assert (await api.client.get(path, headers=a.admin.headers)).status_code == 200
    outcome(await api.client.delete(client_status, headers=other_system.headers), 404, "not-found")
    assert (await api.client.delete(client_status, headers=a.admin.headers)).status_code == 202


async def test_a_job_queued_or_running_past_the_retention_is_still_exported(
    api: Api, worker: Worker, settings: Settings
) -> None:
    """Only a finished job expires: one waiting or being written is never swept under its
    worker, however long it takes."""
    clinic = await api.new_clinic()
    await seed(api, clinic)
    staff = clinic.clinician
    queued = await kick_off(api, staff, _type="Patient")
    api.clock.advance(timedelta(hours=25))  # the worker was down a day
    manifest = await finished(api, worker, staff, queued)
    assert await download(api, staff, manifest["output"][0])

    worker.exporter.batch = 1
    running = await kick_off(api, staff, _type="Patient")
    await worker.run_once()  # under way
    api.clock.advance(timedelta(hours=25))
    manifest = await finished(api, worker, staff, running)
    assert len(await download(api, staff, manifest["output"][0])) == 5
    # It is kept the retention from when it completed, then swept.
    job_dir = Path(settings.export_dir) / uuid.UUID(running.rsplit("/", 1)[1]).hex
    api.clock.advance(timedelta(hours=24, seconds=1))
    await drain(worker)
    assert not job_dir.exists()


async def test_rows_changed_after_the_transaction_time_wait_for_the_next_export(
    api: Api, worker: Worker
) -> None:
    clinic = await api.new_clinic()  # two patients
    staff = clinic.clinician
    status_path = await kick_off(api, staff, _type="Patient,Procedure")
    api.clock.advance(timedelta(minutes=1))
    later, _ = await api.patient_with_procedure(clinic)  # after the kick-off
    manifest = await finished(api, worker, staff, status_path)
    patients = await download(api, staff, manifest["output"][0])
    assert later.id not in {uuid.UUID(p["id"]) for p in patients} and len(patients) == 2
    assert [o["type"] for o in manifest["output"]] == ["Patient"]  # no block before it
    following = await kick_off(api, staff, _since=manifest["transactionTime"])
    recent = await finished(api, worker, staff, following)
    assert [(o["type"], o["count"]) for o in recent["output"]] == [
        ("Patient", 1),
        ("Procedure", 1),
    ]


async def test_a_job_removed_while_written_loses_its_files_and_a_failed_one_expires(
    api: Api, worker: Worker, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    worker.exporter.batch = 1
    status_path = await kick_off(api, staff, _type="Patient")
    job_id = uuid.UUID(status_path.rsplit("/", 1)[1])
    record = worker.exporter._record

    async def removed_meanwhile(job: uuid.UUID, values: dict[str, Any]) -> bool:
        async with api.db.write() as session:
            await session.execute(delete(FhirExportJob).where(FhirExportJob.id == job))
        return await record(job, values)

    monkeypatch.setattr(worker.exporter, "_record", removed_meanwhile)
    await worker.run_once()  # writes a batch, then finds its row gone
    monkeypatch.undo()
    assert not (Path(settings.export_dir) / job_id.hex).exists()

    def broken(*_: object) -> list[dict[str, Any]]:
        raise RuntimeError("simulated defect")

    monkeypatch.setitem(
        EXPORT_TYPES, "Patient", dataclasses.replace(EXPORT_TYPES["Patient"], resources=broken)
    )
    failed = await kick_off(api, staff, _type="Patient")
    await drain(worker)
    outcome(await api.client.get(failed, headers=staff.headers), 500, "exception")
    assert not (Path(settings.export_dir) / failed.rsplit("/", 1)[1].replace("-", "")).exists()
    api.clock.advance(timedelta(hours=24, seconds=1))  # kept the retention, then swept
    await drain(worker)
    outcome(await api.client.get(failed, headers=staff.headers), 404, "not-found")
