"""What a bulk export can hold: per FHIR resource type, the clinic's source rows (changed
since `_since`, and not after the job's transactionTime) and the mapper that turns one row into resources (Observation: several per
report). The worker streams each type's rows in id order through its mapper."""

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.fhir.observations import observations
from app.fhir.patients import mrn_system, patient_resource
from app.fhir.procedures import procedure_resource
from app.fhir.questionnaire import questionnaire_response
from app.fhir.tasks import actor_names, task_resource
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report

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
    """The display names a batch of alerts' tasks need (the clinic's own staff and clients
    only, as the Task routes read them), in two queries for the batch."""
    context.names = await actor_names(session, context.clinic_id, rows)


@dataclass(frozen=True)
class ExportType:
    name: str
    model: type[Patient] | type[Procedure] | type[Report] | type[Alert]
    # The columns a change of a row sets (a null one: that change has not happened).
    changes: tuple[Any, ...]
    resources: Callable[[Any, ExportContext], Iterable[Resource]]
    # Run once per batch, in its read transaction, before the mapper: fills the context.
    lookup: Callable[[AsyncSession, Sequence[Any], ExportContext], Awaitable[None]] = _no_lookup

    def changed_since(self, since: datetime) -> ColumnElement[bool]:
        """Rows changed after the instant: what `_since` keeps."""
        return or_(*(column > since for column in self.changes))

    def unchanged_after(self, moment: datetime) -> ColumnElement[bool]:
        """Rows not changed after the instant (the job's transactionTime): a row changed since
        kick-off is left for the next export with `_since`, as the manifest says."""
        return and_(*(or_(column.is_(None), column <= moment) for column in self.changes))

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


_ALERT_CHANGES = (
    Alert.created_at,
    Alert.last_triggered_at,
    Alert.acknowledged_at,
    Alert.escalated_at,
    Alert.resolved_at,
)

# In the order the worker writes them (the manifest lists them so).
EXPORT_TYPES: dict[str, ExportType] = {
    t.name: t
    for t in (
        ExportType("Patient", Patient, (Patient.updated_at,), _patient),
        # Blocks are not edited once recorded.
        ExportType("Procedure", Procedure, (Procedure.created_at,), _procedure),
        # Reports are never changed once stored: received_at is when the server got them.
        ExportType("QuestionnaireResponse", Report, (Report.received_at,), _questionnaire),
        ExportType("Observation", Report, (Report.received_at,), _observations),
        # An alert changes when raised again, acknowledged, escalated or resolved.
        ExportType("Task", Alert, _ALERT_CHANGES, _task, _actor_names),
    )
}
