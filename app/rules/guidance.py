"""What the app tells the patient at once (docs/clinical-rules.md, "Guidance").

Computed from this report's findings alone, so a re-triggered alert gives the same guidance as
a new one:
- any emergency finding -> "emergency": call emergency services now, do not wait for the clinic;
- else any urgent or routine finding -> "contact_provider": the care team has been told and will
  contact them; if they get worse, call the clinic or emergency services;
- else at least one side effect (or, in version 2, a normal blood glucose after a steroid
  block), and every one is an expected effect of the rule set at this hour -> "expected";
- else "none".
"""

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from app.rules.expected import ExpectedEffect
from app.rules.explain import day_text, for_patient, joined
from app.rules.facts import Finding, ProcedureFacts, ReportFacts, hours_since_block
from app.rules.ruleset import RuleSet
from app.rules.thresholds import EXPECTED_PAIN_RISE, HIGH_GLUCOSE_MMOL, LOW_GLUCOSE_MMOL
from app.rules.vocabulary import SEVERITY_RANK, Severity, SideEffectKind

GuidanceLevel = Literal["emergency", "contact_provider", "expected", "none"]


# The report API returns it as it is (no docstring: it would become the schema's description).
class Guidance(BaseModel):
    level: GuidanceLevel
    message: str


WORSE = "If you get worse, call the clinic, or call emergency services if it is an emergency."


def _names(findings: Sequence[Finding]) -> list[str]:
    names: dict[str, None] = {}
    for finding in findings:
        for symptom in finding.symptoms or (finding.title.lower(),):
            names.setdefault(symptom, None)
    return list(names)


def expected_effect(
    kind: SideEffectKind,
    severity: Severity,
    hours: float,
    rules: RuleSet,
    procedure: ProcedureFacts,
) -> ExpectedEffect | None:
    """The rule set's expected-effect entry that covers this side effect at this hour, if any."""
    for effect in rules.expected:
        if (
            kind in effect.kinds
            and SEVERITY_RANK[severity] <= SEVERITY_RANK[effect.at_most]
            and (effect.up_to_hours is None or hours <= effect.up_to_hours)
            and (procedure.steroid or not effect.needs_steroid)
        ):
            return effect
    return None


def guidance_for(
    findings: Sequence[Finding], report: ReportFacts, procedure: ProcedureFacts, rules: RuleSet
) -> Guidance:
    """`findings`: what evaluate() returned for this report with the same rule set.

    "Expected" also needs the pain within baseline + 2. Findings from evaluate() already imply
    it (a rise of 3 or more always fires pain_flare or pain_escalation), so it is a second check.
    """
    emergencies = [f for f in findings if f.severity == "emergency"]
    if emergencies:
        return Guidance(
            level="emergency",
            message=(
                "Call emergency services now. Do not wait for the clinic to call you back. "
                f"You reported {joined(_names(emergencies))}. This can be a sign of a serious "
                "complication of the block and needs to be checked straight away. Tell them you "
                "had a spinal injection (lumbar sympathetic block) on "
                f"{day_text(procedure.performed_at, procedure.timezone)} and whether you take blood thinners. "
                "Your care team has also been told."
            ),
        )
    if findings:
        return Guidance(
            level="contact_provider",
            message=(
                f"You reported {joined(_names(findings))}. Your care team has been told and "
                f"will contact you. {WORSE}"
            ),
        )
    advice = _expected_advice(report, procedure, rules)
    pain_expected = report.pain_score <= procedure.baseline_pain + EXPECTED_PAIN_RISE
    if advice and pain_expected:
        return Guidance(
            level="expected",
            message=" ".join(
                [
                    *advice,
                    "If anything gets worse or something new appears, send a new report "
                    "or call the clinic.",
                ]
            ),
        )
    return Guidance(level="none", message=_none_message(report))


def _expected_advice(report: ReportFacts, procedure: ProcedureFacts, rules: RuleSet) -> list[str]:
    """The advice for each expected finding of the report; [] when any side effect is not
    expected (then the report is not "expected" as a whole)."""
    hours = hours_since_block(procedure.performed_at, report.recorded_at)
    advice: list[str] = []
    for kind, severity in report.side_effects.items():
        effect = expected_effect(kind, severity, hours, rules, procedure)
        if effect is None:
            return []
        advice.append(effect.advice_for(kind))
    glucose = report.glucose_mmol
    if (
        rules.steroid_glucose_advice
        and procedure.steroid
        and glucose is not None
        and LOW_GLUCOSE_MMOL <= glucose < HIGH_GLUCOSE_MMOL
    ):
        advice.append(rules.steroid_glucose_advice)
    return advice


def _none_message(report: ReportFacts) -> str:
    listed = [for_patient(kind, severity) for kind, severity in report.side_effects.items()]
    if not listed:
        return f"Thank you, your report has been saved and your care team can see it. {WORSE}"
    return (
        f"Thank you, your report of {joined(listed)} has been saved and your care team can see "
        f"it. {WORSE}"
    )
