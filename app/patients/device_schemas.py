import uuid
from datetime import datetime

from pydantic import Field

from app.core.types import ResponseModel


class DeviceOut(ResponseModel):
    """One enrolment of the patient's app (a phone). Revoked ones stay listed for the record."""

    id: uuid.UUID
    device_name: str | None = Field(description="The name the app gave when it enrolled.")
    platform: str | None
    created_at: datetime = Field(description="When the phone was enrolled.")
    last_refreshed_at: datetime | None = Field(description="When the app last renewed its sign-in.")
    revoked_at: datetime | None = Field(description="Set once the phone is signed out.")
    revoked_reason: str | None = Field(
        description='Why: "re-enrolled", "revoked by staff", "revoked by the patient", '
        '"refresh token reused".'
    )


class MyDeviceOut(DeviceOut):
    current: bool = Field(description="The phone this request was made from.")
