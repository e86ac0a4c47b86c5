"""The OpenAPI document's tags, in the order documentation tools show them: every tag a router
uses is declared here with what its operations are for (tests/test_openapi.py checks it)."""

OPENAPI_TAGS: list[dict[str, str]] = [
    {
        "name": "health",
        "description": "Liveness and readiness probes for load balancers and orchestrators. "
        "No access token needed.",
    },
    {
        "name": "auth",
        "description": "Access tokens: staff sign in with a password, integration clients with "
        "client credentials, and the patient's app enrols with a one-time code from the clinic. "
        "Also renewing and ending sessions, and a staff user's own sessions and password.",
    },
    {
        "name": "staff",
        "description": "The caller (`/v1/me`), their clinic's settings (escalation delays, "
        "clinical rule set) and, for admins, the clinic's staff users.",
    },
    {
        "name": "patients",
        "description": "The clinic's patients and the one-time enrollment codes that link a "
        "patient's app. Another clinic's patient is a 404, never a 403.",
    },
    {
        "name": "devices",
        "description": "The phones a patient has enrolled: staff list and sign out their "
        "patients' phones, a patient their own.",
    },
    {
        "name": "procedures",
        "description": "Lumbar sympathetic blocks (procedures), numbered in sequence per "
        "patient, each with the schedule of check-ins the patient is asked to report at.",
    },
    {
        "name": "reports",
        "description": "Symptom reports after a block, sent by the patient's app (or entered by "
        "staff): each is judged by the clinic's rule set when stored, and answers with the "
        "alerts it raised and guidance for the patient. Idempotent by `client_report_id`; "
        "rate-limited per caller.",
    },
    {
        "name": "alerts",
        "description": "Red flags raised by the rule engine from patients' symptom reports: the "
        "clinic's worklist, which clinicians acknowledge and resolve; and the rules that raise "
        "them.",
    },
    {
        "name": "rules",
        "description": "The clinical rule sets: try another version against the clinic's own "
        "reports before switching to it.",
    },
    {
        "name": "clinician views",
        "description": "Read-only views for clinicians: a patient's timeline, a block's summary "
        "and chart, and how relief compares across a patient's blocks.",
    },
    {
        "name": "webhooks",
        "description": "Endpoints that receive the clinic's events: alerts created, "
        "raised in severity, escalated, acknowledged and resolved; check-ins missed; an "
        "endpoint disabled. Events are signed and delivered through an outbox with retries; "
        "each delivery and its attempts can be inspected and sent again (admins).",
    },
    {
        "name": "integrations",
        "description": "Integration clients (EHR interfaces, clinic systems) that sign in with "
        "client credentials and are limited to the scopes they were given.",
    },
    {
        "name": "audit",
        "description": "Who did what: the clinic's audit trail (admins), a patient's access log "
        "(staff), and the patient's own view of it.",
    },
]
