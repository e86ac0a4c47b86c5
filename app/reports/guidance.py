"""What the app shows the patient at once, computed from this report alone."""

from app.reports.schemas import Guidance

SAVED_MESSAGE = "Thank you, your report was saved. Your care team can see it."


def guidance_without_findings() -> Guidance:
    # The rule engine (next issue) adds emergency / contact_provider / expected levels.
    return Guidance(level="none", message=SAVED_MESSAGE)
