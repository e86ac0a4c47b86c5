"""The exact body of every webhook event, as pydantic models: the OpenAPI document's `webhooks`
section is generated from them (app/api/openapi.py), and tests/test_openapi_contract.py
validates real deliveries of every event type against them.

The bodies themselves are built as dicts by app/alerts/events.py, app/checkins/events.py and
app/webhooks/endpoint_health.py (endpoint disabled), then wrapped as `{id, type, created_at,
data}` by app/webhooks/delivery.py (event_body). These models only describe them: nothing at
runtime serialises through them, so documenting a payload can never change one.

`extra="forbid"` everywhere, so a field added to a builder and not here fails the test instead
of reaching integrators undocumented.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from app.alerts.schemas import AlertSeverity, AlertStatus
from app.outbox.schemas import EventType

_LINK = (
    "A path under this API (`/v1/...`); an absolute URL when the service is configured with a "
    "public base URL. Fetch it with your own credentials for the details."
)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertEventLinks(_Payload):
    alert: str = Field(description=_LINK)
    patient: str = Field(description=_LINK)
    procedure: str = Field(description=_LINK)


class AlertEventData(_Payload):
    """The alert as it stands after the change the event reports."""

    alert_id: uuid.UUID
    patient_id: uuid.UUID
    procedure_id: uuid.UUID
    report_id: uuid.UUID | None = Field(
        description="The report that first raised it; null when the clock raised it."
    )
    rule_id: str
    rule_version: int
    rule_set_version: int
    severity: AlertSeverity
    status: AlertStatus
    occurrences: int = Field(ge=1, description="How many times the rule has fired for it.")
    created_at: datetime
    last_triggered_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    escalated_at: datetime | None
    fhir_reference: str = Field(
        pattern=r"^Task/[0-9a-f-]{36}$",
        description="The alert as a FHIR R4 Task, relative to `/fhir/r4`.",
        examples=["Task/0b8f8f52-3c1e-4a55-9d0e-5d3f3b8e2a10"],
    )
    links: AlertEventLinks


class CheckinEventLinks(_Payload):
    patient: str = Field(description=_LINK)
    procedure: str = Field(description=_LINK)


class CheckinMissedData(_Payload):
    """A check-in window that closed without a report."""

    checkin_id: uuid.UUID
    patient_id: uuid.UUID
    procedure_id: uuid.UUID
    due_at: datetime
    closes_at: datetime
    status: Literal["missed"]  # the window's status, which this event is about
    fhir_reference: str = Field(
        pattern=r"^Procedure/[0-9a-f-]{36}$",
        description="The block as a FHIR R4 Procedure, relative to `/fhir/r4` (a check-in has "
        "no FHIR resource of its own).",
        examples=["Procedure/5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
    )
    links: CheckinEventLinks


class EndpointLinks(_Payload):
    webhook: str = Field(description=_LINK)


class EndpointDisabledData(_Payload):
    """Another of the clinic's endpoints was disabled (never sent to that endpoint itself)."""

    webhook_id: uuid.UUID = Field(description="The endpoint that was disabled.")
    disabled_reason: str = Field(
        description="Why, in the service's words (`410 Gone`, or how long every attempt "
        "failed). Never the endpoint's URL."
    )
    disabled_at: datetime
    failing_since: datetime | None
    links: EndpointLinks


class _Event(_Payload):
    id: uuid.UUID = Field(description="The event id; also the `webhook-id` header.")
    created_at: datetime = Field(description="When the change happened (UTC).")


class AlertCreatedEvent(_Event):
    """A rule raised a new alert."""

    type: Literal["alert.created"]
    data: AlertEventData


class AlertSeverityRaisedEvent(_Event):
    """An active alert fired again at a higher severity (the same severity is not news)."""

    type: Literal["alert.severity_raised"]
    data: AlertEventData


class AlertEscalatedEvent(_Event):
    """An emergency or urgent alert was not acknowledged within the clinic's delay."""

    type: Literal["alert.escalated"]
    data: AlertEventData


class AlertAcknowledgedEvent(_Event):
    """Staff or an integration client (with `alerts:write`) acknowledged the alert."""

    type: Literal["alert.acknowledged"]
    data: AlertEventData


class AlertResolvedEvent(_Event):
    """Staff or an integration client (with `alerts:write`) resolved the alert."""

    type: Literal["alert.resolved"]
    data: AlertEventData


class CheckinMissedEvent(_Event):
    """A check-in window closed without a report."""

    type: Literal["checkin.missed"]
    data: CheckinMissedData


class EndpointDisabledEvent(_Event):
    """One of the clinic's webhook endpoints was disabled."""

    type: Literal["webhook_endpoint.disabled"]
    data: EndpointDisabledData


EVENT_MODELS: dict[EventType, type[_Event]] = {
    "alert.created": AlertCreatedEvent,
    "alert.severity_raised": AlertSeverityRaisedEvent,
    "alert.escalated": AlertEscalatedEvent,
    "alert.acknowledged": AlertAcknowledgedEvent,
    "alert.resolved": AlertResolvedEvent,
    "checkin.missed": CheckinMissedEvent,
    "webhook_endpoint.disabled": EndpointDisabledEvent,
}


# The rest of the event's contract: how it is signed and what the receiver's answer means
# (app/webhooks/sender.py, signing.py and delivery.py), as OpenAPI parameters and responses.
_SIGNATURE_HEADERS: list[dict[str, Any]] = [
    {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The event id (the body's `id`): the same on every attempt and for "
        "every endpoint. Deliveries are at least once, so process each id once.",
        "schema": {"type": "string", "format": "uuid"},
    },
    {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "When this attempt was signed, in whole seconds since the Unix epoch "
        "(the real time of sending, not the event's). Refuse one far from your own clock "
        "(Standard Webhooks suggests 5 minutes) so a captured request cannot be replayed.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "Standard Webhooks: `v1,` and the base64 HMAC-SHA256 of "
        '`"{webhook-id}.{webhook-timestamp}.{body}"` over the exact bytes received, keyed by '
        "the base64-decoded endpoint secret after its `whsec_` prefix (shown once, when the "
        "endpoint was registered). Compare in constant time; the `standardwebhooks` libraries "
        "do all of this.",
        "schema": {"type": "string", "pattern": "^v1,[A-Za-z0-9+/]{43}=$"},
    },
]
_ANSWERS: dict[str, Any] = {
    "2XX": {"description": "Received. Any 2xx acknowledges the delivery; the body is ignored."},
    "410": {
        "description": "Gone: the delivery fails at once and the endpoint is disabled until an "
        "admin enables it again; the clinic's other endpoints get `webhook_endpoint.disabled`."
    },
    "default": {
        "description": "Anything else (another status, a redirect, which is never followed, or "
        "no answer within the timeout) is retried with exponential backoff: 10 s, tripling up "
        "to 4 h between attempts, each +-25 %, until 24 hours after the event. An endpoint "
        "whose every attempt has failed for 72 hours is disabled. (The timeout, 10 s, and "
        "both periods are defaults a deployment may change.)"
    },
}


def openapi_webhooks(ref_template: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The OpenAPI `webhooks` section, one POST per event type, and the component schemas its
    bodies refer to (by `ref_template`, e.g. "#/components/schemas/{model}")."""
    _, top = models_json_schema(
        [(model, "serialization") for model in EVENT_MODELS.values()], ref_template=ref_template
    )
    webhooks: dict[str, Any] = {
        event_type: {
            "post": {
                "operationId": "on_" + event_type.replace(".", "_"),
                "summary": (model.__doc__ or event_type).strip(),
                "description": "Sent to every enabled endpoint of the clinic that subscribes "
                "to `" + event_type + "`, signed with the endpoint's secret.",
                "tags": ["webhooks"],
                # The receiver authenticates us by the signature header, not by a scheme.
                "security": [],
                "parameters": _SIGNATURE_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": ref_template.format(model=model.__name__)}
                        }
                    },
                },
                "responses": _ANSWERS,
            }
        }
        for event_type, model in EVENT_MODELS.items()
    }
    return webhooks, dict(top["$defs"])
