"""The post-block check-in as a FHIR Questionnaire, and each report as its
QuestionnaireResponse. Pure: a stored report in, a dict out (bulk export writes these too).

The Questionnaire is the report request (app/reports/schemas.py ReportIn) item by item: a
response answers only what its report holds, values as the patient read them (a temperature
in °F stays in °F, a glucose in mg/dL stays in mg/dL)."""

import uuid
from typing import Any

from app.fhir.common import AFTERCARE_SYSTEM_BASE, instant, reference
from app.reports.models import Report
from app.rules.explain import label
from app.rules.temperature import SYMBOLS
from app.rules.vocabulary import Severity, SideEffectKind

QUESTIONNAIRE_ID = "post-block-check-in"
QUESTIONNAIRE_VERSION = "1"
QUESTIONNAIRE_URL = f"{AFTERCARE_SYSTEM_BASE}/Questionnaire/{QUESTIONNAIRE_ID}"
QUESTIONNAIRE_CANONICAL = f"{QUESTIONNAIRE_URL}|{QUESTIONNAIRE_VERSION}"
SIDE_EFFECT_SYSTEM = f"{AFTERCARE_SYSTEM_BASE}/CodeSystem/side-effect"
OBSERVATION_SYSTEM = f"{AFTERCARE_SYSTEM_BASE}/CodeSystem/observation"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
_EXT = "http://hl7.org/fhir/StructureDefinition"

# SNOMED CT qualifier values, as FHIR's own condition-severity value set uses them: an EHR
# reads them without knowing Aftercare's vocabulary.
SEVERITY_CODES: dict[str, tuple[str, str]] = {
    Severity.mild: ("255604002", "Mild"),
    Severity.moderate: ("6736007", "Moderate"),
    Severity.severe: ("24484000", "Severe"),
}
# The stored unit letter or meter unit -> (UCUM code, what a person reads).
TEMPERATURE_UNITS: dict[str, tuple[str, str]] = {
    "C": ("Cel", SYMBOLS["C"]),
    "F": ("[degF]", SYMBOLS["F"]),
}
GLUCOSE_UNITS: dict[str, tuple[str, str]] = {
    "mg/dL": ("mg/dL", "mg/dL"),
    "mmol/L": ("mmol/L", "mmol/L"),
}


def side_effect_coding(kind: str) -> dict[str, str]:
    """Displayed in the clinician's words, as the alerts and the timeline show the kind."""
    try:
        display = label(SideEffectKind(kind))
    except ValueError:  # a kind no rule set knows (never stored today): its code, readable
        display = kind.replace("_", " ")
    return {"system": SIDE_EFFECT_SYSTEM, "code": kind, "display": display}


def severity_coding(severity: str) -> dict[str, str]:
    code, display = SEVERITY_CODES[severity]
    return {"system": SNOMED, "code": code, "display": display}


def quantity(value: float, units: tuple[str, str]) -> dict[str, Any]:
    code, unit = units
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _bounds(low: int, high: int) -> list[dict[str, Any]]:
    return [
        {"url": f"{_EXT}/minValue", "valueInteger": low},
        {"url": f"{_EXT}/maxValue", "valueInteger": high},
    ]


def _unit_options(units: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "url": f"{_EXT}/questionnaire-unitOption",
            "valueCoding": {"system": UCUM, "code": code, "display": unit},
        }
        for code, unit in units.values()
    ]


QUESTIONNAIRE: dict[str, Any] = {
    "resourceType": "Questionnaire",
    "id": QUESTIONNAIRE_ID,
    "url": QUESTIONNAIRE_URL,
    "version": QUESTIONNAIRE_VERSION,
    "name": "PostBlockCheckIn",
    "title": "Check-in after a lumbar sympathetic block",
    "status": "active",
    "subjectType": ["Patient"],
    "publisher": "Aftercare",
    "item": [
        {
            "linkId": "pain",
            "code": [{"system": LOINC, "code": "72514-3"}],
            "text": "Pain now, 0 (none) to 10 (worst imaginable)",
            "type": "integer",
            "required": True,
            "extension": _bounds(0, 10),
        },
        {
            "linkId": "relief-percent",
            "text": "Relief since the block, in percent (0-100)",
            "type": "integer",
            "extension": _bounds(0, 100),
        },
        {
            "linkId": "relief-ended",
            "text": "When the pain came back",
            "type": "dateTime",
        },
        {
            "linkId": "temperature",
            "code": [{"system": LOINC, "code": "8310-5"}],
            "text": "Body temperature",
            "type": "quantity",
            "extension": _unit_options(TEMPERATURE_UNITS),
        },
        {
            "linkId": "blood-glucose",
            "text": "Blood glucose, as the meter shows it",
            "type": "quantity",
            "extension": _unit_options(GLUCOSE_UNITS),
        },
        {
            "linkId": "side-effect",
            "text": "Side effects (each kind once)",
            "type": "group",
            "repeats": True,
            "item": [
                {
                    "linkId": "side-effect.kind",
                    "text": "What",
                    "type": "choice",
                    "required": True,
                    "answerOption": [
                        {"valueCoding": side_effect_coding(k)} for k in SideEffectKind
                    ],
                },
                {
                    "linkId": "side-effect.severity",
                    "text": "How bad",
                    "type": "choice",
                    "required": True,
                    "answerOption": [{"valueCoding": severity_coding(s)} for s in Severity],
                },
            ],
        },
        {"linkId": "notes", "text": "Anything else", "type": "text", "maxLength": 2000},
    ],
}


def _answered(link_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "answer": [answer]}


def questionnaire_response(report: Report, patient_id: uuid.UUID) -> dict[str, Any]:
    """The report as answers to QUESTIONNAIRE; its id is the report's."""
    items = [_answered("pain", {"valueInteger": report.pain_score})]
    if report.relief_percent is not None:
        items.append(_answered("relief-percent", {"valueInteger": report.relief_percent}))
    if report.relief_ended_at is not None:
        items.append(_answered("relief-ended", {"valueDateTime": instant(report.relief_ended_at)}))
    if report.temperature_value is not None and report.temperature_unit is not None:
        units = TEMPERATURE_UNITS[report.temperature_unit]
        value = quantity(report.temperature_value, units)
        items.append(_answered("temperature", {"valueQuantity": value}))
    if report.blood_glucose_value is not None and report.blood_glucose_unit is not None:
        units = GLUCOSE_UNITS[report.blood_glucose_unit]
        value = quantity(report.blood_glucose_value, units)
        items.append(_answered("blood-glucose", {"valueQuantity": value}))
    for effect in report.side_effects:
        kind = _answered("side-effect.kind", {"valueCoding": side_effect_coding(effect["kind"])})
        severity = severity_coding(effect["severity"])
        how_bad = _answered("side-effect.severity", {"valueCoding": severity})
        items.append({"linkId": "side-effect", "item": [kind, how_bad]})
    if report.notes:
        items.append(_answered("notes", {"valueString": report.notes}))
    patient = reference("Patient", str(patient_id))
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(report.id),
        "identifier": {
            "system": f"{AFTERCARE_SYSTEM_BASE}/client-report-id",
            "value": str(report.client_report_id),
        },
        "questionnaire": QUESTIONNAIRE_CANONICAL,
        "status": "completed",
        "subject": patient,
        "partOf": [reference("Procedure", str(report.procedure_id))],
        "authored": instant(report.recorded_at),
        "item": items,
    }
    if report.entered_by_staff_id is None:  # from the patient's own app
        response["author"] = response["source"] = patient
    return response
