"""What an integration client may be allowed to do. A client's token carries some of these;
staff and patient tokens are not limited by them (their role is).

OPERATION_SCOPES is the whole of what a client may call: an operation missing from it is
refused to every client (403), whatever its scopes. Left out on purpose: staff accounts,
sessions and passwords, the clinic's settings and rule sets, integration clients themselves
(a client must not mint or widen clients), enrolment codes and patients' phones (they hand
out or cut off a patient's access), the patient app's own operations, and the audit trail
(it records people's accesses and is read by the clinic's admins).
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
}


def scope_for(operation_id: str | None) -> str | None:
    """The scope a client needs for the operation; None when no client may call it."""
    return OPERATION_SCOPES.get(operation_id) if operation_id else None
