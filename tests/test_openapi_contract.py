"""The committed OpenAPI document says exactly what the service does: every error is
problem+json ProblemDetails, enums are named once, every operation states who may call it,
and the webhooks section matches real deliveries of every event type, byte for byte."""

import json
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from app.core.config import PROJECT_ROOT, Settings
from app.core.errors import PROBLEM_JSON
from app.core.scopes import scope_for
from app.outbox.schemas import EVENT_TYPES
from app.webhooks.payloads import EVENT_MODELS
from app.worker.loop import Worker
from tests.helpers import (
    Api,
    ClinicActors,
    drain,
    emergency_report,
    loopback_webhook_settings,
    report_body,
)
from tests.receiver import Receiver

SPEC: dict[str, Any] = json.loads(
    (PROJECT_ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8")
)
PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
# Errors in a format of their own, as their standards say.
OTHER_ERRORS = {
    ("/v1/auth/token", "post", "400"): "OAuthError",  # RFC 6749 section 5.2
    ("/v1/auth/token", "post", "401"): "OAuthError",
    ("/readyz", "get", "503"): "Readiness",  # the probe's own body, not a problem
}
PUBLIC = {
    "/healthz",
    "/readyz",
    "/v1/auth/token",
    "/v1/auth/enroll",
    "/v1/auth/refresh",
    "/.well-known/oauth-authorization-server",
}
# Inline enums left unnamed, each with why (path in the document -> reason).
INLINE_ENUMS: dict[str, str] = {}


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


@pytest.mark.unit
def test_every_error_is_problem_json_with_the_problem_details_schema() -> None:
    for path, method, operation in operations():
        for status, response in operation["responses"].items():
            if int(status[0]) < 4:
                continue
            other = OTHER_ERRORS.get((path, method, status))
            content = response.get("content", {})
            if other:  # its own schema, documented with an example of its own status
                declared = content.get("application/json", {})
                assert set(content) == {"application/json"}, f"{method} {path} {status}"
                assert declared["schema"] == {"$ref": f"#/components/schemas/{other}"}
                assert declared.get("example", {}).get("status", int(status)) == int(status)
                continue
            assert content == PROBLEM, f"{method} {path} {status}"
    schemas = SPEC["components"]["schemas"]
    errors = schemas["ProblemDetails"]["properties"]["errors"]["anyOf"][0]
    assert errors["items"] == {"$ref": "#/components/schemas/ValidationIssue"}
    assert set(schemas["ValidationIssue"]["required"]) == {"loc", "msg", "type"}
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas


@pytest.mark.unit
def test_servers_license_and_contact() -> None:
    assert SPEC["servers"] and all(server["url"] for server in SPEC["servers"])
    assert SPEC["info"]["license"]["name"]
    assert SPEC["info"]["contact"]


@pytest.mark.unit
def test_every_operation_states_who_may_call_it() -> None:
    schemes = SPEC["components"]["securitySchemes"]
    for path, method, operation in operations():
        security = operation["security"]
        where = f"{method} {path}"
        assert (security == []) == (path in PUBLIC), where
        assert all(set(requirement) <= set(schemes) for requirement in security), where
        scopes = [r["IntegrationClient"] for r in security if "IntegrationClient" in r]
        needed = scope_for(operation["operationId"])
        # A client's scope is listed exactly where clients may call, and only its own.
        assert scopes == ([[needed]] if needed else []), where
        assert all(r == {"StaffLogin": []} for r in security if "StaffLogin" in r), where


def _inline_enums(node: Any, at: str) -> Iterator[str]:
    if isinstance(node, list):
        for n, item in enumerate(node):
            yield from _inline_enums(item, f"{at}/{n}")
    elif isinstance(node, dict):
        values = node.get("enum")
        if node.get("type") == "string" and isinstance(values, list) and len(values) > 1:
            yield at
        for key, value in node.items():
            if key not in ("example", "examples"):
                yield from _inline_enums(value, f"{at}/{key}")


@pytest.mark.unit
def test_string_enums_are_named_components() -> None:
    found = set(_inline_enums(SPEC["paths"], "/paths"))
    found |= set(_inline_enums(SPEC["webhooks"], "/webhooks"))
    for name, schema in SPEC["components"]["schemas"].items():
        if "enum" in schema:
            continue  # a component that is itself an enum is the named one
        found |= set(_inline_enums(schema, f"/components/schemas/{name}"))
    assert found == set(INLINE_ENUMS), sorted(found - set(INLINE_ENUMS))


@pytest.mark.unit
def test_shared_enums_are_one_component_each() -> None:
    schemas = SPEC["components"]["schemas"]
    text = json.dumps(SPEC)
    for name in (
        "AlertSeverity",
        "AlertStatus",
        "Severity",
        "SideEffectKind",
        "GuidanceLevel",
        "Side",
        "SpinalLevel",
        "WebhookEventType",
    ):
        assert "enum" in schemas[name], name
        assert text.count(f'"#/components/schemas/{name}"') >= 2, name
    assert schemas["AlertOut"]["properties"]["severity"] == {
        "$ref": "#/components/schemas/AlertSeverity"
    }
    assert schemas["AlertEventData"]["properties"]["severity"] == {
        "$ref": "#/components/schemas/AlertSeverity"
    }


@pytest.mark.unit
def test_webhooks_document_every_event_type_and_its_signature() -> None:
    webhooks = SPEC["webhooks"]
    assert set(webhooks) == set(EVENT_TYPES)
    for event_type, item in webhooks.items():
        post = item["post"]
        body = post["requestBody"]["content"]["application/json"]["schema"]
        model = EVENT_MODELS[event_type].__name__
        assert body == {"$ref": f"#/components/schemas/{model}"}
        schema = SPEC["components"]["schemas"][model]
        assert schema["properties"]["type"]["const"] == event_type
        assert schema["additionalProperties"] is False
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header" and p["required"]}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
        assert {"2XX", "410", "default"} <= set(post["responses"])


# Real deliveries ---------------------------------------------------------------------------


@pytest.fixture
def settings(database_url: str) -> Settings:
    return loopback_webhook_settings(database_url)


async def _register(api: Api, clinic: ClinicActors, url: str) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/webhooks", json={"url": url}, headers=clinic.admin.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _raise_severity(api: Api, clinic: ClinicActors, alert_id: str) -> None:
    """No rule grades its severity today (tests/test_alerts.py says so), so the re-trigger at
    a higher severity goes through the service function a report's judging calls."""
    from app.alerts.service import plan_alerts
    from app.rules.facts import Finding

    alert = (await api.client.get(f"/v1/alerts/{alert_id}", headers=clinic.admin.headers)).json()
    finding = Finding(alert["rule_id"], alert["rule_version"], "emergency", "Again", ("again",))
    async with api.db.write() as session:
        await plan_alerts(
            session,
            clinic_id=clinic.clinic_id,
            patient_id=uuid.UUID(alert["patient_id"]),
            procedure_id=uuid.UUID(alert["procedure_id"]),
            report_id=None,
            findings=[finding],
            rule_set_version=alert["rule_set_version"],
            now=api.clock.now(),
        )


@pytest.mark.anyio
async def test_real_deliveries_of_every_event_type_match_the_documented_schemas(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await _register(api, clinic, receiver.url)
    gone = Receiver().start()
    gone.status = 410  # its endpoint is disabled: webhook_endpoint.disabled to the other one
    gone_hook = await _register(api, clinic, gone.url)
    try:
        emergency = (await emergency_report(api, clinic))["alerts"][0]["id"]
        await drain(worker)
        patient, procedure = await api.patient_with_procedure(clinic)
        rash = {"kind": "rash_or_itching", "severity": "mild"}
        report = await api.post_report(patient, procedure["id"], report_body(side_effects=[rash]))
        assert report.status_code == 201, report.text
        await _raise_severity(api, clinic, report.json()["alerts"][0]["id"])
        api.clock.advance(timedelta(minutes=15))  # the emergency alert escalates
        await drain(worker)
        for action, body in (("acknowledge", {}), ("resolve", {"note": "Called back"})):
            done = await api.client.post(
                f"/v1/alerts/{emergency}/{action}", json=body, headers=clinic.clinician.headers
            )
            assert done.status_code == 200, done.text
        api.clock.advance(timedelta(days=2))  # check-in windows close unanswered
        await drain(worker)
    finally:
        gone.stop()
        for endpoint in (hook, gone_hook):  # no later test's worker sends to these
            await api.client.patch(
                f"/v1/webhooks/{endpoint['id']}",
                json={"enabled": False},
                headers=clinic.admin.headers,
            )

    headers = {
        p["name"]: re.compile(p["schema"].get("pattern", ".+"))
        for p in SPEC["webhooks"]["alert.created"]["post"]["parameters"]
    }
    seen = set()
    for got in receiver.received:
        event = Webhook(hook["secret"]).verify(got.body, got.headers)
        model = EVENT_MODELS[event["type"]]
        # Strict: a string where a number is documented, a missing or an undocumented field
        # (extra="forbid") all fail here.
        model.model_validate_json(got.body, strict=True)
        for name, pattern in headers.items():
            assert pattern.fullmatch(got.headers[name]), (name, got.headers[name])
        assert uuid.UUID(got.headers["webhook-id"]) == uuid.UUID(event["id"])
        seen.add(event["type"])
    assert seen == set(EVENT_TYPES)
