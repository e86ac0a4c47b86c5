"""The worklist's prebuilt statement, written as app/core/prebuilt.py says: built once per
filter shape with every value a bound parameter, like the timeline's page."""

from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from sqlalchemy import Integer, Select, String, Table, Uuid, and_, bindparam, or_, select

from app.alerts.models import Alert
from app.core.models import value_in
from app.procedures.models import Procedure

_ALERTS = cast(Table, Alert.__table__)  # rows, not entities: a page is only read


@dataclass(frozen=True)
class WorklistShape:
    """Which optional filters a worklist request has: one statement is built per shape."""

    severity: bool
    patient: bool
    after: bool


@cache
def worklist_statement(shape: WorklistShape, dialect: str) -> Select[Any]:
    """GET /v1/alerts: the clinic's alerts in worklist order, from the cursor on."""
    alerts = _ALERTS.c
    query = select(_ALERTS).where(
        alerts.clinic_id == bindparam("clinic_id", type_=Uuid()),
        value_in(alerts.status, "statuses", dialect, String()),
    )
    if shape.severity:
        query = query.where(alerts.severity == bindparam("severity"))
    if shape.patient:
        query = query.where(alerts.patient_id == bindparam("patient_id", type_=Uuid()))
    if shape.after:
        rank = bindparam("rank", type_=Integer())
        at = bindparam("at", type_=alerts.created_at.type)
        query = query.where(
            or_(
                alerts.severity_rank > rank,
                and_(alerts.severity_rank == rank, alerts.created_at > at),
                and_(
                    alerts.severity_rank == rank,
                    alerts.created_at == at,
                    alerts.id > bindparam("last_id", type_=Uuid()),
                ),
            )
        )
    order = (alerts.severity_rank, alerts.created_at, alerts.id)
    return query.order_by(*order).limit(bindparam("limit"))


@cache
def lock_block_of_alert() -> Select[Any]:
    """Locks the block of one of the clinic's alerts. Changing an alert bumps its block's
    revision (a trigger), so a transition takes the block first, then the alert: the order
    report submission and the worker take, so none of them deadlock."""
    block_of_alert = (
        select(Alert.procedure_id)
        .where(Alert.id == bindparam("alert_id", type_=Uuid()))
        .where(Alert.clinic_id == bindparam("clinic_id", type_=Uuid()))
        .scalar_subquery()
    )
    return (
        select(Procedure.id).where(Procedure.id == block_of_alert).with_for_update(key_share=True)
    )
