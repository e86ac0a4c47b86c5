"""The closed side-effect vocabulary (docs/clinical-rules.md); anything else is a 422. And the
two severities, each defined once: how bad a side effect is (the patient's `Severity`), and how
urgent a finding is (the rules' `FindingSeverity`, which is also each alert's severity)."""

from enum import StrEnum
from typing import Literal


class SideEffectKind(StrEnum):
    soreness = "soreness"
    bruising = "bruising"
    swelling = "swelling"
    site_redness = "site_redness"
    site_drainage = "site_drainage"
    bleeding = "bleeding"
    leg_warmth = "leg_warmth"
    numbness = "numbness"
    leg_weakness = "leg_weakness"
    tingling = "tingling"
    burning_pain = "burning_pain"
    unable_to_walk = "unable_to_walk"
    dizziness = "dizziness"
    fainting = "fainting"
    headache = "headache"
    neck_stiffness = "neck_stiffness"
    nausea = "nausea"
    chills = "chills"
    confusion = "confusion"
    rash_or_itching = "rash_or_itching"
    breathing_difficulty = "breathing_difficulty"
    chest_pain = "chest_pain"
    bladder_bowel_change = "bladder_bowel_change"
    saddle_numbness = "saddle_numbness"
    flank_pain = "flank_pain"
    blood_in_urine = "blood_in_urine"
    other = "other"
    # Version 2 vocabulary: accepted from every clinic, since the app cannot
    # know its clinic's rule set; version 1 rules never read them.
    weakness_both_legs = "weakness_both_legs"
    back_pain_deep = "back_pain_deep"
    face_lip_tongue_swelling = "face_lip_tongue_swelling"
    seizure = "seizure"
    ringing_ears_or_metallic_taste = "ringing_ears_or_metallic_taste"
    numb_lips_or_tongue = "numb_lips_or_tongue"
    headache_when_upright = "headache_when_upright"
    burning_pain_new_area = "burning_pain_new_area"
    facial_flushing = "facial_flushing"


class Severity(StrEnum):
    mild = "mild"
    moderate = "moderate"
    severe = "severe"


SEVERITY_RANK = {Severity.mild: 1, Severity.moderate: 2, Severity.severe: 3}

FindingSeverity = Literal["emergency", "urgent", "routine"]
# Most urgent first: findings are returned in this order, and alerts store it as severity_rank,
# the worklist's sort key.
FINDING_SEVERITY_RANK: dict[FindingSeverity, int] = {"emergency": 0, "urgent": 1, "routine": 2}
