"""Each report as FHIR Observations: one per measure it holds and one per side effect. Pure
(bulk export writes these too); the same report always gives the same list, in the same order,
with the same ids, so a search page may stop part-way through a report and resume there.

Ids are `<report id as 32 hex digits>-<slug>`: the longest side-effect kind still fits FHIR's
64 characters (the dashed uuid would not), and the id alone says which report and which
measure to load (`parse_observation_id`)."""

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.fhir.common import instant, reference
from app.fhir.questionnaire import (
    GLUCOSE_UNITS,
    LOINC,
    OBSERVATION_SYSTEM,
    TEMPERATURE_UNITS,
    quantity,
    severity_coding,
    side_effect_coding,
)
from app.reports.models import Report
from app.rules.vocabulary import SideEffectKind

_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
BODY_TEMPERATURE_PROFILE = "http://hl7.org/fhir/StructureDefinition/bodytemp"
# The measures in the order a report's observations are listed; side effects follow.
MEASURES = ("pain", "relief-percent", "relief-ended", "temperature", "blood-glucose")
_ID = re.compile(r"([0-9a-f]{32})-([a-z-]+)")


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str


PAIN = Code(LOINC, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")
BODY_TEMPERATURE = Code(LOINC, "8310-5", "Body temperature")
# Meters show one or the other: each keeps its own LOINC code rather than being converted.
GLUCOSE_BY_UNIT = {
    "mg/dL": Code(LOINC, "2339-0", "Glucose [Mass/volume] in Blood"),
    "mmol/L": Code(LOINC, "15074-8", "Glucose [Moles/volume] in Blood"),
}
RELIEF_PERCENT = Code(OBSERVATION_SYSTEM, "relief-percent", "Pain relief since the block [%]")
RELIEF_ENDED = Code(OBSERVATION_SYSTEM, "relief-ended", "When the pain came back")


def _slug(kind: str) -> str:
    return kind.replace("_", "-")


# A side-effect kind named like a measure would make two observations share an id: the
# tests check none is.
_KIND_BY_SLUG = {_slug(k): k.value for k in SideEffectKind}


def observation_id(report_id: uuid.UUID, slug: str) -> str:
    return f"{report_id.hex}-{slug}"


def parse_observation_id(value: str) -> tuple[uuid.UUID, str] | None:
    """(report id, slug) for an id `observations` could have made; None for any other."""
    match = _ID.fullmatch(value)
    if match is None or (match[2] not in MEASURES and match[2] not in _KIND_BY_SLUG):
        return None
    return uuid.UUID(match[1]), match[2]


def _coded(code: Code) -> dict[str, Any]:
    return {"coding": [{"system": code.system, "code": code.code, "display": code.display}]}


def _category(code: str, display: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": _CATEGORY, "code": code, "display": display}]}]


def observations(report: Report, patient_id: uuid.UUID) -> list[dict[str, Any]]:
    """The report's observations: measures in MEASURES order, then its side effects as stored."""
    made: list[dict[str, Any]] = []

    def add(slug: str, code: Code, category: str, value: dict[str, Any]) -> dict[str, Any]:
        display = {"survey": "Survey", "vital-signs": "Vital Signs", "laboratory": "Laboratory"}
        made.append(
            {
                "resourceType": "Observation",
                "id": observation_id(report.id, slug),
                "status": "final",
                "category": _category(category, display[category]),
                "code": _coded(code),
                "subject": reference("Patient", str(patient_id)),
                # The block the report follows (R4 Observation.partOf allows Procedure).
                "partOf": [reference("Procedure", str(report.procedure_id))],
                "effectiveDateTime": instant(report.recorded_at),
                "issued": instant(report.received_at),
                "derivedFrom": [reference("QuestionnaireResponse", str(report.id))],
                **value,
            }
        )
        return made[-1]

    score = quantity(report.pain_score, ("{score}", "{score}"))
    add("pain", PAIN, "survey", {"valueQuantity": score})
    if report.relief_percent is not None:
        relief = quantity(report.relief_percent, ("%", "%"))
        add("relief-percent", RELIEF_PERCENT, "survey", {"valueQuantity": relief})
    if report.relief_ended_at is not None:
        ended = {"valueDateTime": instant(report.relief_ended_at)}
        add("relief-ended", RELIEF_ENDED, "survey", ended)
    if report.temperature_value is not None and report.temperature_unit is not None:
        # As read, in the patient's unit: the profile allows both Cel and [degF].
        value = quantity(report.temperature_value, TEMPERATURE_UNITS[report.temperature_unit])
        temperature = add("temperature", BODY_TEMPERATURE, "vital-signs", {"valueQuantity": value})
        temperature["meta"] = {"profile": [BODY_TEMPERATURE_PROFILE]}
    if report.blood_glucose_value is not None and report.blood_glucose_unit is not None:
        unit = report.blood_glucose_unit
        value = quantity(report.blood_glucose_value, GLUCOSE_UNITS[unit])
        add("blood-glucose", GLUCOSE_BY_UNIT[unit], "laboratory", {"valueQuantity": value})
    for effect in report.side_effects:
        kind = effect["kind"]
        code = Code(**side_effect_coding(kind))
        severity = {"coding": [severity_coding(effect["severity"])], "text": effect["severity"]}
        add(_slug(kind), code, "survey", {"valueCodeableConcept": severity})
    return made


def observation_codes(observation: dict[str, Any]) -> Sequence[tuple[str, str]]:
    return [(c["system"], c["code"]) for c in observation["code"]["coding"]]


def matches_code(observation: dict[str, Any], tokens: Sequence[tuple[str | None, str]]) -> bool:
    """FHIR token search on Observation.code: (system, code) pairs, OR'd. A None system
    matches any system; an empty code matches any code of the system."""
    if not tokens:
        return True
    return any(
        (system is None or system == s) and (not code or code == c)
        for system, code in tokens
        for s, c in observation_codes(observation)
    )
