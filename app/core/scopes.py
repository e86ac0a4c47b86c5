"""What an integration client may be allowed to do. A client's token carries some of these;
staff and patient tokens are not limited by them (their role is).

OPERATION_SCOPES is the whole of what a client may call: an operation missing from it is
refused to every client (403), whatever its scopes. Left out on purpose: staff accounts,
sessions and passwords, the clinic's settings and rule sets, integration clients themselves
(a client must not mint or widen clients), enrolment codes and patients' phones (they hand
out or cut off a patient's access), the patient app's own operations, and the audit trail
(it records people's accesses and is read by the clinic's admins).

In core, not in integrations: the bearer dependency (core/deps.py) checks a client's scope on
every request, and core imports no domain.
"""

SCOPES: dict[str, str] = {
    "patients:read": "Read the clinic's patients.",
    "patients:write": "Create and change the clinic's patients.",
    "procedures:read": "Read blocks (procedures) and their summaries, outcomes and charts.",
    "timeline:read": "Read a patient's timeline.",
    "reports:read": "Read symptom reports.",
    "alerts:read": "Read the clinic's worklist of alerts and its red-flag rules.",
    "alerts:write": "Acknowledge and resolve alerts.",
    "webhooks:manage": "Register and change webhook endpoints; see and retry deliveries.",
    # SMART on FHIR system scopes for the read-only FHIR API under /fhir/r4 (docs/fhir.md).
    "system/Patient.read": "FHIR: read the clinic's patients (Patient).",
    "system/Procedure.read": "FHIR: read blocks (Procedure).",
    "system/Task.read": "FHIR: read alerts (Task).",
    "system/Questionnaire.read": "FHIR: read the symptom questionnaire (Questionnaire).",
    "system/QuestionnaireResponse.read": "FHIR: read symptom reports (QuestionnaireResponse).",
    "system/Observation.read": "FHIR: read the measurements in symptom reports (Observation).",
    "system/*.read": "FHIR: read every FHIR resource type; needed for bulk export ($export).",
}

OPERATION_SCOPES: dict[str, str] = {
    "list_patients": "patients:read",
    "get_patient": "patients:read",
    "create_patient": "patients:write",
    "update_patient": "patients:write",
    "list_procedures": "procedures:read",
    "get_procedure": "procedures:read",
    "get_procedure_summary": "procedures:read",
    "get_procedure_chart": "procedures:read",
    "get_patient_outcomes": "procedures:read",
    "get_patient_outcomes_chart": "procedures:read",
    "get_patient_timeline": "timeline:read",
    "list_reports": "reports:read",
    "list_alerts": "alerts:read",
    "get_alert": "alerts:read",
    "list_rules": "alerts:read",
    "acknowledge_alert": "alerts:write",
    "resolve_alert": "alerts:write",
    "create_webhook": "webhooks:manage",
    "list_webhooks": "webhooks:manage",
    "get_webhook": "webhooks:manage",
    "update_webhook": "webhooks:manage",
    "list_webhook_deliveries": "webhooks:manage",
    "retry_webhook_delivery": "webhooks:manage",
    # FHIR (app/fhir). metadata and smart-configuration are public: no token, no scope.
    "fhir_read_patient": "system/Patient.read",
    "fhir_search_patient": "system/Patient.read",
    "fhir_read_procedure": "system/Procedure.read",
    "fhir_search_procedure": "system/Procedure.read",
    "fhir_read_task": "system/Task.read",
    "fhir_search_task": "system/Task.read",
    "fhir_read_questionnaire": "system/Questionnaire.read",
    "fhir_search_questionnaire": "system/Questionnaire.read",
    "fhir_read_questionnaire_response": "system/QuestionnaireResponse.read",
    "fhir_search_questionnaire_response": "system/QuestionnaireResponse.read",
    "fhir_read_observation": "system/Observation.read",
    "fhir_search_observation": "system/Observation.read",
    # Bulk export hands out every resource type at once.
    "fhir_export_patients": "system/*.read",
    "fhir_export_group": "system/*.read",
    "fhir_export_status": "system/*.read",
    "fhir_export_cancel": "system/*.read",
    "fhir_export_file": "system/*.read",
}
ALL_FHIR_READ = "system/*.read"


def scope_for(operation_id: str | None) -> str | None:
    """The scope a client needs for the operation; None when no client may call it."""
    return OPERATION_SCOPES.get(operation_id) if operation_id else None


def scope_satisfied(needed: str, held: frozenset[str]) -> bool:
    """Whether the scopes held grant the one needed: itself, or for any FHIR read
    (system/<Type>.read) the wildcard system/*.read."""
    if needed in held:
        return True
    return needed.startswith("system/") and needed.endswith(".read") and ALL_FHIR_READ in held
