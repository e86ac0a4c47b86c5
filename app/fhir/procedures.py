"""Procedure: pure mapping from the procedures table (docs/fhir.md, "Procedure")."""

from typing import Any

from app.fhir.common import instant, reference
from app.procedures.models import Procedure

CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
BLOCK_CODE = {
    "coding": [
        {
            "system": CPT,
            "code": "64520",
            "display": "Injection, anesthetic agent; lumbar or thoracic (paravertebral "
            "sympathetic)",
        }
    ],
    "text": "Lumbar sympathetic nerve block",
}
# SNOMED CT laterality qualifiers, keyed by the `side` the procedures table stores.
LATERALITY = {
    "left": ("7771000", "Left"),
    "right": ("24028007", "Right"),
    "bilateral": ("51440002", "Right and left"),
}
INDICATIONS = {
    "crps": "Complex regional pain syndrome",
    "neuropathy": "Neuropathic pain",
    "vascular": "Vascular insufficiency",
    "phantom_limb": "Phantom limb pain",
    "hyperhidrosis": "Hyperhidrosis",
    "post_surgical": "Post-surgical pain",
    "other": "Other",
}


def _number(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def drugs_text(procedure: Procedure) -> str | None:
    """The drugs given, in words; None when none was recorded."""
    parts = []
    if anesthetic := procedure.anesthetic:
        parts.append(
            f"Anesthetic: {anesthetic['drug']} {_number(anesthetic['concentration_percent'])}% "
            f"{_number(anesthetic['volume_ml'])} mL"
        )
    if steroid := procedure.steroid:
        parts.append(f"Steroid: {steroid['drug']} {_number(steroid['dose_mg'])} mg")
    return "; ".join(parts) or None


def procedure_resource(procedure: Procedure) -> dict[str, Any]:
    code, display = LATERALITY[procedure.side]
    levels = ", ".join(procedure.levels)
    resource: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": str(procedure.id),
        "meta": {"lastUpdated": instant(procedure.created_at)},
        # Recorded once it was done; Aftercare has no planned or cancelled blocks.
        "status": "completed",
        "code": BLOCK_CODE,
        "subject": reference("Patient", procedure.patient_id),
        "performedDateTime": instant(procedure.performed_at),
        "bodySite": [
            {
                "coding": [{"system": SNOMED, "code": code, "display": display}],
                "text": f"{display} lumbar sympathetic chain, {levels}",
            }
        ],
        "reasonCode": [{"text": INDICATIONS.get(procedure.indication, procedure.indication)}],
    }
    if drugs := drugs_text(procedure):
        resource["note"] = [{"text": drugs}]
    return resource
