import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.alerts.schemas import AlertOut
from app.checkins.schemas import CheckinOut
from app.procedures.schemas import ProcedureFields
from app.reports.schemas import ReportOut

ItemType = Literal["procedure", "report", "alert", "checkin"]
ITEM_TYPES: tuple[ItemType, ...] = ("procedure", "report", "alert", "checkin")


class _Item(BaseModel):
    at: datetime = Field(
        description="procedure: performed_at; report: recorded_at; alert: created_at; "
        "check-in: due_at."
    )
    id: uuid.UUID
    procedure_id: uuid.UUID
    summary: str = Field(
        description="One line for a clinician, e.g. 'Pain 7/10, relief 20 %, leg weakness "
        "(moderate)'."
    )


class ProcedureItem(_Item):
    type: Literal["procedure"]
    data: ProcedureFields


class ReportItem(_Item):
    type: Literal["report"]
    data: ReportOut


class AlertItem(_Item):
    type: Literal["alert"]
    data: AlertOut = Field(description="With its acknowledgement and resolution, if any.")


class CheckinItem(_Item):
    type: Literal["checkin"]
    data: CheckinOut


TimelineItem = Annotated[
    ProcedureItem | ReportItem | AlertItem | CheckinItem, Field(discriminator="type")
]


class Timeline(BaseModel):
    items: list[TimelineItem]
    next_cursor: str | None
