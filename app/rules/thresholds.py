"""The numbers of red-flags.md, in one place (part of the versioned rule set: changing one
means bumping the version of every rule that uses it, and RULESET_VERSION)."""

# Thresholds (red-flags.md). Temperatures in °C as stored; hours since performed_at. Where one
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
