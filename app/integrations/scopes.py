"""What an integration client may be allowed to do. A client's token carries some of these;
staff and patient tokens are not limited by them (their role is)."""

SCOPES: dict[str, str] = {
    "patients:read": "Read the clinic's patients.",
    "patients:write": "Create and change the clinic's patients.",
    "procedures:read": "Read blocks (procedures) and their summaries, outcomes and charts.",
    "timeline:read": "Read a patient's timeline.",
    "reports:read": "Read symptom reports.",
    "alerts:read": "Read the clinic's worklist of alerts.",
    "alerts:write": "Acknowledge and resolve alerts.",
    "webhooks:manage": "Register, change and test the clinic's webhook endpoints.",
}
