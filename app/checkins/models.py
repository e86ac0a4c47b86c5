import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, uuid_pk


class Checkin(Base):
    __tablename__ = "checkins"
    __table_args__ = (
        Index("ix_checkins_procedure_due", "procedure_id", "due_at"),
        # The worker scans pending windows by closing time.
        Index("ix_checkins_status_closes", "status", "closes_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    procedure_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("procedures.id"))
    due_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))
    report_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("reports.id"))
    completed_at: Mapped[datetime | None]
