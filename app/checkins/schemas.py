import uuid
from datetime import datetime
from typing import Literal

from app.core.types import ResponseModel

CheckinStatus = Literal["pending", "completed", "missed", "skipped"]


class CheckinOut(ResponseModel):
    id: uuid.UUID
    due_at: datetime
    closes_at: datetime
    status: CheckinStatus
    report_id: uuid.UUID | None = None
    completed_at: datetime | None = None
