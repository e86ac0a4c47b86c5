import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator

from app.checkins.schemas import CheckinOut
from app.core.types import RequestModel, ResponseModel, Text, UtcDatetime
from app.rules.vocabulary import SideEffectKind

Side = Literal["left", "right", "bilateral"]
Level = Literal["L1", "L2", "L3", "L4", "L5"]
Indication = Literal[
    "crps", "neuropathy", "vascular", "phantom_limb", "hyperhidrosis", "post_surgical", "other"
]
FiniteDose = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]


class Anesthetic(RequestModel):
    drug: Text = Field(min_length=1, max_length=100)
    concentration_percent: float = Field(gt=0, le=100, allow_inf_nan=False)
    volume_ml: FiniteDose


class Steroid(RequestModel):
    drug: Text = Field(min_length=1, max_length=100)
    dose_mg: FiniteDose


class ProcedureCreate(RequestModel):
    performed_at: UtcDatetime
    side: Side
    levels: list[Level] = Field(min_length=1, max_length=5)
    indication: Indication
    baseline_pain: int = Field(ge=0, le=10, strict=True)
    baseline_symptoms: list[SideEffectKind] = Field(
        default_factory=list, max_length=len(SideEffectKind)
    )
    anesthetic: Anesthetic | None = None
    steroid: Steroid | None = None
    sedation: bool = Field(strict=True)
    notes: Text | None = Field(default=None, max_length=2000)

    @field_validator("levels", "baseline_symptoms")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("must not list the same value twice")
        return values

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "performed_at": "2026-11-21T09:30:00-06:00",
                    "side": "left",
                    "levels": ["L2", "L3"],
                    "indication": "crps",
                    "baseline_pain": 7,
                    "baseline_symptoms": ["burning_pain"],
                    "anesthetic": {
                        "drug": "bupivacaine",
                        "concentration_percent": 0.25,
                        "volume_ml": 10,
                    },
                    "steroid": {"drug": "dexamethasone", "dose_mg": 4},
                    "sedation": False,
                    "notes": "Fluoroscopic guidance, no complications.",
                }
            ]
        }
    )


class AnestheticOut(ResponseModel):
    drug: str
    concentration_percent: float
    volume_ml: float


class SteroidOut(ResponseModel):
    drug: str
    dose_mg: float


class ProcedureFields(ResponseModel):
    """A block as recorded, without its check-ins."""

    id: uuid.UUID
    patient_id: uuid.UUID
    clinic_id: uuid.UUID
    sequence_number: int
    performed_at: datetime
    side: Side
    levels: list[Level]
    indication: Indication
    baseline_pain: int
    baseline_symptoms: list[SideEffectKind]
    anesthetic: AnestheticOut | None
    steroid: SteroidOut | None
    sedation: bool
    notes: str | None
    created_at: datetime


class ProcedureOut(ProcedureFields):
    checkins: list[CheckinOut]
