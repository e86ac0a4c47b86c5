import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.core.types import RequestModel, Text


class StaffToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")


class PatientTokens(StaffToken):
    refresh_token: str
    patient_id: uuid.UUID


class EnrollRequest(RequestModel):
    code: Text = Field(min_length=1, max_length=64, examples=["7KQ2-M9XD-4TRB"])


class RefreshRequest(RequestModel):
    refresh_token: Text = Field(min_length=1, max_length=256)


class EnrollmentCodeOut(BaseModel):
    code: Text = Field(description="Shown once; print it as a QR code for the patient's app.")
    expires_at: datetime
