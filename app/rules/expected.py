"""Expected effects of the block (docs/clinical-rules.md, "Expected effects"), as data.

A report whose side effects are all listed here at their hour, and that fires no rule, gets the
"expected" guidance with the advice below. Version 2 adds entries; the kinds version 2 added to
the vocabulary are never expected under version 1.
"""

from dataclasses import dataclass

from app.rules.explain import capitalized, label, number
from app.rules.thresholds import (
    BLEEDING_EXPECTED_HOURS,
    BLOCK_WEARS_OFF_HOURS,
    DIZZINESS_ANY_AFTER_HOURS,
    DIZZINESS_MODERATE_AFTER_HOURS,
    FLUSHING_EXPECTED_HOURS,
    HIGH_GLUCOSE_MMOL,
    SITE_REDNESS_EXPECTED_HOURS,
    SITE_SYMPTOMS_HOURS,
)
from app.rules.vocabulary import Severity
from app.rules.vocabulary import SideEffectKind as K

DIZZINESS_EXPECTED_HOURS = DIZZINESS_ANY_AFTER_HOURS  # mild dizziness up to 24 h


@dataclass(frozen=True, slots=True)
class ExpectedEffect:
    """A side effect that is normal after the block."""

    kinds: tuple[K, ...]
    advice: str  # '{Label}', '{label}' and '{hours}' are filled in
    at_most: Severity = Severity.severe
    up_to_hours: float | None = None  # inclusive; None: any time
    needs_steroid: bool = False  # only after a block that included a steroid

    def advice_for(self, kind: K) -> str:
        hours = number(self.up_to_hours) if self.up_to_hours is not None else ""
        return self.advice.format(Label=capitalized(label(kind)), label=label(kind), hours=hours)


LEG_WARMTH = ExpectedEffect(
    (K.leg_warmth,),
    "{Label} is an expected effect of the block and is normal at any time after it.",
)
# Groin and front-of-thigh numbness on the side of the block is this effect (after up to 40 %
# of L4 blocks); saying so keeps patients from reporting it as saddle numbness.
NUMBNESS = ExpectedEffect(
    (K.numbness,),
    "{Label} is expected for up to {hours} hours after the block and should wear off by then; "
    "numbness in the groin or the front of the thigh on the side of the block is part of this "
    "and wears off too. Take care when standing or walking until it has.",
    up_to_hours=BLOCK_WEARS_OFF_HOURS,
)
WEAKNESS_OR_TINGLING = ExpectedEffect(
    (K.leg_weakness, K.tingling),
    "{Label} is expected for up to {hours} hours after the block and should wear off by then. "
    "Take care when standing or walking until it has.",
    up_to_hours=BLOCK_WEARS_OFF_HOURS,
)
SITE_SYMPTOMS = ExpectedEffect(
    (K.soreness, K.bruising, K.swelling),
    "{Label} where the needle went in is expected for up to {hours} hours (4 days) after the block.",
    up_to_hours=SITE_SYMPTOMS_HOURS,
)
MILD_DIZZINESS = ExpectedEffect(
    (K.dizziness,),
    "Mild dizziness is expected for up to {hours} hours after the block. "
    "Get up slowly, and sit or lie down if you feel light-headed.",
    at_most=Severity.mild,
    up_to_hours=DIZZINESS_EXPECTED_HOURS,
)
HEADACHE_OR_NAUSEA = ExpectedEffect(
    (K.headache, K.nausea),
    "Mild or moderate {label} is common after the procedure. Report it again if it becomes severe.",
    at_most=Severity.moderate,
)

VERSION_1: tuple[ExpectedEffect, ...] = (
    LEG_WARMTH,
    NUMBNESS,
    WEAKNESS_OR_TINGLING,
    SITE_SYMPTOMS,
    MILD_DIZZINESS,
    HEADACHE_OR_NAUSEA,
)

VERSION_2: tuple[ExpectedEffect, ...] = (
    *VERSION_1,
    ExpectedEffect(
        (K.dizziness,),
        "Moderate dizziness is common for up to {hours} hours after the block. Get up slowly, "
        "sit or lie down if you feel light-headed, and do not drive.",
        at_most=Severity.moderate,
        up_to_hours=DIZZINESS_MODERATE_AFTER_HOURS,
    ),
    ExpectedEffect(
        (K.site_redness,),
        "Mild or moderate {label} is common for up to {hours} hours after the block.",
        at_most=Severity.moderate,
        up_to_hours=SITE_REDNESS_EXPECTED_HOURS,
    ),
    ExpectedEffect(
        (K.bleeding,),
        "A little bleeding on the dressing is common in the first {hours} hours: press firmly "
        "for 10 minutes; call if it soaks through.",
        at_most=Severity.mild,
        up_to_hours=BLEEDING_EXPECTED_HOURS,
    ),
    ExpectedEffect(
        (K.facial_flushing,),
        "Face flushing, feeling hot or sweating is common for up to {hours} hours after a "
        "steroid injection and settles by itself.",
        up_to_hours=FLUSHING_EXPECTED_HOURS,
        needs_steroid=True,
    ),
)

# Version 2: a blood glucose below the high_blood_glucose threshold after a steroid block.
STEROID_GLUCOSE_ADVICE = (
    f"Your blood sugar is below {HIGH_GLUCOSE_MMOL:.1f} mmol/L (400 mg/dL). The steroid in the "
    "injection can raise blood sugar for a day or two: if you have diabetes, keep checking it, "
    "and call your diabetes team if it stays high."
)
