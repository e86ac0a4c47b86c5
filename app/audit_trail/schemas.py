import uuid
from datetime import datetime

from pydantic import Field

from app.core.audit import ActorType
from app.core.types import ResponseModel


class AuditEventOut(ResponseModel):
    """One request as the audit trail recorded it: ids, the route template and the outcome,
    never names, query strings or bodies."""

    id: uuid.UUID
    at: datetime
    actor_type: ActorType
    actor_id: uuid.UUID | None = Field(
        description="The staff user, the integration client, or for a patient the enrolled "
        "device the request came from."
    )
    role: str | None = Field(description="The actor's role when the request was made.")
    action: str = Field(examples=["timeline.read"])
    resource_type: str | None = Field(examples=["patient"])
    resource_id: str | None
    method: str | None = Field(examples=["GET"])
    route: str | None = Field(
        description="The route template, never the raw path.",
        examples=["/v1/patients/{patient_id}/timeline"],
    )
    status: int = Field(description="The HTTP status the request was answered with.")
    request_id: str | None = Field(description="The X-Request-ID the response carried.")
    client_address: str | None
    user_agent: str | None
    patient_ids: list[uuid.UUID] = Field(
        description="The patients whose records the request disclosed or changed."
    )


class AccessLogActor(ResponseModel):
    type: ActorType
    id: uuid.UUID | None = Field(
        description="The staff user, or the patient's enrolled device; null when not signed in."
    )
    name: str = Field(
        description="The staff user's current name, or a label such as \"The patient's app\".",
        examples=["Dr A. Rivera", "The patient's app (Jordan's iPhone)"],
    )
    role: str | None = Field(description="The role the actor acted in.", examples=["clinician"])


class AccessLogEntry(ResponseModel):
    at: datetime
    action: str = Field(examples=["timeline.read"])
    actor: AccessLogActor
    status: int = Field(description="The HTTP status the request was answered with.")
    description: str = Field(
        description="The entry in plain words; a refused or failed request says so.",
        examples=["Dr A. Rivera (clinician) viewed the timeline"],
    )
