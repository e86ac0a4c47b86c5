import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.alerts.schemas import AlertNotice
from app.core.types import RequestModel, ResponseModel, Text, UtcDatetime
from app.rules.guidance import Guidance
from app.rules.temperature import PLAUSIBLE_CELSIUS, TemperatureUnit, to_celsius
from app.rules.thresholds import GLUCOSE_MAX_MMOL, GLUCOSE_MG_PER_MMOL, GLUCOSE_MIN_MMOL
from app.rules.vocabulary import Severity, SideEffectKind

GlucoseUnit = Literal["mmol/L", "mg/dL"]


class Temperature(RequestModel):
    value: float = Field(strict=True, allow_inf_nan=False, description="As the patient read it.")
    unit: TemperatureUnit

    @model_validator(mode="after")
    def _plausible(self) -> "Temperature":
        low, high = PLAUSIBLE_CELSIUS
        if not low <= to_celsius(self.value, self.unit) <= high:
            raise ValueError("temperature is implausible (must be 30.0-45.0 °C / 86.0-113.0 °F)")
        return self


def to_mmol_per_l(value: float, unit: GlucoseUnit) -> float:
    return round(value if unit == "mmol/L" else value / GLUCOSE_MG_PER_MMOL, 3)


class BloodGlucose(RequestModel):
    value: float = Field(strict=True, allow_inf_nan=False, description="As the meter shows it.")
    unit: GlucoseUnit

    @model_validator(mode="after")
    def _plausible(self) -> "BloodGlucose":
        # To one decimal, as meters show mmol/L: so the range is 18-1,081 mg/dL on a meter
        # that shows whole mg/dL (18 mg/dL is 0.999 mmol/L, 1,081 is 60.002).
        mmol = round(to_mmol_per_l(self.value, self.unit), 1)
        if not GLUCOSE_MIN_MMOL <= mmol <= GLUCOSE_MAX_MMOL:
            raise ValueError(
                "blood glucose is implausible (must be 1.0-60.0 mmol/L / 18-1,081 mg/dL)"
            )
        return self


class SideEffect(RequestModel):
    kind: SideEffectKind
    severity: Severity


class ReportIn(RequestModel):
    client_report_id: uuid.UUID = Field(description="Made on the device; the idempotency key.")
    recorded_at: UtcDatetime = Field(description="When the patient filled it in.")
    pain_score: int = Field(ge=0, le=10, strict=True, description="0-10 numeric rating scale.")
    relief_percent: int | None = Field(default=None, ge=0, le=100, strict=True)
    relief_ended_at: UtcDatetime | None = Field(
        default=None, description="When the pain came back."
    )
    temperature: Temperature | None = None
    blood_glucose: BloodGlucose | None = Field(
        default=None, description="A meter reading, e.g. after a steroid in a diabetic."
    )
    side_effects: list[SideEffect] = Field(default_factory=list, max_length=len(SideEffectKind))
    notes: Text | None = Field(default=None, max_length=2000)

    @field_validator("side_effects")
    @classmethod
    def _each_kind_once(cls, effects: list[SideEffect]) -> list[SideEffect]:
        kinds = [e.kind for e in effects]
        if len(set(kinds)) != len(kinds):
            raise ValueError("each side-effect kind may be listed only once")
        return effects

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "client_report_id": "6f1c1f9e-3c55-4d7e-9a57-0b9a3c2d1e10",
                    "recorded_at": "2026-11-22T16:45:00-06:00",
                    "pain_score": 3,
                    "relief_percent": 60,
                    "relief_ended_at": None,
                    "temperature": {"value": 99.1, "unit": "F"},
                    "blood_glucose": {"value": 162, "unit": "mg/dL"},
                    "side_effects": [
                        {"kind": "soreness", "severity": "mild"},
                        {"kind": "leg_warmth", "severity": "mild"},
                    ],
                    "notes": "Leg feels warm, pain much better.",
                }
            ]
        }
    )


class ReportBatchIn(BaseModel):
    """Items are checked one by one, so a bad item is rejected alone."""

    model_config = ConfigDict(extra="forbid")
    reports: list[Any] = Field(
        max_length=100,
        json_schema_extra={"items": {"$ref": "#/components/schemas/ReportIn"}},
    )


class TemperatureOut(BaseModel):
    value: float
    unit: TemperatureUnit
    celsius: float


class BloodGlucoseOut(BaseModel):
    value: float
    unit: GlucoseUnit
    mmol_per_l: float


class SideEffectOut(BaseModel):
    kind: SideEffectKind
    severity: Severity


class ReportOut(ResponseModel):
    id: uuid.UUID
    procedure_id: uuid.UUID
    patient_id: uuid.UUID
    client_report_id: uuid.UUID
    recorded_at: datetime
    received_at: datetime
    pain_score: int
    relief_percent: int | None
    relief_ended_at: datetime | None
    temperature: TemperatureOut | None
    # Defaults, because a batch replays stored responses through this model: one stored
    # before these fields existed has neither (and was judged by version 1).
    blood_glucose: BloodGlucoseOut | None = None
    side_effects: list[SideEffectOut]
    notes: str | None
    entered_by: Literal["patient", "staff"]
    rule_set_version: int = Field(
        default=1, description="The rule set that judged it: the clinic's when it was stored."
    )


class ReportResult(BaseModel):
    report: ReportOut
    alerts: list[AlertNotice] = Field(
        description="Alerts this report raised or re-triggered, as the patient may see them."
    )
    guidance: Guidance


class BatchItemError(BaseModel):
    type: str | None = Field(
        default=None,
        description="The problem type, as the single report's problem+json gives it "
        "(e.g. .../problems/report-cap-reached).",
    )
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


class BatchItemResult(BaseModel):
    client_report_id: str | None
    status: Literal["created", "duplicate", "rejected"]
    report: ReportOut | None = None
    alerts: list[AlertNotice] | None = None
    guidance: Guidance | None = None
    error: BatchItemError | None = None


class BatchResult(BaseModel):
    results: list[BatchItemResult]
