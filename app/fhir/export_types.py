"""What a bulk export can hold: per FHIR resource type, the clinic's source rows (changed
since `_since`) and the mapper that turns one row into resources (Observation: several per
report). The worker streams each type's rows in id order through its mapper."""

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.fhir.observations import observations
from app.fhir.patients import mrn_system, patient_resource
from app.fhir.procedures import procedure_resource
from app.fhir.questionnaire import questionnaire_response
from app.fhir.tasks import actor_ids, task_resource
from app.integrations.models import IntegrationClient
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.staff.models import StaffUser

Resource = dict[str, Any]


@dataclass
class ExportContext:
    """What a mapper needs beyond its row: the clinic's MRN identifier system, and for a
    batch of alerts the names of the staff and clients who acted on them."""

    clinic_id: uuid.UUID
    configured_mrn_system: str | None
    names: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def mrn_system(self) -> str:
        return mrn_system(self.clinic_id, self.configured_mrn_system)


async def _no_lookup(_: AsyncSession, __: Sequence[Any], ___: ExportContext) -> None:
    return None


async def _actor_names(session: AsyncSession, rows: Sequence[Any], context: ExportContext) -> None:
    """The display names a batch of alerts' tasks need, in two queries for the batch."""
    wanted = set().union(*(actor_ids(row) for row in rows)) if rows else set()
    context.names = {}
    if not wanted:
        return
    staff = await session.execute(
        select(StaffUser.id, StaffUser.name).where(StaffUser.id.in_(wanted))
    )
    clients = await session.execute(
        select(IntegrationClient.id, IntegrationClient.name).where(IntegrationClient.id.in_(wanted))
    )
    context.names = {row_id: name for row_id, name in (*staff.all(), *clients.all())}


@dataclass(frozen=True)
class ExportType:
    name: str
    model: type[Patient] | type[Procedure] | type[Report] | type[Alert]
    # Rows changed after the instant: what `_since` keeps.
    changed_since: Callable[[datetime], ColumnElement[bool]]
    resources: Callable[[Any, ExportContext], Iterable[Resource]]
    # Run once per batch, in its read transaction, before the mapper: fills the context.
    lookup: Callable[[AsyncSession, Sequence[Any], ExportContext], Awaitable[None]] = _no_lookup

    def source_id(self) -> ColumnElement[uuid.UUID]:
        return self.model.id  # type: ignore[return-value]

    def source_clinic(self) -> ColumnElement[uuid.UUID]:
        return self.model.clinic_id  # type: ignore[return-value]


def _patient(row: Patient, context: ExportContext) -> Iterable[Resource]:
    return [patient_resource(row, context.mrn_system)]


def _procedure(row: Procedure, _: ExportContext) -> Iterable[Resource]:
    return [procedure_resource(row)]


def _questionnaire(row: Report, _: ExportContext) -> Iterable[Resource]:
    return [questionnaire_response(row, row.patient_id)]


def _observations(row: Report, _: ExportContext) -> Iterable[Resource]:
    return observations(row, row.patient_id)


def _task(row: Alert, context: ExportContext) -> Iterable[Resource]:
    return [task_resource(row, context.names)]


def _alert_changed(since: datetime) -> ColumnElement[bool]:
    # An alert changes when raised again, acknowledged, escalated or resolved.
    return or_(
        Alert.created_at > since,
        Alert.last_triggered_at > since,
        Alert.acknowledged_at > since,
        Alert.escalated_at > since,
        Alert.resolved_at > since,
    )


# In the order the worker writes them (the manifest lists them so).
EXPORT_TYPES: dict[str, ExportType] = {
    t.name: t
    for t in (
        ExportType("Patient", Patient, lambda s: Patient.updated_at > s, _patient),
        ExportType("Procedure", Procedure, lambda s: Procedure.created_at > s, _procedure),
        # Reports are never changed once stored: received_at is when the server got them.
        ExportType(
            "QuestionnaireResponse", Report, lambda s: Report.received_at > s, _questionnaire
        ),
        ExportType("Observation", Report, lambda s: Report.received_at > s, _observations),
        ExportType("Task", Alert, _alert_changed, _task, _actor_names),
    )
}
