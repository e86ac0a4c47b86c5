"""Rule set version 1 (docs/clinical-rules.md), one definition per rule.

Version 2 (rules_v2.py) reuses every definition here that it does not change, so an unchanged
rule is one object judged the same way by both sets.
"""

from app.rules.combinators import AllOf, AnyOf
from app.rules.conditions import (
    Condition,
    Fever,
    Has,
    HoursWindow,
    NoReliefBy,
    PainAboveBaseline,
    PainScore,
    WorseThanPrevious,
)
from app.rules.rule import Rule
from app.rules.rule import after as _after
from app.rules.rule import hours as _h
from app.rules.thresholds import (
    BLOCK_WEARS_OFF_HOURS,
    DIZZINESS_ANY_AFTER_HOURS,
    DIZZINESS_MODERATE_AFTER_HOURS,
    FEVER_CELSIUS,
    INTERNAL_BLEEDING_AFTER_HOURS,
    NO_RELIEF_HOURS,
    PAIN_FLARE_HOURS,
    PAIN_RISE,
    RELIEF_PERCENT,
    SITE_INFECTION_FROM_HOURS,
    SITE_SYMPTOMS_HOURS,
    WALKING_EMERGENCY_AFTER_HOURS,
    WEAKNESS_RETURN_AFTER_HOURS,
    WORST_PAIN,
)
from app.rules.vocabulary import Severity
from app.rules.vocabulary import SideEffectKind as K

MODERATE, SEVERE = Severity.moderate, Severity.severe

BREATHING_DIFFICULTY = Rule(
    id="breathing_difficulty",
    version=1,
    severity="emergency",
    title="Breathing difficulty or chest pain",
    description="Difficulty breathing or chest pain, of any severity, at any time.",
    when=Has((K.breathing_difficulty, K.chest_pain)),
)


CAUDA_EQUINA = Rule(
    id="cauda_equina",
    version=1,
    severity="emergency",
    title="Possible cauda equina syndrome",
    description="A change in bladder or bowel control, or saddle numbness: numbness between "
    "the legs or around the back passage (the patient cannot feel the toilet paper), or on both "
    "buttocks; of any severity, at any time. (Numbness in the groin or the front of the thigh "
    "on the side of the block is the block's expected effect, reported as numbness.)",
    when=Has((K.bladder_bowel_change, K.saddle_numbness)),
)


FAINTING = Rule(
    id="fainting",
    version=1,
    severity="emergency",
    title="Fainting",
    description="The patient fainted, at any time after the block.",
    when=Has((K.fainting,)),
)


ALTERED_MENTAL_STATE = Rule(
    id="altered_mental_state",
    version=1,
    severity="emergency",
    title="Confusion",
    description="Confusion of any severity, at any time.",
    when=Has((K.confusion,)),
)


POSSIBLE_INTERNAL_BLEEDING = Rule(
    id="possible_internal_bleeding",
    version=1,
    severity="emergency",
    title="Possible internal bleeding",
    description="Flank pain together with leg weakness, numbness, dizziness or fainting, "
    f"more than {_h(INTERNAL_BLEEDING_AFTER_HOURS)} hours after the block.",
    when=AllOf(
        (Has((K.flank_pain,)), Has((K.leg_weakness, K.numbness, K.dizziness, K.fainting))),
        window=_after(INTERNAL_BLEEDING_AFTER_HOURS),
    ),
)


INFECTION_WITH_NEURO_SIGNS = Rule(
    id="infection_with_neuro_signs",
    version=1,
    severity="emergency",
    title="Possible infection with nerve involvement",
    description=f"A temperature of {FEVER_CELSIUS:.1f} °C (100.4 °F) or more, or chills, "
    "together with neck stiffness, confusion, a change in bladder or bowel control, or leg "
    "weakness, at any time.",
    when=AllOf(
        (
            AnyOf((Fever(FEVER_CELSIUS), Has((K.chills,)))),
            Has((K.neck_stiffness, K.confusion, K.bladder_bowel_change, K.leg_weakness)),
        )
    ),
)


WORSENING_WEAKNESS = Rule(
    id="worsening_weakness",
    version=1,
    severity="emergency",
    title="Worsening or returning leg weakness",
    description=f"More than {_h(WALKING_EMERGENCY_AFTER_HOURS)} hours after the block, "
    "unable to walk; or, more than "
    f"{_h(WEAKNESS_RETURN_AFTER_HOURS)} hours after it, leg weakness more severe than in the "
    "previous report, or leg weakness when the previous report had none (weakness that "
    "came back after it had gone; a first report has no previous report).",
    when=AnyOf(
        (
            Has((K.unable_to_walk,), window=_after(WALKING_EMERGENCY_AFTER_HOURS)),
            WorseThanPrevious(
                K.leg_weakness,
                window=_after(WEAKNESS_RETURN_AFTER_HOURS),
                outranked_by=K.unable_to_walk,
            ),
        )
    ),
)


FEVER = Rule(
    id="fever",
    version=1,
    severity="urgent",
    title="Fever",
    description=f"A temperature of {FEVER_CELSIUS:.1f} °C (100.4 °F) or more, or moderate "
    "or severe chills.",
    when=AnyOf((Fever(FEVER_CELSIUS), Has((K.chills,), at_least=MODERATE))),
)


SITE_INFECTION_SIGNS: tuple[Condition, ...] = (
    Has((K.site_drainage,)),
    Has((K.site_redness,), MODERATE, HoursWindow(">=", SITE_INFECTION_FROM_HOURS)),
    Has((K.swelling,), SEVERE, HoursWindow(">=", SITE_INFECTION_FROM_HOURS)),
)
SITE_INFECTION = Rule(
    id="site_infection",
    version=1,
    severity="urgent",
    title="Possible injection-site infection",
    description="Drainage from the injection site; or, "
    f"{_h(SITE_INFECTION_FROM_HOURS)} hours or more after the block, moderate or severe "
    "redness, or severe swelling, at the site.",
    when=AnyOf(SITE_INFECTION_SIGNS),
)


UNABLE_TO_WALK_EARLY = Has(
    (K.unable_to_walk,), window=HoursWindow("<=", WALKING_EMERGENCY_AFTER_HOURS)
)
PERSISTENT_NUMBNESS_OR_WEAKNESS = Rule(
    id="persistent_numbness_or_weakness",
    version=1,
    severity="urgent",
    title="Numbness or weakness lasting too long",
    description="Numbness, leg weakness or tingling more than "
    f"{_h(BLOCK_WEARS_OFF_HOURS)} hours after the block, when it should have worn off; or "
    f"unable to walk in the first {_h(WALKING_EMERGENCY_AFTER_HOURS)} hours (after that it "
    "is an emergency: worsening_weakness).",
    when=AnyOf(
        (
            Has(
                (K.numbness, K.leg_weakness, K.tingling),
                window=_after(BLOCK_WEARS_OFF_HOURS),
                note="expected to wear off by {hours} h",
            ),
            UNABLE_TO_WALK_EARLY,
        )
    ),
)


NEW_BURNING_PAIN = Rule(
    id="new_burning_pain",
    version=1,
    severity="urgent",
    title="New burning pain",
    description="Burning pain of any severity, when the procedure's baseline symptoms "
    "do not list it.",
    when=Has((K.burning_pain,), unless_in_baseline=True),
)


BLEEDING = Rule(
    id="bleeding",
    version=1,
    severity="urgent",
    title="Bleeding",
    description="Moderate or severe bleeding.",
    when=Has((K.bleeding,), at_least=MODERATE),
)


ALLERGIC_REACTION = Rule(
    id="allergic_reaction",
    version=1,
    severity="urgent",
    title="Possible allergic reaction",
    description="Rash or itching of any severity.",
    when=Has((K.rash_or_itching,)),
)


URINARY_TRACT_INJURY = Rule(
    id="urinary_tract_injury",
    version=1,
    severity="urgent",
    title="Possible urinary tract injury",
    description="Blood in the urine, or flank pain (pain in the side, lower belly or deep in "
    "the groin, not the soreness where the needle went in), of any severity.",
    when=Has((K.blood_in_urine, K.flank_pain)),
)


SEVERE_HEADACHE = Rule(
    id="severe_headache",
    version=1,
    severity="urgent",
    title="Severe headache",
    description="A severe headache, or a headache of any severity with neck stiffness.",
    when=AnyOf(
        (
            Has((K.headache,), at_least=SEVERE),
            AllOf((Has((K.headache,)), Has((K.neck_stiffness,)))),
        )
    ),
)


PERSISTENT_DIZZINESS = Rule(
    id="persistent_dizziness",
    version=1,
    severity="urgent",
    title="Persistent dizziness",
    description="Moderate or severe dizziness more than "
    f"{_h(DIZZINESS_MODERATE_AFTER_HOURS)} hours after the block, or dizziness of any "
    f"severity more than {_h(DIZZINESS_ANY_AFTER_HOURS)} hours after it.",
    when=AnyOf(
        (
            Has((K.dizziness,), MODERATE, _after(DIZZINESS_MODERATE_AFTER_HOURS)),
            Has((K.dizziness,), window=_after(DIZZINESS_ANY_AFTER_HOURS)),
        )
    ),
)


PAIN_ESCALATION = Rule(
    id="pain_escalation",
    version=1,
    severity="urgent",
    title="Pain escalation",
    description=f"A pain score of {WORST_PAIN}; or, more than {_h(PAIN_FLARE_HOURS)} "
    f"hours after the block, a pain score at least {PAIN_RISE} points above the baseline.",
    when=AnyOf((PainScore(WORST_PAIN), PainAboveBaseline(PAIN_RISE, _after(PAIN_FLARE_HOURS)))),
)


OTHER_SEVERE = Rule(
    id="other_severe",
    version=1,
    severity="urgent",
    title="Severe other symptom",
    description="A severe symptom outside the list, described in the report's notes.",
    when=Has((K.other,), at_least=SEVERE),
)


PAIN_FLARE = Rule(
    id="pain_flare",
    version=1,
    severity="routine",
    title="Pain flare",
    description=f"A pain score at least {PAIN_RISE} points above the baseline in the "
    f"first {_h(PAIN_FLARE_HOURS)} hours (an expected flare, worth a look).",
    when=PainAboveBaseline(
        PAIN_RISE,
        HoursWindow("<=", PAIN_FLARE_HOURS),
        note="within {hours} h of the block, when a flare is common",
    ),
)


PROLONGED_SITE_SYMPTOMS = Rule(
    id="prolonged_site_symptoms",
    version=1,
    severity="routine",
    title="Prolonged injection-site symptoms",
    description="Moderate or severe soreness, bruising or swelling more than "
    f"{_h(SITE_SYMPTOMS_HOURS)} hours (4 days) after the block.",
    when=Has(
        (K.soreness, K.bruising, K.swelling),
        MODERATE,
        _after(SITE_SYMPTOMS_HOURS),
        note="threshold moderate or severe; expected to settle by {hours} h",
    ),
)


NO_RELIEF = Rule(
    id="no_relief",
    version=1,
    severity="routine",
    title="No relief from the block",
    description=f"{_h(NO_RELIEF_HOURS)} hours (14 days) or more after the block, no report "
    f"of the procedure has reached {RELIEF_PERCENT} % relief. Raised by the clock.",
    when=NoReliefBy(NO_RELIEF_HOURS, RELIEF_PERCENT),
)


MISSED_CHECKIN = Rule(
    id="missed_checkin",
    version=1,
    severity="routine",
    title="Missed check-in",
    description="A scheduled check-in window closed without a report. Raised by the "
    "check-in scheduler.",
    when=None,
)

VERSION_1: tuple[Rule, ...] = (
    BREATHING_DIFFICULTY,
    CAUDA_EQUINA,
    FAINTING,
    ALTERED_MENTAL_STATE,
    POSSIBLE_INTERNAL_BLEEDING,
    INFECTION_WITH_NEURO_SIGNS,
    WORSENING_WEAKNESS,
    FEVER,
    SITE_INFECTION,
    PERSISTENT_NUMBNESS_OR_WEAKNESS,
    NEW_BURNING_PAIN,
    BLEEDING,
    ALLERGIC_REACTION,
    URINARY_TRACT_INJURY,
    SEVERE_HEADACHE,
    PERSISTENT_DIZZINESS,
    PAIN_ESCALATION,
    OTHER_SEVERE,
    PAIN_FLARE,
    PROLONGED_SITE_SYMPTOMS,
    NO_RELIEF,
    MISSED_CHECKIN,
)
