"""What the current request will be audited as. The audit middleware (app/audit/middleware.py)
opens one record per API request; authentication names the actor, and whatever confirms a
caller may see a patient's data notes that patient, so the event lists exactly the patients
whose records the request disclosed or changed. Outside a request (the worker, the CLI) there
is no record and these calls do nothing."""

import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.security import Principal

ActorType = Literal["staff", "patient_device", "integration_client", "anonymous", "operator"]


@dataclass
class AuditRecord:
    scope: MutableMapping[str, Any]  # the ASGI scope: routing fills in the route it matched
    request_id: str
    method: str
    client_address: str | None
    user_agent: str | None
    actor_type: ActorType = "anonymous"
    actor_id: uuid.UUID | None = None
    role: str | None = None
    clinic_id: uuid.UUID | None = None
    patient_ids: list[uuid.UUID] = field(default_factory=list)
    resource_id: str | None = None
    # Set once the event is in a transaction that committed; the middleware then adds nothing.
    written: bool = False


_current: ContextVar[AuditRecord | None] = ContextVar("aftercare_audit", default=None)


def current_record() -> AuditRecord | None:
    return _current.get()


def begin_record(record: AuditRecord) -> None:
    _current.set(record)


def note_actor(principal: Principal) -> None:
    record = _current.get()
    if record is not None:
        record.actor_type = principal.actor_type
        # A patient acts through one enrolled device: the device is the actor. A staff user
        # or an integration client is its own actor.
        acts_itself = principal.is_staff or principal.is_client
        record.actor_id = principal.subject_id if acts_itself else principal.session_id
        record.role = principal.role
        record.clinic_id = principal.clinic_id


def note_patients(*patient_ids: uuid.UUID) -> None:
    record = _current.get()
    if record is not None:
        for patient_id in patient_ids:
            if patient_id not in record.patient_ids:
                record.patient_ids.append(patient_id)


def forget_patient(patient_id: uuid.UUID) -> None:
    """A patient noted in a change that did not happen (a create that lost a race)."""
    record = _current.get()
    if record is not None and patient_id in record.patient_ids:
        record.patient_ids.remove(patient_id)


def note_resource(resource_id: uuid.UUID | str) -> None:
    """The record a request created (its id is not in the path)."""
    record = _current.get()
    if record is not None:
        record.resource_id = str(resource_id)
