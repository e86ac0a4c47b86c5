"""Every API operation's audit action: its name, the kind of record it touches, and how the
access log says it in plain words ("Dr A. Rivera (clinician) viewed the timeline").

Keyed by operation id; tests/test_audit_walk.py fails when an operation has no entry.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    name: str
    resource_type: str | None
    words: str


_a = Action


ACTIONS: dict[str, Action] = {
    # Sign-in, sessions and devices (security events).
    "login_staff": _a("auth.login", "staff_session", "signed in"),
    "logout": _a("auth.logout", "staff_session", "signed out"),
    "change_password": _a("auth.password_change", "staff_user", "changed their password"),
    "list_my_sessions": _a("session.list", "staff_session", "listed their sessions"),
    "enroll_patient_app": _a("auth.enroll", "patient_device", "enrolled a phone"),
    "refresh_patient_tokens": _a("auth.refresh", "patient_device", "renewed the app's sign-in"),
    "list_my_devices": _a("device.list", "patient_device", "viewed the list of phones"),
    "revoke_my_device": _a("device.revoke", "patient_device", "signed a phone out"),
    "list_patient_devices": _a("device.list", "patient_device", "viewed the list of phones"),
    "revoke_patient_device": _a("device.revoke", "patient_device", "signed a phone out"),
    # Staff and clinic.
    "get_me": _a("me.read", None, "viewed their own profile"),
    "create_staff_user": _a("staff.create", "staff_user", "added a staff user"),
    "list_staff": _a("staff.list", "staff_user", "listed the staff"),
    "update_staff_user": _a("staff.update", "staff_user", "changed a staff user"),
    "end_staff_sessions": _a("session.revoke", "staff_user", "ended a staff user's sessions"),
    "get_clinic": _a("clinic.read", "clinic", "viewed the clinic settings"),
    "update_clinic": _a("clinic.update", "clinic", "changed the clinic settings"),
    # Patients and their records.
    "list_patients": _a("patient.list", "patient", "saw the patient in a list or search"),
    "create_patient": _a("patient.create", "patient", "registered the patient"),
    "get_patient": _a("patient.read", "patient", "viewed the patient's details"),
    "update_patient": _a("patient.update", "patient", "changed the patient's details"),
    "create_enrollment_code": _a(
        "enrollment_code.create", "patient", "printed an app enrolment code"
    ),
    "list_procedures": _a("procedure.list", "patient", "viewed the list of blocks"),
    "create_procedure": _a("procedure.create", "procedure", "recorded a block"),
    "get_procedure": _a("procedure.read", "procedure", "viewed a block"),
    "get_procedure_summary": _a("procedure.summary", "procedure", "viewed a block's relief"),
    "get_procedure_chart": _a("procedure.chart", "procedure", "viewed a block's chart"),
    "list_reports": _a("report.list", "procedure", "viewed a block's symptom reports"),
    "submit_report": _a("report.create", "report", "submitted a symptom report"),
    "submit_report_batch": _a("report.batch", "procedure", "uploaded symptom reports"),
    "get_patient_timeline": _a("timeline.read", "patient", "viewed the timeline"),
    "get_patient_outcomes": _a("outcomes.read", "patient", "viewed the outcomes across blocks"),
    "get_patient_outcomes_chart": _a("outcomes.chart", "patient", "viewed the outcomes chart"),
    "list_alerts": _a("alert.list", "alert", "saw the patient's alerts on the worklist"),
    "get_alert": _a("alert.read", "alert", "viewed an alert"),
    "acknowledge_alert": _a("alert.acknowledge", "alert", "acknowledged an alert"),
    "resolve_alert": _a("alert.resolve", "alert", "resolved an alert"),
    "list_rules": _a("rules.read", None, "read the clinical rules"),
    "dry_run_rules": _a(
        "rules.dry_run", "rule_set", "compared a rule set with the current one over past reports"
    ),
    # Integrations.
    "list_webhooks": _a("webhook.list", "webhook", "listed webhook endpoints"),
    "create_webhook": _a("webhook.create", "webhook", "registered a webhook endpoint"),
    "get_webhook": _a("webhook.read", "webhook", "viewed a webhook endpoint"),
    "update_webhook": _a("webhook.update", "webhook", "changed a webhook endpoint"),
    "list_webhook_deliveries": _a("webhook.deliveries", "webhook", "viewed webhook deliveries"),
    "retry_webhook_delivery": _a("webhook.retry", "webhook_delivery", "retried a delivery"),
    "create_integration_client": _a(
        "integration_client.create", "integration_client", "registered an integration client"
    ),
    "list_integration_clients": _a(
        "integration_client.list", "integration_client", "listed integration clients"
    ),
    "get_integration_client": _a(
        "integration_client.read", "integration_client", "viewed an integration client"
    ),
    "update_integration_client": _a(
        "integration_client.update", "integration_client", "changed an integration client"
    ),
    "revoke_integration_client": _a(
        "integration_client.revoke", "integration_client", "revoked an integration client"
    ),
    # FHIR (app/fhir): the same records as above, read as FHIR resources. A search notes
    # every patient whose resource it returned, as the REST lists do.
    "fhir_metadata": _a("fhir.metadata", None, "read the FHIR capability statement"),
    "fhir_smart_configuration": _a("fhir.smart_configuration", None, "read the SMART config"),
    "fhir_read_patient": _a("fhir.patient.read", "patient", "viewed the patient (FHIR)"),
    "fhir_search_patient": _a("fhir.patient.search", "patient", "found the patient (FHIR)"),
    "fhir_read_procedure": _a("fhir.procedure.read", "procedure", "viewed a block (FHIR)"),
    "fhir_search_procedure": _a("fhir.procedure.search", "procedure", "listed blocks (FHIR)"),
    "fhir_read_task": _a("fhir.task.read", "alert", "viewed an alert (FHIR)"),
    "fhir_search_task": _a("fhir.task.search", "alert", "listed alerts (FHIR)"),
    "fhir_read_questionnaire": _a("fhir.questionnaire.read", None, "read the questionnaire"),
    "fhir_search_questionnaire": _a(
        "fhir.questionnaire.search", None, "searched the questionnaires"
    ),
    "fhir_read_questionnaire_response": _a(
        "fhir.questionnaire_response.read", "report", "viewed a symptom report (FHIR)"
    ),
    "fhir_search_questionnaire_response": _a(
        "fhir.questionnaire_response.search", "report", "listed symptom reports (FHIR)"
    ),
    "fhir_read_observation": _a(
        "fhir.observation.read", "report", "viewed a symptom measurement (FHIR)"
    ),
    "fhir_search_observation": _a(
        "fhir.observation.search", "report", "listed symptom measurements (FHIR)"
    ),
    "fhir_export_patients": _a("fhir.export.start", "fhir_export", "started a bulk export"),
    "fhir_export_group": _a("fhir.export.start", "fhir_export", "started a bulk export"),
    "fhir_export_status": _a("fhir.export.status", "fhir_export", "checked a bulk export"),
    "fhir_export_cancel": _a("fhir.export.cancel", "fhir_export", "cancelled a bulk export"),
    "fhir_export_file": _a("fhir.export.file", "fhir_export", "downloaded a bulk export file"),
    # The audit trail itself: reading it is an access too.
    "list_audit_events": _a("audit.list", "audit_event", "read the audit trail"),
    "get_patient_access_log": _a("access_log.read", "patient", "viewed the access log"),
    "get_my_access_log": _a("access_log.read", "patient", "viewed the access log"),
}

# Done by the command line, not through the API.
ROTATE_KEY = _a("key.rotate", "signing_key", "rotated the token signing key")
RETIRE_KEY = _a("key.retire", "signing_key", "retired a token signing key")
# Recorded instead of an operation's own action when the request did this (record.stage):
# PATCH /v1/clinic that moves the clinic to another clinical rule set; the event's resource id
# is the version it moved to.
CHANGE_RULE_SET = _a("clinic.rule_set_change", "rule_set", "changed the clinic's clinical rule set")
# POST /v1/auth/token by an integration client (the client credentials grant).
CLIENT_TOKEN = _a("auth.client_token", "integration_client", "obtained an access token")
UNKNOWN = _a("unknown", None, "made a request")
# Every action that is no operation's own: the access log has words for these too.
OTHER_ACTIONS = (ROTATE_KEY, RETIRE_KEY, CHANGE_RULE_SET, CLIENT_TOKEN)
