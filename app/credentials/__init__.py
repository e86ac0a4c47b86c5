"""What a token points at and how it ends: enrolment codes, patients' enrolled phones and
their refresh tokens, staff sessions, and the rules a staff password must meet. Below patients
and staff, which issue and end these; app.auth (signing in, tokens) sits above them all, as it
needs the staff user, the patient and the integration client it authenticates."""
