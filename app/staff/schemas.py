import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from app.core.types import RequestModel, ResponseModel, Text
from app.credentials.password_policy import password_weakness
from app.rules.ruleset import RuleSetVersion

StaffRole = Literal["admin", "clinician"]


class StaffCreate(RequestModel):
    email: EmailStr = Field(max_length=320)
    name: Text = Field(min_length=1, max_length=200)
    # After the e-mail and name: the policy is checked against them.
    password: Text = Field(
        min_length=12,
        max_length=256,
        description="At least 12 characters, not blank, not containing the e-mail, and not "
        "weak by the zxcvbn strength estimator (score 3 or more, judged with the e-mail and "
        "name).",
    )
    role: StaffRole

    @field_validator("password")
    @classmethod
    def _strong_enough(cls, password: str, info: ValidationInfo) -> str:
        reason = password_weakness(
            password, email=str(info.data.get("email") or ""), name=info.data.get("name")
        )
        if reason:
            raise ValueError(reason)
        return password

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "email": "r.okafor@clinic.example",
                    "password": "correct horse battery staple",
                    "name": "Dr Rita Okafor",
                    "role": "clinician",
                }
            ]
        }
    )


class StaffOut(ResponseModel):
    id: uuid.UUID
    clinic_id: uuid.UUID
    email: str
    name: str
    role: StaffRole
    created_at: datetime
    active: bool
    deactivated_at: datetime | None


class StaffUpdate(RequestModel):
    """Staff are deactivated, never deleted: their records keep their author."""

    name: Text | None = Field(default=None, min_length=1, max_length=200)
    role: StaffRole | None = None
    active: bool | None = Field(
        default=None,
        strict=True,
        description="false ends all of the user's sessions at once; true lets them sign in again.",
    )


class Me(ResponseModel):
    id: uuid.UUID
    role: Literal["admin", "clinician", "patient"]
    clinic_id: uuid.UUID
    clinic_name: str
    name: str
    email: str | None = None
    patient_id: uuid.UUID | None = None


class ClinicOut(ResponseModel):
    id: uuid.UUID
    name: str
    escalate_emergency_minutes: int = Field(
        description="An open emergency alert unacknowledged this long emits alert.escalated."
    )
    escalate_urgent_minutes: int = Field(
        description="An open urgent alert unacknowledged this long emits alert.escalated."
    )
    rule_set_version: int = Field(
        description="The clinical rule set the clinic's reports are judged with "
        "(GET /v1/rules?version= lists it)."
    )
    fhir_mrn_system: str | None = Field(
        description="The identifier system of the clinic's MRNs in the FHIR API (the EHR's, "
        "so records match there); null: Aftercare's own, one per clinic (docs/fhir.md)."
    )


class ClinicUpdate(RequestModel):
    """Each change applies from the next alert or report on: alerts already open keep their
    delays, and reports already stored keep the rule set that judged them."""

    escalate_emergency_minutes: int | None = Field(default=None, ge=1, le=60, strict=True)
    escalate_urgent_minutes: int | None = Field(default=None, ge=1, le=1440, strict=True)
    rule_set_version: RuleSetVersion | None = Field(default=None, strict=True)
    # A URI (FHIR Identifier.system); null goes back to Aftercare's own system.
    fhir_mrn_system: str | None = Field(
        default=None, min_length=4, max_length=255, pattern=r"^(https?://|urn:)[^\s|]+$"
    )
