"""Rule set version 2 (docs/clinical-rules.md): version 1 with the changes of a clinical review.

A rule this file does not redefine is version 1's own object. A changed rule keeps its id and
gets version 2; a new rule starts at version 1. Each definition's comment says what it fixes.
"""

from app.rules import rules_v1 as v1
from app.rules.combinators import AllOf, AnyOf, FirstOf, OneSidedBlock, Unless
from app.rules.conditions import (
    Fever,
    Glucose,
    Has,
    HoursWindow,
    PainAboveBaseline,
    PainScore,
    WorseThanPrevious,
)
from app.rules.rule import Rule
from app.rules.rule import after as _after
from app.rules.rule import hours as _h
from app.rules.thresholds import (
    ANAPHYLAXIS_COMBINED_HOURS,
    BLOCK_WEARS_OFF_HOURS,
    BURNING_PAIN_WORSE_AFTER_HOURS,
    DIZZINESS_ANY_AFTER_HOURS,
    DIZZINESS_MODERATE_AFTER_HOURS,
    FEVER_CELSIUS,
    HIGH_GLUCOSE_MMOL,
    INFECTION_MOTOR_AFTER_HOURS,
    INTERNAL_BLEEDING_AFTER_HOURS,
    LOW_GLUCOSE_MMOL,
    PAIN_FLARE_HOURS,
    PAIN_RISE,
    SPINAL_FEVER_AFTER_HOURS,
    SPINAL_NEURO_AFTER_HOURS,
    TOXICITY_HOURS,
    WALKING_EMERGENCY_AFTER_HOURS,
    WORST_PAIN,
)
from app.rules.vocabulary import Severity
from app.rules.vocabulary import SideEffectKind as K

MODERATE, SEVERE = Severity.moderate, Severity.severe
FEVER = Fever(FEVER_CELSIUS)
FEVER_OR_CHILLS = AnyOf((FEVER, Has((K.chills,))))
FEVER_OR_REAL_CHILLS = AnyOf((FEVER, Has((K.chills,), at_least=MODERATE)))

# Mild chills with the block's own leg weakness at 3 h was an emergency; an epidural abscess
# starts days later (motor arm after 12 h), meningitis within hours (meningeal arm, any hour).
INFECTION_WITH_NEURO_SIGNS = Rule(
    id="infection_with_neuro_signs",
    version=2,
    severity="emergency",
    title="Possible infection with nerve involvement",
    description=f"A temperature of {FEVER_CELSIUS:.1f} °C (100.4 °F) or more, or chills, "
    "together with neck stiffness, confusion, a change in bladder or bowel control, or saddle "
    "numbness, at any time; or, more than "
    f"{_h(INFECTION_MOTOR_AFTER_HOURS)} hours after the block, such a temperature or moderate "
    "or severe chills together with leg weakness, numbness, being unable to walk, or weakness "
    "in both legs.",
    when=AnyOf(
        (
            AllOf(
                (
                    FEVER_OR_CHILLS,
                    Has((K.neck_stiffness, K.confusion, K.bladder_bowel_change, K.saddle_numbness)),
                )
            ),
            AllOf(
                (
                    FEVER_OR_REAL_CHILLS,
                    Has((K.leg_weakness, K.numbness, K.unable_to_walk, K.weakness_both_legs)),
                ),
                window=_after(INFECTION_MOTOR_AFTER_HOURS),
            ),
        )
    ),
)

# A published lumbar-artery bleed after this block presented at 6 h with pain and dizziness,
# then shock: version 1 only called flank pain urgent before 6 h.
POSSIBLE_INTERNAL_BLEEDING = Rule(
    id="possible_internal_bleeding",
    version=2,
    severity="emergency",
    title="Possible internal bleeding",
    description="At any time: flank pain with fainting or with moderate or severe dizziness, "
    "or severe flank pain with any dizziness. More than "
    f"{_h(INTERNAL_BLEEDING_AFTER_HOURS)} hours after the block: flank pain with leg weakness, "
    "numbness, dizziness, fainting or being unable to walk. The explanation names the first of "
    "these that holds.",
    when=FirstOf(
        (
            AllOf(
                (Has((K.flank_pain,)), AnyOf((Has((K.fainting,)), Has((K.dizziness,), MODERATE))))
            ),
            AllOf((Has((K.flank_pain,), SEVERE), Has((K.dizziness,)))),
            AllOf(
                (
                    Has((K.flank_pain,)),
                    Has((K.leg_weakness, K.numbness, K.dizziness, K.fainting, K.unable_to_walk)),
                ),
                window=_after(INTERNAL_BLEEDING_AFTER_HOURS),
            ),
        )
    ),
)

# Severe dizziness in the first hours got no guidance at all.
PERSISTENT_DIZZINESS = Rule(
    id="persistent_dizziness",
    version=2,
    severity="urgent",
    title="Dizziness beyond what the block explains",
    description="Severe dizziness at any time; moderate dizziness more than "
    f"{_h(DIZZINESS_MODERATE_AFTER_HOURS)} hours after the block; dizziness of any severity "
    f"more than {_h(DIZZINESS_ANY_AFTER_HOURS)} hours after it.",
    when=AnyOf(
        (
            Has((K.dizziness,), SEVERE),
            Has((K.dizziness,), MODERATE, _after(DIZZINESS_MODERATE_AFTER_HOURS)),
            Has((K.dizziness,), window=_after(DIZZINESS_ANY_AFTER_HOURS)),
        )
    ),
)

# Beyond the clinical review's version 2: without it, weakness in both legs after a bilateral block (where
# bilateral_neuro_signs does not apply) raised nothing however long it lasted.
PERSISTENT_NUMBNESS_OR_WEAKNESS = Rule(
    id="persistent_numbness_or_weakness",
    version=2,
    severity="urgent",
    title=v1.PERSISTENT_NUMBNESS_OR_WEAKNESS.title,
    description="Numbness, leg weakness, tingling, or weakness or numbness in both legs, more "
    f"than {_h(BLOCK_WEARS_OFF_HOURS)} hours after the block, when it should have worn off; or "
    f"unable to walk in the first {_h(WALKING_EMERGENCY_AFTER_HOURS)} hours (after that it is an "
    "emergency: worsening_weakness).",
    when=AnyOf(
        (
            Has(
                (K.numbness, K.leg_weakness, K.tingling, K.weakness_both_legs),
                window=_after(BLOCK_WEARS_OFF_HOURS),
                note="expected to wear off by {hours} h",
            ),
            v1.UNABLE_TO_WALK_EARLY,
        )
    ),
)

SITE_INFECTION = Rule(
    id="site_infection",
    version=2,
    severity="urgent",
    title=v1.SITE_INFECTION.title,
    description=f"{v1.SITE_INFECTION.description} Severe redness at the site at any time.",
    when=AnyOf((*v1.SITE_INFECTION_SIGNS, Has((K.site_redness,), SEVERE))),
)

# Pain 10 made two worklist items (pain_flare and pain_escalation) out of one fact.
PAIN_FLARE = Rule(
    id="pain_flare",
    version=2,
    severity="routine",
    title=v1.PAIN_FLARE.title,
    description=f"A pain score from {PAIN_RISE} points above the baseline up to "
    f"{WORST_PAIN - 1}/10 in the first {_h(PAIN_FLARE_HOURS)} hours (an expected flare, worth a "
    f"look; a pain score of {WORST_PAIN} is pain_escalation alone).",
    when=PainAboveBaseline(
        PAIN_RISE,
        HoursWindow("<=", PAIN_FLARE_HOURS),
        note="within {hours} h of the block, when a flare is common",
        at_most=WORST_PAIN - 1,
    ),
)

# With pain_flare gone for pain 10, the escalation itself names the baseline and the rise. Its
# condition is version 1's, so its version stays 1 (versions follow conditions);
# the alert's rule_set_version tells the two explanations apart.
PAIN_ESCALATION = Rule(
    id="pain_escalation",
    version=1,
    severity="urgent",
    title=v1.PAIN_ESCALATION.title,
    description=f"{v1.PAIN_ESCALATION.description} The explanation names the baseline and the "
    "rise.",
    when=AnyOf(
        (
            PainScore(WORST_PAIN, name_baseline=True),
            PainAboveBaseline(PAIN_RISE, _after(PAIN_FLARE_HOURS)),
        )
    ),
)

# A new neuralgia in the groin or thigh was invisible when burning pain was a baseline symptom.
NEW_BURNING_PAIN = Rule(
    id="new_burning_pain",
    version=2,
    severity="urgent",
    title=v1.NEW_BURNING_PAIN.title,
    description=f"{v1.NEW_BURNING_PAIN.description} Burning or shooting pain in a new place "
    "(such as the groin or the front of the thigh), of any severity, whatever the baseline "
    "symptoms say.",
    when=AnyOf((Has((K.burning_pain,), unless_in_baseline=True), Has((K.burning_pain_new_area,)))),
)

POSSIBLE_ANAPHYLAXIS = Rule(
    id="possible_anaphylaxis",
    version=1,
    severity="emergency",
    title="Possible anaphylaxis",
    description="Swelling of the face, lips or tongue, at any time; or rash or itching with "
    f"severe dizziness or severe nausea in the first {_h(ANAPHYLAXIS_COMBINED_HOURS)} hours "
    "(contrast, local anaesthetic, steroid or antiseptic).",
    when=AnyOf(
        (
            Has((K.face_lip_tongue_swelling,)),
            AllOf(
                (Has((K.rash_or_itching,)), Has((K.dizziness, K.nausea), SEVERE)),
                window=HoursWindow("<=", ANAPHYLAXIS_COMBINED_HOURS),
            ),
        )
    ),
)

BILATERAL_NEURO_SIGNS = Rule(
    id="bilateral_neuro_signs",
    version=1,
    severity="emergency",
    title="Weakness or numbness in both legs",
    description="Weakness or numbness in both legs, of any severity, after a one-sided block "
    "(spread to the spinal canal early, or a spinal bleed or abscess later).",
    when=OneSidedBlock(Has((K.weakness_both_legs,))),
)

SPINAL_COMPLICATION_SIGNS = AnyOf(
    (
        AllOf(
            (Has((K.back_pain_deep,)), FEVER_OR_REAL_CHILLS),
            window=_after(SPINAL_FEVER_AFTER_HOURS),
        ),
        AllOf(
            (Has((K.back_pain_deep,)), Has((K.leg_weakness, K.numbness, K.unable_to_walk))),
            window=_after(SPINAL_NEURO_AFTER_HOURS),
        ),
    )
)
# Deep back pain is the first sign of a spinal haematoma or abscess.
POSSIBLE_SPINAL_COMPLICATION = Rule(
    id="possible_spinal_complication",
    version=1,
    severity="emergency",
    title="Possible spinal haematoma or abscess",
    description="Deep back pain with a temperature of "
    f"{FEVER_CELSIUS:.1f} °C or more or moderate or severe chills, more than "
    f"{_h(SPINAL_FEVER_AFTER_HOURS)} hours after the block; or deep back pain with leg "
    f"weakness, numbness or being unable to walk, more than {_h(SPINAL_NEURO_AFTER_HOURS)} "
    "hours after it.",
    when=SPINAL_COMPLICATION_SIGNS,
)

SEIZURE = Rule(
    id="seizure",
    version=1,
    severity="emergency",
    title="Seizure",
    description="A seizure, fit or uncontrolled jerking, at any time (local-anaesthetic "
    "toxicity or meningitis).",
    when=Has((K.seizure,)),
)

LOCAL_ANESTHETIC_TOXICITY = Rule(
    id="local_anesthetic_toxicity",
    version=1,
    severity="emergency",
    title="Possible local-anaesthetic toxicity",
    description="Ringing in the ears, a metallic taste, or numbness around the mouth, lips or "
    f"tongue, of any severity, in the first {_h(TOXICITY_HOURS)} hours after the block.",
    when=Has(
        (K.ringing_ears_or_metallic_taste, K.numb_lips_or_tongue),
        window=HoursWindow("<=", TOXICITY_HOURS),
    ),
)

SEVERE_BACK_PAIN = Rule(
    id="severe_back_pain",
    version=1,
    severity="urgent",
    title="Severe deep back pain",
    description="Severe deep back pain, when possible_spinal_complication does not fire.",
    when=Unless(
        Has((K.back_pain_deep,), SEVERE),
        SPINAL_COMPLICATION_SIGNS,
        note="not an emergency at this hour (fever or chills count after 24 h, leg signs after 12 h)",
    ),
)

POST_DURAL_PUNCTURE_HEADACHE = Rule(
    id="post_dural_puncture_headache",
    version=1,
    severity="urgent",
    title="Possible spinal headache",
    description="A headache that is worse sitting or standing and better lying down, of any "
    "severity (treatable with a blood patch).",
    when=Has((K.headache_when_upright,)),
)

SEVERE_NAUSEA = Rule(
    id="severe_nausea",
    version=1,
    severity="urgent",
    title="Severe nausea",
    description="Severe nausea (low blood pressure, spinal headache, meningitis or bleeding; "
    "fluids and medicines not kept down).",
    when=Has((K.nausea,), SEVERE),
)

ISOLATED_NECK_STIFFNESS = Rule(
    id="isolated_neck_stiffness",
    version=1,
    severity="urgent",
    title="Neck stiffness",
    description="Moderate or severe neck stiffness with no headache, no chills and no fever in "
    "the report (an early meningeal or spinal-headache sign).",
    when=Unless(
        Has((K.neck_stiffness,), MODERATE),
        # A headache worse upright is a headache too: with it, the stiffness is not isolated.
        AnyOf((Has((K.headache, K.headache_when_upright, K.chills)), FEVER)),
        note="no headache, chills or fever in the report",
    ),
)

HIGH_BLOOD_GLUCOSE = Rule(
    id="high_blood_glucose",
    version=1,
    severity="urgent",
    title="High blood sugar",
    description=f"A blood glucose of {HIGH_GLUCOSE_MMOL:.1f} mmol/L (400 mg/dL) or more (a "
    "steroid raises blood sugar in people with diabetes).",
    when=Glucose(HIGH_GLUCOSE_MMOL),
)

# Beyond the clinical review's version 2: a diabetic patient logging a hypoglycaemic reading after a steroid
# block would otherwise be told their sugar is "below 22.2 mmol/L" as if that were reassuring.
LOW_BLOOD_GLUCOSE = Rule(
    id="low_blood_glucose",
    version=1,
    severity="urgent",
    title="Low blood sugar",
    description=f"A blood glucose below {LOW_GLUCOSE_MMOL:.1f} mmol/L (70 mg/dL).",
    when=Glucose(LOW_GLUCOSE_MMOL, below=True),
)

BURNING_PAIN_WORSE = Rule(
    id="burning_pain_worse",
    version=1,
    severity="routine",
    title="Burning pain worse",
    description=f"More than {_h(BURNING_PAIN_WORSE_AFTER_HOURS)} hours after the block, severe "
    "burning pain when it is a baseline symptom and the previous report had it mild or "
    "moderate (the block wearing off, or a new neuralgia).",
    when=WorseThanPrevious(
        K.burning_pain,
        window=_after(BURNING_PAIN_WORSE_AFTER_HOURS),
        at_least=SEVERE,
        from_none=False,
        only_if_baseline=True,
    ),
)

VERSION_2: tuple[Rule, ...] = (
    v1.BREATHING_DIFFICULTY,
    v1.CAUDA_EQUINA,
    v1.FAINTING,
    v1.ALTERED_MENTAL_STATE,
    POSSIBLE_INTERNAL_BLEEDING,
    INFECTION_WITH_NEURO_SIGNS,
    v1.WORSENING_WEAKNESS,
    POSSIBLE_ANAPHYLAXIS,
    BILATERAL_NEURO_SIGNS,
    POSSIBLE_SPINAL_COMPLICATION,
    SEIZURE,
    LOCAL_ANESTHETIC_TOXICITY,
    v1.FEVER,
    SITE_INFECTION,
    PERSISTENT_NUMBNESS_OR_WEAKNESS,
    NEW_BURNING_PAIN,
    v1.BLEEDING,
    v1.ALLERGIC_REACTION,
    v1.URINARY_TRACT_INJURY,
    v1.SEVERE_HEADACHE,
    PERSISTENT_DIZZINESS,
    PAIN_ESCALATION,
    v1.OTHER_SEVERE,
    SEVERE_BACK_PAIN,
    POST_DURAL_PUNCTURE_HEADACHE,
    SEVERE_NAUSEA,
    ISOLATED_NECK_STIFFNESS,
    HIGH_BLOOD_GLUCOSE,
    LOW_BLOOD_GLUCOSE,
    PAIN_FLARE,
    v1.PROLONGED_SITE_SYMPTOMS,
    BURNING_PAIN_WORSE,
    v1.NO_RELIEF,
    v1.MISSED_CHECKIN,
)
