"""Reading the audit trail (the clinic's events, a patient's access log). Apart from app.audit,
which records it: every domain writes through the recorder, while this reader looks up staff,
patients and their phones to name who did what, so it sits above them."""
