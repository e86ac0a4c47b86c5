"""The one-line texts of the timeline: what a clinician reads at a glance."""

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.procedures.models import Procedure
from app.reports.models import Report
from app.rules.engine import relief_from
from app.rules.explain import glucose_text, hours_text, with_severity
from app.rules.facts import hours_since_block
from app.rules.temperature import temperature_text
from app.rules.thresholds import FEVER_CELSIUS
from app.rules.vocabulary import Severity, SideEffectKind

INDICATIONS = {
    "crps": "CRPS",
    "phantom_limb": "phantom limb pain",
    "post_surgical": "post-surgical pain",
}


def words(name: str) -> str:
    return name.replace("_", " ")


def report_line(report: Report, baseline_pain: int) -> str:
    relief = relief_from(report.pain_score, report.relief_percent, baseline_pain)
    parts = [f"Pain {report.pain_score}/10", f"relief {relief} %"]
    # The clinician's label of each kind (the rules' explanations use the same words).
    parts += [
        with_severity(SideEffectKind(e["kind"]), Severity(e["severity"]))
        for e in report.side_effects
    ]
    if report.temperature_c is not None and report.temperature_c >= FEVER_CELSIUS:
        parts.append(f"fever {temperature_text(report.temperature_c)}")
    if report.blood_glucose_mmol is not None:  # always: it is measured only when it matters
        parts.append(f"glucose {glucose_text(report.blood_glucose_mmol)}")
    return ", ".join(parts)


def procedure_line(procedure: Procedure) -> str:
    levels = (
        "-".join(procedure.levels) if len(procedure.levels) <= 2 else ", ".join(procedure.levels)
    )
    return (
        f"Block {procedure.sequence_number}: {procedure.side} {levels}, "
        f"{INDICATIONS.get(procedure.indication, words(procedure.indication))}; "
        f"baseline pain {procedure.baseline_pain}/10"
    )


def alert_line(alert: Alert) -> str:
    text = f"{alert.severity.capitalize()} alert: {alert.title}"
    if alert.occurrences > 1:
        text += f" (x{alert.occurrences})"
    if alert.escalated_at is not None:
        text += ", escalated"
    if alert.acknowledged_at is not None:
        text += ", acknowledged"
    if alert.resolved_at is not None:
        text += ", resolved"
    elif alert.status == "open":
        text += ", open"
    return text


def checkin_line(checkin: Checkin, procedure: Procedure) -> str:
    after = hours_text(hours_since_block(procedure.performed_at, checkin.due_at))
    return f"Check-in {after} after block {procedure.sequence_number}: {checkin.status}"
