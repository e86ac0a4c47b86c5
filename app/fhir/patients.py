"""Patient: pure mapping from the patients table (docs/fhir.md, "Patient")."""

import uuid
from typing import Any

from app.fhir.common import AFTERCARE_SYSTEM_BASE, instant
from app.patients.models import Patient


def mrn_system(clinic_id: uuid.UUID, configured: str | None) -> str:
    """The identifier system of the clinic's MRNs: its own setting (the EHR's system, so
    records match there), else one of Aftercare's, unique to the clinic (MRNs are unique
    only within a clinic)."""
    return configured or f"{AFTERCARE_SYSTEM_BASE}/clinic/{clinic_id}/mrn"


def patient_resource(patient: Patient, system: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.id),
        "meta": {"lastUpdated": instant(patient.updated_at)},
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": "MR",
                        }
                    ]
                },
                "system": system,
                "value": patient.mrn,
            }
        ],
        # Free text as staff typed it: splitting it into family/given would be guessing.
        "name": [{"text": patient.display_name}],
    }
    if patient.birth_date is not None:
        resource["birthDate"] = patient.birth_date.isoformat()
    return resource
