"""The numbers of the rule sets (docs/clinical-rules.md), in one place. Changing one changes
every rule that uses it: bump those rules' versions and add a rule-set version."""

# Thresholds. Temperatures in °C as stored; hours since performed_at. Where one
# number splits two rules (or a rule and an expected effect), both use the same constant, so
# changing it can never open a gap between them.
FEVER_CELSIUS = 38.0  # 100.4 °F
INTERNAL_BLEEDING_AFTER_HOURS = 6.0
WALKING_EMERGENCY_AFTER_HOURS = 6.0  # unable_to_walk: urgent up to, emergency after
WEAKNESS_RETURN_AFTER_HOURS = 6.0
BLOCK_WEARS_OFF_HOURS = 12.0  # numbness, leg weakness, tingling: expected up to, urgent after
SITE_INFECTION_FROM_HOURS = 24.0
DIZZINESS_MODERATE_AFTER_HOURS = 6.0
DIZZINESS_ANY_AFTER_HOURS = 24.0  # mild dizziness: expected up to, urgent after
PAIN_FLARE_HOURS = 48.0  # a rise of PAIN_RISE: pain_flare up to, pain_escalation after
SITE_SYMPTOMS_HOURS = 96.0  # soreness, bruising, swelling: expected up to, routine after
NO_RELIEF_HOURS = 336.0  # 14 days
PAIN_RISE = 3  # points above baseline_pain
WORST_PAIN = 10
RELIEF_PERCENT = 50

EXPECTED_PAIN_RISE = PAIN_RISE - 1  # expected effect: pain_score up to baseline_pain + 2

# Version 2.
INFECTION_MOTOR_AFTER_HOURS = BLOCK_WEARS_OFF_HOURS  # fever with the block's own weakness: later
SPINAL_NEURO_AFTER_HOURS = BLOCK_WEARS_OFF_HOURS  # deep back pain with weakness or numbness
SPINAL_FEVER_AFTER_HOURS = 24.0  # deep back pain with fever or chills: an abscess starts later
ANAPHYLAXIS_COMBINED_HOURS = 24.0  # rash with severe dizziness or nausea
TOXICITY_HOURS = (
    4.0  # local-anaesthetic toxicity starts within the first hour; 4 h for late reports
)
SITE_REDNESS_EXPECTED_HOURS = SITE_INFECTION_FROM_HOURS  # mild or moderate redness up to
BLEEDING_EXPECTED_HOURS = 24.0  # mild bleeding on the dressing
FLUSHING_EXPECTED_HOURS = 72.0  # after a steroid
NEGATIVE_AFTER_HOURS = 24.0  # no relief by then: a negative block
BURNING_PAIN_WORSE_AFTER_HOURS = BLOCK_WEARS_OFF_HOURS  # before it, the block itself may burn
STEROID_NEGATIVE_AFTER_HOURS = 72.0  # steroid relief usually starts after 2-3 days (version 2)

# Blood glucose: compared in mmol/L.
GLUCOSE_MG_PER_MMOL = 18.016
GLUCOSE_MIN_MMOL = 1.0
GLUCOSE_MAX_MMOL = 60.0
HIGH_GLUCOSE_MMOL = 22.2  # 400 mg/dL
# Hypoglycaemia is below 70 mg/dL: the threshold is 70 mg/dL in mmol/L, rounded as readings are
# stored (3 decimals), so 70 mg/dL itself is not low and 3.9 mmol/L is not either.
LOW_GLUCOSE_MMOL = round(70 / GLUCOSE_MG_PER_MMOL, 3)
