"""The audit walk: every operation of openapi/openapi.json, sent as admin, clinician and
patient, must leave exactly the audit events expected (read straight from the database by
request id): how many, the action, the status answered, the actor, the clinic, the record and
the patients whose data the request disclosed or changed. Refusals (401, 403, 404) name no
patient; lists name exactly the patients they returned. Also: failed sign-ins, missing,
garbage and ended tokens, other clinics' and other patients' ids, report batches.

Each test builds its own scene in fresh clinics, so the walk's changes (a password, a
deactivated user, revoked phones) touch nothing another test uses.
"""

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import select

from app.audit.actions import ACTIONS
from app.audit.models import AuditEvent, AuditEventPatient
from app.core.config import PROJECT_ROOT, Settings
from app.main import create_app
from app.staff.models import StaffUser
from app.webhooks.delivery import fan_out
from tests.helpers import (
    WORLD_PASSWORD,
    Actor,
    Api,
    ClinicActors,
    loopback_webhook_settings,
    mint,
    procedure_body,
    report_body,
)

pytestmark = pytest.mark.anyio

COMMITTED = PROJECT_ROOT / "openapi" / "openapi.json"
# Probes and the OAuth metadata, not under /v1: no event.
UNAUDITED = {"/healthz", "/readyz", "/.well-known/oauth-authorization-server"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}
PUBLIC = {"login_staff", "enroll_patient_app", "refresh_patient_tokens"}  # no token needed
HOOK_URL = "http://127.0.0.1:9/aftercare-audit-walk"  # never called: no worker runs here
ROLES = ("admin", "clinician", "patient")

# Who may call what (the routers' dependencies); anyone else gets 403.
ADMIN_ONLY = {
    "create_staff_user",
    "list_staff",
    "update_staff_user",
    "end_staff_sessions",
    "update_clinic",
    "create_webhook",
    "list_webhooks",
    "get_webhook",
    "update_webhook",
    "list_webhook_deliveries",
    "retry_webhook_delivery",
    "list_audit_events",
    "dry_run_rules",
    "create_integration_client",
    "list_integration_clients",
    "get_integration_client",
    "update_integration_client",
    "revoke_integration_client",
}
STAFF_ONLY = {
    "logout",
    "list_my_sessions",
    "change_password",
    "list_patient_devices",
    "revoke_patient_device",
    "get_clinic",
    "create_patient",
    "list_patients",
    "update_patient",
    "create_enrollment_code",
    "create_procedure",
    "list_alerts",
    "get_alert",
    "acknowledge_alert",
    "resolve_alert",
    "list_rules",
    "get_patient_timeline",
    "get_procedure_summary",
    "get_patient_outcomes",
    "get_procedure_chart",
    "get_patient_outcomes_chart",
    "get_patient_access_log",
}
PATIENT_ONLY = {"list_my_devices", "revoke_my_device", "get_my_access_log"}
# A success of these discloses or changes the scene patient's record (for staff and patient).
PATIENT_SCOPED = {
    "get_patient",
    "update_patient",
    "create_enrollment_code",
    "list_patient_devices",
    "revoke_patient_device",
    "list_my_devices",
    "revoke_my_device",
    "create_procedure",
    "list_procedures",
    "get_procedure",
    "get_procedure_summary",
    "get_procedure_chart",
    "list_reports",
    "submit_report",
    "submit_report_batch",
    "get_patient_timeline",
    "get_patient_outcomes",
    "get_patient_outcomes_chart",
    "get_alert",
    "acknowledge_alert",
    "resolve_alert",
    "get_patient_access_log",
    "get_my_access_log",
}

# The walk's order: reads first, then changes, then what ends sessions or phones (on
# throwaway sessions, users and phones). Alerts are acknowledged before they are resolved, and
# the delivery retried before its endpoint is disabled.
WALK = [
    "login_staff",
    "get_me",
    "get_clinic",
    "list_rules",
    "list_my_sessions",
    "list_staff",
    "list_patients",
    "get_patient",
    "list_procedures",
    "get_procedure",
    "list_reports",
    "get_patient_timeline",
    "get_procedure_summary",
    "get_procedure_chart",
    "get_patient_outcomes",
    "get_patient_outcomes_chart",
    "list_alerts",
    "get_alert",
    "list_patient_devices",
    "list_my_devices",
    "get_patient_access_log",
    "get_my_access_log",
    "list_audit_events",
    "list_webhooks",
    "get_webhook",
    "list_webhook_deliveries",
    "list_integration_clients",
    "get_integration_client",
    "create_integration_client",
    "update_integration_client",
    "dry_run_rules",
    "create_patient",
    "update_patient",
    "create_enrollment_code",
    "create_procedure",
    "submit_report",
    "submit_report_batch",
    "acknowledge_alert",
    "resolve_alert",
    "update_clinic",
    "create_staff_user",
    "retry_webhook_delivery",
    "create_webhook",
    "update_webhook",
    "enroll_patient_app",
    "refresh_patient_tokens",
    "revoke_patient_device",
    "revoke_my_device",
    "revoke_integration_client",
    "end_staff_sessions",
    "update_staff_user",
    "change_password",
    "logout",
]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return loopback_webhook_settings(database_url)  # the scene's endpoint is on loopback


# The operations.


def operations(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """operationId -> (METHOD, path template)."""
    found: dict[str, tuple[str, str]] = {}
    for path, items in spec["paths"].items():
        for method, operation in items.items():
            if method in HTTP_METHODS:
                found[operation["operationId"]] = (method.upper(), path)
    return found


def committed_operations() -> dict[str, tuple[str, str]]:
    return operations(json.loads(COMMITTED.read_text(encoding="utf-8")))


def audited(ops: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    return {op: (method, path) for op, (method, path) in ops.items() if path not in UNAUDITED}


def walk_operations() -> list[tuple[str, str, str]]:
    """The committed operations in the walk's order, as (operationId, METHOD, path)."""
    ops = audited(committed_operations())
    assert set(WALK) == set(ops), (
        f"the walk and openapi/openapi.json differ: not walked {sorted(set(ops) - set(WALK))}, "
        f"not in the schema {sorted(set(WALK) - set(ops))}"
    )
    return [(op, *ops[op]) for op in WALK]


def operation_table() -> dict[str, tuple[str, str]]:
    """The committed operations (as far as the walk knows them), in the walk's order."""
    ops = audited(committed_operations())
    return {op: ops[op] for op in WALK if op in ops}


@pytest.mark.unit
def test_the_committed_schema_has_the_apps_operations() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    ours, committed = operations(app.openapi()), committed_operations()
    assert committed == ours, (
        "openapi/openapi.json is stale (regenerate it): only in the app "
        f"{sorted(set(ours) - set(committed))}, only in the file "
        f"{sorted(set(committed) - set(ours))}"
    )


@pytest.mark.unit
def test_every_operation_is_walked_and_has_an_action() -> None:
    ops = committed_operations()
    assert {path for _, path in ops.values() if not path.startswith("/v1/")} == UNAUDITED
    assert len(WALK) == len(set(WALK))
    missing = sorted(op for op in audited(ops) if op not in ACTIONS)
    assert not missing, f"operations without an entry in app/audit/actions.py ACTIONS: {missing}"
    walk_operations()


# Actors and expected events.


def token_sid(token: str) -> uuid.UUID:
    """The session (staff) or device (patient) a token names."""
    return uuid.UUID(jwt.decode(token, options={"verify_signature": False})["sid"])


@dataclass(frozen=True)
class Who:
    """Whose token a request carries (none for `actor=None`) and how its event names them."""

    actor: Actor | None
    actor_type: str
    actor_id: uuid.UUID | None
    role: str | None
    clinic_id: uuid.UUID | None

    @property
    def headers(self) -> dict[str, str]:
        return self.actor.headers if self.actor else {}


ANONYMOUS = Who(None, "anonymous", None, None, None)


def staff(actor: Actor) -> Who:
    return Who(actor, "staff", actor.id, actor.role, actor.clinic_id)


def device(actor: Actor) -> Who:
    """A patient acts through a phone: the device is the actor."""
    return Who(actor, "patient_device", token_sid(actor.token), "patient", actor.clinic_id)


def with_token(who: Who, token: str) -> Who:
    return replace(who, actor=replace(who.actor, token=token) if who.actor else None)


Patients = frozenset[uuid.UUID] | Callable[[httpx.Response], frozenset[uuid.UUID]]
Text = str | None | Callable[[httpx.Response], str | None]
NO_PATIENTS: frozenset[uuid.UUID] = frozenset()
FROM_PATH = "from the path"  # the event names the innermost id of the path


@dataclass
class Plan:
    """One request and the event it must leave."""

    who: Who  # the sender, and (unless `actor`) the actor the event names
    status: int
    patients: Patients = NO_PATIENTS
    resource_id: Text = FROM_PATH
    path: dict[str, str] = field(default_factory=dict)  # path parameters over the scene's
    json: Any = None
    data: dict[str, str] | None = None
    actor: Who | Callable[[httpx.Response], Who] | None = None
    # A report batch: one event per report stored, (status, report id) each.
    events: Callable[[httpx.Response], list[tuple[int, str]]] | None = None
    headers: dict[str, str] | None = None  # instead of the sender's


def resolve(value: Any, response: httpx.Response) -> Any:
    return value(response) if callable(value) else value


def response_ids(*keys: str) -> Callable[[httpx.Response], frozenset[uuid.UUID]]:
    """The patients a list returned: `keys` leads from each item to its patient id."""

    def ids(response: httpx.Response) -> frozenset[uuid.UUID]:
        found = set()
        for item in response.json()["items"]:
            for key in keys:
                item = item[key]
            found.add(uuid.UUID(item))
        assert found, f"{response.request.url.path} listed no patient: the scene should have one"
        return frozenset(found)

    return ids


def created_id(response: httpx.Response) -> str | None:
    return str(response.json()["id"]) if response.is_success else None


Row = tuple[Any, ...]


FIELDS = (
    "action",
    "resource_type",
    "status",
    "actor_type",
    "actor_id",
    "role",
    "clinic_id",
    "patient_ids",
    "resource_id",
    "method",
    "route",
)


def path_names(route: str) -> list[str]:
    return [part[1:-1] for part in route.split("/") if part.startswith("{")]


def expected_rows(
    op: str, route: str, path_params: dict[str, str], plan: Plan, response: httpx.Response
) -> list[Row]:
    action = ACTIONS[op]
    who = resolve(plan.actor, response) if plan.actor else plan.who
    if plan.resource_id == FROM_PATH:
        names = path_names(route)
        resource = path_params[names[-1]] if names else None
    else:
        resource = resolve(plan.resource_id, response)
    common = {
        "action": action.name,
        "resource_type": action.resource_type,
        "actor_type": who.actor_type,
        "actor_id": who.actor_id,
        "role": who.role,
        "clinic_id": who.clinic_id,
        "patient_ids": resolve(plan.patients, response),
        "method": response.request.method,
        "route": route,
    }
    outcomes = plan.events(response) if plan.events else [(plan.status, resource)]
    return [
        tuple({**common, "status": status, "resource_id": resource_id}[f] for f in FIELDS)
        for status, resource_id in outcomes
    ]


async def stored_rows(api: Api, request_id: str) -> list[Row]:
    """The events of one request, as `FIELDS`."""
    async with api.db.read() as session:
        events = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id))
        )
        links = await session.execute(
            select(AuditEventPatient.event_id, AuditEventPatient.patient_id).where(
                AuditEventPatient.event_id.in_([e.id for e in events])
            )
        )
        patients: dict[uuid.UUID, set[uuid.UUID]] = {e.id: set() for e in events}
        for event_id, patient_id in links:
            patients[event_id].add(patient_id)
    return [
        tuple(frozenset(patients[e.id]) if f == "patient_ids" else getattr(e, f) for f in FIELDS)
        for e in events
    ]


def _describe(row: Row) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in zip(FIELDS, row, strict=True))


def _sort_key(row: Row) -> str:
    return repr(row)


class Walker:
    """Sends planned requests and collects every way their events differ from the plan."""

    def __init__(self, api: Api, params: dict[str, str]) -> None:
        self.api = api
        self.params = params
        self.mismatches: list[str] = []

    async def check(
        self, label: str, op: str, method: str, route: str, plan: Plan
    ) -> httpx.Response:
        request_id = f"walk:{op}:{uuid.uuid4().hex[:16]}"
        path_params = {**self.params, **plan.path}
        url = route.format(**path_params)
        headers = {**(plan.who.headers if plan.headers is None else plan.headers)}
        headers["X-Request-ID"] = request_id
        response = await self.api.client.request(
            method, url, headers=headers, json=plan.json, data=plan.data
        )
        where = f"{label}: {op} ({method} {route})"
        if response.status_code != plan.status:
            self.mismatches.append(
                f"{where}: answered {response.status_code}, expected {plan.status}: "
                f"{response.text[:300]}"
            )
        if response.headers.get("x-request-id") != request_id:
            self.mismatches.append(
                f"{where}: x-request-id {response.headers.get('x-request-id')!r}"
            )
        got = sorted(await stored_rows(self.api, request_id), key=_sort_key)
        if response.status_code != plan.status:
            return response  # the events would differ too; the status says why
        want = sorted(expected_rows(op, route, path_params, plan, response), key=_sort_key)
        if got != want:
            self.mismatches.append(
                f"{where}:\n    expected {len(want)} event(s):\n"
                + "".join(f"      {_describe(row)}\n" for row in want)
                + f"    stored {len(got)}:\n"
                + "".join(f"      {_describe(row)}\n" for row in got)
            )
        return response

    def assert_clean(self) -> None:
        if self.mismatches:
            count = len(self.mismatches)
            pytest.fail(f"{count} audit mismatch(es):\n" + "\n".join(self.mismatches), False)


# The scene.


@dataclass
class Scene:
    clinic: ClinicActors
    spare: ClinicActors  # throwaway staff: their password changes
    who: dict[str, Who]
    params: dict[str, str]  # path parameters: the scene patient, its block, alert, ...
    hooks: list[str]  # webhook endpoints to disable at the end

    @property
    def patient_id(self) -> uuid.UUID:
        return self.clinic.patient.id

    @property
    def admin(self) -> Actor:
        return self.clinic.admin


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()) if response.content else {}


async def build_scene(api: Api) -> Scene:
    """A fresh clinic whose patient has a block, an open alert raised by their report, and a
    webhook endpoint with one delivery of that alert; a spare staff user; a spare clinic."""
    clinic, spare = await api.new_clinic(), await api.new_clinic()
    admin, patient = clinic.admin, clinic.patient
    procedure = await api.create_procedure(clinic.clinician, patient.id)
    hook = expect(
        await api.client.post("/v1/webhooks", json={"url": HOOK_URL}, headers=admin.headers), 201
    )
    emergency = report_body(side_effects=[{"kind": "breathing_difficulty", "severity": "mild"}])
    result = expect(await api.post_report(patient, procedure["id"], emergency), 201)
    await fan_out(api.app.state.services, api.clock.now())  # the alert becomes a delivery
    deliveries = expect(
        await api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=admin.headers), 200
    )
    (delivery,) = deliveries["items"]
    user_id = await spare_staff_user(api, clinic)
    client = expect(
        await api.client.post(
            "/v1/integrations/clients",
            json=body_for("create_integration_client"),
            headers=admin.headers,
        ),
        201,
    )
    return Scene(
        clinic=clinic,
        spare=spare,
        who={
            "admin": staff(admin),
            "clinician": staff(clinic.clinician),
            "patient": device(patient),
        },
        params={
            "patient_id": str(patient.id),
            "procedure_id": procedure["id"],
            "alert_id": result["alerts"][0]["id"],
            "webhook_id": hook["id"],
            "delivery_id": delivery["id"],
            "user_id": str(user_id),
            "device_id": str(token_sid(patient.token)),
            "client_id": client["client_id"],
        },
        hooks=[hook["id"]],
    )


async def close_scene(api: Api, scene: Scene) -> None:
    """No endpoint of the walk stays enabled: no later test's worker sends to it."""
    for hook_id in scene.hooks:
        response = await api.client.patch(
            f"/v1/webhooks/{hook_id}", json={"enabled": False}, headers=scene.admin.headers
        )
        assert response.status_code == 200, response.text


async def spare_staff_user(api: Api, clinic: ClinicActors) -> uuid.UUID:
    """A clinician for an admin to end the sessions of and deactivate (inserted directly:
    hashing a password through the API costs most of a second)."""
    user = StaffUser(
        id=uuid.uuid4(),
        clinic_id=clinic.clinic_id,
        email=staff_body()["email"],
        name="Spare Clinician",
        role="clinician",
        password_hash=api.world.password_hash,
        created_at=api.clock.now(),
    )
    async with api.db.write() as session:
        session.add(user)
    return user.id


def staff_body() -> dict[str, str]:
    return {
        "email": f"walk-{uuid.uuid4().hex[:12]}@clinic.example",
        "password": "walk-password-123",
        "name": "Spare Clinician",
        "role": "clinician",
    }


def body_for(op: str) -> Any:
    """A valid body for the operations that take one (refused requests carry it too)."""
    return {
        "change_password": {
            "current_password": WORLD_PASSWORD,
            "new_password": "walk-new-password-456",
        },
        "create_staff_user": staff_body(),
        "update_staff_user": {"active": False},
        "update_clinic": {"escalate_urgent_minutes": 45},
        "dry_run_rules": {"rule_set_version": 1},
        "create_patient": {
            "mrn": f"MRN-{uuid.uuid4().hex[:10]}",
            "display_name": "Walk Patient",
            "timezone": "Europe/Berlin",
            "temperature_unit": "C",
        },
        "update_patient": {"display_name": "Walk Renamed"},
        "create_procedure": procedure_body(),
        "submit_report": report_body(),
        "submit_report_batch": {
            "reports": [report_body(), report_body(recorded_at="2026-11-21T11:50:00Z")]
        },
        "acknowledge_alert": {"note": "Calling the patient."},
        "resolve_alert": {"note": "Advised; settled."},
        "create_webhook": {"url": HOOK_URL},
        "update_webhook": {"enabled": False},
        "create_integration_client": {"name": "Walk EHR", "scopes": ["patients:read"]},
        "update_integration_client": {"scopes": ["alerts:read"]},
        "enroll_patient_app": {"code": "AAAA-BBBB-CCCC"},
        "refresh_patient_tokens": {"refresh_token": "not-a-refresh-token"},
    }.get(op)


def refused(op: str, role: str) -> bool:
    if op in ADMIN_ONLY:
        return role != "admin"
    if op in STAFF_ONLY:
        return role == "patient"
    if op in PATIENT_ONLY:
        return role != "patient"
    return False


async def login(api: Api, email: str, password: str = WORLD_PASSWORD) -> str:
    response = await api.client.post(
        "/v1/auth/token", data={"username": email, "password": password}
    )
    return str((expect(response, 200))["access_token"])


async def enrolment(api: Api, scene: Scene) -> tuple[uuid.UUID, str]:
    """A fresh patient of the scene's clinic and a one-time code for their app."""
    patient = await api.create_patient(scene.clinic.clinician)
    code = await api.client.post(
        f"/v1/patients/{patient['id']}/enrollment-codes", headers=scene.clinic.clinician.headers
    )
    return uuid.UUID(patient["id"]), str((expect(code, 201))["code"])


async def extra_phone(api: Api, scene: Scene) -> str:
    """A token of another phone of the scene patient, to be signed out (the walk's own phone
    stays signed in)."""
    pid = scene.patient_id
    return await mint(api.db, "patient", pid, scene.clinic.clinic_id, api.clock.now(), pid)


def report_events(response: httpx.Response) -> list[tuple[int, str]]:
    return [(201, str(item["report"]["id"])) for item in response.json()["results"]]


def new_device(clinic_id: uuid.UUID) -> Callable[[httpx.Response], Who]:
    def who(response: httpx.Response) -> Who:
        sid = token_sid(response.json()["access_token"])
        return Who(None, "patient_device", sid, "patient", clinic_id)

    return who


async def plan(api: Api, scene: Scene, op: str, role: str) -> Plan:
    """The request `role` makes for `op` in the scene, and the event it must leave."""
    me = scene.who[role]
    body = body_for(op)
    clinic_id = scene.clinic.clinic_id
    if refused(op, role):
        return Plan(me, 403, json=body)
    patients = frozenset({scene.patient_id}) if op in PATIENT_SCOPED else NO_PATIENTS
    match op:
        case "login_staff":
            if role == "patient":  # patients have no password: an unknown email
                unknown = {"username": f"nobody-{uuid.uuid4().hex[:8]}@x.example", "password": "x"}
                return Plan(me, 400, data=unknown, actor=ANONYMOUS)  # OAuth invalid_grant
            assert me.actor and me.actor.email
            sign_in = {"username": me.actor.email, "password": WORLD_PASSWORD}
            return Plan(
                me,
                200,
                data=sign_in,
                resource_id=lambda r: str(token_sid(r.json()["access_token"])),
            )
        case "logout":  # a throwaway session of the same user: the session is the record
            assert me.actor and me.actor.email
            token = await login(api, me.actor.email)
            return Plan(with_token(me, token), 204, resource_id=str(token_sid(token)))
        case "change_password":  # the spare clinic's user: it ends their other sessions
            spare = staff(getattr(scene.spare, role))
            assert spare.actor
            return Plan(spare, 204, json=body, resource_id=str(spare.actor.id))
        case "enroll_patient_app":  # the token sent is not looked at: the new phone acts
            patient_id, code = await enrolment(api, scene)
            return Plan(
                me,
                200,
                json={"code": code},
                actor=new_device(clinic_id),
                patients=frozenset({patient_id}),
                resource_id=lambda r: str(token_sid(r.json()["access_token"])),
            )
        case "refresh_patient_tokens":
            patient_id, code = await enrolment(api, scene)
            tokens = expect(await api.client.post("/v1/auth/enroll", json={"code": code}), 200)
            phone = token_sid(tokens["access_token"])
            return Plan(
                me,
                200,
                json={"refresh_token": tokens["refresh_token"]},
                actor=Who(None, "patient_device", phone, "patient", clinic_id),
                patients=frozenset({patient_id}),
                resource_id=str(phone),
            )
        case "revoke_patient_device" | "revoke_my_device":
            return Plan(
                me, 204, patients, path={"device_id": str(token_sid(await extra_phone(api, scene)))}
            )
        case "get_me":
            return Plan(
                me, 200, frozenset({scene.patient_id}) if role == "patient" else NO_PATIENTS
            )
        case "list_patients":
            return Plan(me, 200, response_ids("id"))
        case "list_alerts":
            return Plan(me, 200, response_ids("patient_id"))
        case "create_patient":
            return Plan(
                me,
                201,
                lambda r: frozenset({uuid.UUID(r.json()["id"])}),
                json=body,
                resource_id=created_id,
            )
        case "create_integration_client":
            return Plan(
                me,
                201,
                json=body,
                resource_id=lambda r: r.json()["client_id"] if r.is_success else None,
            )
        case "revoke_integration_client":
            return Plan(me, 204)
        case "create_procedure" | "create_staff_user" | "create_webhook":
            return Plan(me, 201, patients, json=body, resource_id=created_id)
        case "submit_report":
            return Plan(
                me, 201, patients, json=body, resource_id=lambda r: r.json()["report"]["id"]
            )
        case "submit_report_batch":
            return Plan(me, 200, patients, json=body, events=report_events)
        case "create_enrollment_code":
            return Plan(me, 201, patients)
        case "retry_webhook_delivery":
            return Plan(me, 202, patients)
        case "end_staff_sessions":
            return Plan(me, 204, patients)
        case "dry_run_rules":  # the scene's one report is an emergency in both: no page
            return Plan(me, 200, json=body, resource_id="1")
    return Plan(me, 200, patients, json=body)


@pytest.mark.parametrize("role", ROLES)
async def test_walk_every_operation(api: Api, role: str) -> None:
    ops = walk_operations()
    scene = await build_scene(api)
    walker = Walker(api, scene.params)
    try:
        for op, method, route in ops:
            response = await walker.check(role, op, method, route, await plan(api, scene, op, role))
            if op == "create_webhook" and response.status_code == 201:
                scene.hooks.append(response.json()["id"])
    finally:
        await close_scene(api, scene)
    walker.assert_clean()


async def test_health_probes_write_no_event(api: Api) -> None:
    for path in sorted(UNAUDITED):
        request_id = f"walk:probe:{uuid.uuid4().hex[:16]}"
        response = await api.client.get(path, headers={"X-Request-ID": request_id})
        assert response.status_code in (200, 503), response.text
        assert await stored_rows(api, request_id) == [], path


async def test_request_ids(api: Api) -> None:
    """A usable X-Request-ID is kept; anything else is replaced by one of the app's own."""
    clinician = api.world.a.clinician
    for given in ("bad id!", "x" * 65, "a/b"):
        response = await api.client.get(
            "/v1/rules", headers={**clinician.headers, "X-Request-ID": given}
        )
        assert response.status_code == 200, response.text
        request_id = response.headers["x-request-id"]
        assert request_id != given and re.fullmatch(r"[0-9a-f]{32}", request_id)
        (row,) = await stored_rows(api, request_id)
        assert row[FIELDS.index("actor_id")] == clinician.id
        assert await stored_rows(api, given) == []


async def test_failed_sign_ins(api: Api) -> None:
    """A known email names its user (a wrong password, or a deactivated account); an unknown
    one is anonymous. None names a patient."""
    clinic = await api.new_clinic()
    table = operation_table()
    method, route = table["login_staff"]
    walker = Walker(api, {})
    deactivate = await api.client.patch(
        f"/v1/staff/{clinic.clinician.id}", json={"active": False}, headers=clinic.admin.headers
    )
    expect(deactivate, 200)
    assert clinic.admin.email and clinic.clinician.email
    attempts = [
        (
            "wrong password",
            {"username": clinic.admin.email, "password": "wrong-password-1"},
            staff(clinic.admin),
        ),
        (
            "deactivated user",
            {"username": clinic.clinician.email, "password": WORLD_PASSWORD},
            staff(clinic.clinician),
        ),
        (
            "unknown email",
            {
                "username": f"nobody-{uuid.uuid4().hex[:8]}@clinic.example",
                "password": WORLD_PASSWORD,
            },
            ANONYMOUS,
        ),
    ]
    for label, form, who in attempts:
        await walker.check(
            label, "login_staff", method, route, Plan(ANONYMOUS, 400, data=form, actor=who)
        )
    walker.assert_clean()


async def test_requests_without_a_valid_token_are_anonymous(api: Api) -> None:
    """No token, a garbage one, an ended session's or a revoked phone's: 401, anonymous, no
    patient. Every operation that needs a token is sent without one, and with one of the other
    kinds in turn; the public ones with a bad code or refresh token are anonymous too."""
    scene = await build_scene(api)
    ended = await login(api, scene.clinic.clinician.email or "")
    expect(
        await api.client.post("/v1/auth/logout", headers={"Authorization": f"Bearer {ended}"}),
        204,
    )
    revoked_token = await extra_phone(api, scene)
    revoke = await api.client.delete(
        f"/v1/patients/{scene.patient_id}/devices/{token_sid(revoked_token)}",
        headers=scene.clinic.clinician.headers,
    )
    expect(revoke, 204)
    walker = Walker(api, scene.params)
    tokens = {
        "no token": {},
        "garbage token": {"Authorization": "Bearer not-a-token"},
        "not a bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "ended session": {"Authorization": f"Bearer {ended}"},
        "revoked phone": {"Authorization": f"Bearer {revoked_token}"},
    }
    try:
        others = list(tokens)[1:]
        guarded = [(op, *where) for op, where in operation_table().items() if op not in PUBLIC]
        for index, (op, method, route) in enumerate(guarded):
            # No token on every operation; the other kinds in turn (each on several).
            for label in ("no token", others[index % len(others)]):
                plan = Plan(ANONYMOUS, 401, json=body_for(op), headers=tokens[label])
                await walker.check(label, op, method, route, plan)
        table = operation_table()
        public = [
            ("enroll_patient_app", 400, {"code": "AAAA-BBBB-CCCC"}),
            ("refresh_patient_tokens", 401, {"refresh_token": "not-a-refresh-token"}),
        ]
        for op, status, body in public:
            await walker.check("bad secret", op, *table[op], Plan(ANONYMOUS, status, json=body))
    finally:
        await close_scene(api, scene)
    walker.assert_clean()


async def test_other_clinics_and_other_patients_ids_are_404_naming_no_patient(api: Api) -> None:
    """Every operation with ids in its path, sent with the scene's ids by another clinic's
    admin and clinician and by another patient of the same clinic: 404 (403 where the role
    may not call it at all), the sender as actor, and no patient named."""
    scene = await build_scene(api)
    other = api.world.b
    senders = {
        "clinic B admin": staff(other.admin),
        "clinic B clinician": staff(other.clinician),
        "another patient": device(scene.clinic.other_patient),
    }
    walker = Walker(api, scene.params)
    try:
        for op, (method, route) in operation_table().items():
            if not path_names(route):
                continue
            for label, who in senders.items():
                assert who.role
                status = 403 if refused(op, who.role) else 404
                await walker.check(label, op, method, route, Plan(who, status, json=body_for(op)))
    finally:
        await close_scene(api, scene)
    walker.assert_clean()


async def test_report_batches_and_replays(api: Api) -> None:
    """A batch leaves one event per report stored or replayed (the report's own status), or
    one event if it stored none; a replayed report is audited as 200."""
    scene = await build_scene(api)
    table = operation_table()
    me = scene.who["patient"]
    patients = frozenset({scene.patient_id})
    walker = Walker(api, scene.params)
    first = report_body(recorded_at="2026-11-21T11:40:00Z")
    try:
        stored = await walker.check(
            "first",
            "submit_report",
            *table["submit_report"],
            Plan(me, 201, patients, json=first, resource_id=lambda r: r.json()["report"]["id"]),
        )
        report_id = stored.json()["report"]["id"]
        await walker.check(
            "replay",
            "submit_report",
            *table["submit_report"],
            Plan(me, 200, patients, json=first, resource_id=report_id),
        )

        def outcomes(response: httpx.Response) -> list[tuple[int, str]]:
            return [
                (201 if item["status"] == "created" else 200, str(item["report"]["id"]))
                for item in response.json()["results"]
                if item["status"] != "rejected"
            ]

        invalid = {"client_report_id": "broken", "pain_score": 99}
        mixed = {"reports": [first, report_body(), invalid]}
        await walker.check(
            "batch: new, replay, invalid",
            "submit_report_batch",
            *table["submit_report_batch"],
            Plan(me, 200, patients, json=mixed, events=outcomes),
        )
        await walker.check(
            "batch: nothing stored",
            "submit_report_batch",
            *table["submit_report_batch"],
            Plan(me, 200, patients, json={"reports": [invalid]}),
        )
    finally:
        await close_scene(api, scene)
    walker.assert_clean()


async def test_a_reused_refresh_token_is_audited_in_the_patients_clinic(api: Api) -> None:
    """A refresh token used twice revokes the phone (401). That security event names the
    patient and must belong to their clinic, or it shows in neither the clinic's audit trail
    nor the patient's access log (both are read by clinic)."""
    scene = await build_scene(api)
    table = operation_table()
    patient_id, code = await enrolment(api, scene)
    try:
        tokens = expect(await api.client.post("/v1/auth/enroll", json={"code": code}), 200)
        phone = token_sid(tokens["access_token"])
        again = {"refresh_token": tokens["refresh_token"]}
        expect(await api.client.post("/v1/auth/refresh", json=again), 200)
        request_id = f"walk:replay:{uuid.uuid4().hex[:16]}"
        response = await api.client.post(
            "/v1/auth/refresh", json=again, headers={"X-Request-ID": request_id}
        )
        assert response.status_code == 401, response.text
        (row,) = await stored_rows(api, request_id)
        event = dict(zip(FIELDS, row, strict=True))
        assert (event["action"], event["status"], event["route"]) == (
            "auth.refresh",
            401,
            table["refresh_patient_tokens"][1],
        )
        assert event["patient_ids"] == {patient_id}
        assert event["resource_id"] == str(phone)
        # Anonymous (no valid credential was shown), or the phone the token belonged to.
        assert (event["actor_type"], event["actor_id"]) in {
            ("anonymous", None),
            ("patient_device", phone),
        }
        assert event["clinic_id"] == scene.clinic.clinic_id, (
            "the reused-refresh-token event has no clinic: it is missing from the clinic's "
            "audit trail and from the patient's access log"
        )
    finally:
        await close_scene(api, scene)
