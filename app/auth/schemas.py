import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.core.types import RequestModel, ResponseModel, Text


class StaffToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")


class PatientTokens(StaffToken):
    refresh_token: str
    patient_id: uuid.UUID


class EnrollRequest(RequestModel):
    code: Text = Field(min_length=1, max_length=64, examples=["7KQ2-M9XD-4TRB"])
    device_name: Text | None = Field(
        default=None,
        max_length=100,
        description="How the patient will recognise this phone in their list of devices.",
        examples=["Jordan's iPhone"],
    )
    platform: Literal["ios", "android", "web", "other"] | None = None


class PasswordChange(RequestModel):
    current_password: Text = Field(min_length=1, max_length=256)
    new_password: Text = Field(
        min_length=12,
        max_length=256,
        description="As for a new staff user: at least 12 characters, not blank, not "
        "containing the e-mail, and not weak by the zxcvbn strength estimator.",
    )


class StaffSessionOut(ResponseModel):
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    ended_reason: str | None
    client_address: str | None
    user_agent: str | None
    current: bool = Field(description="The session this request was made with.")


class RefreshRequest(RequestModel):
    refresh_token: Text = Field(min_length=1, max_length=256)


class EnrollmentCodeOut(BaseModel):
    code: Text = Field(description="Shown once; print it as a QR code for the patient's app.")
    expires_at: datetime
