"""Expected effects of the block (red-flags.md, "Expected effects (no alert)"), as data.

A report whose side effects are all listed here at their hour, and that fires no rule, gets the
"expected" guidance with the advice below.
"""

from dataclasses import dataclass

from app.rules.thresholds import (
    BLOCK_WEARS_OFF_HOURS,
    DIZZINESS_ANY_AFTER_HOURS,
    SITE_SYMPTOMS_HOURS,
)
from app.rules.vocabulary import Severity
from app.rules.vocabulary import SideEffectKind as K

DIZZINESS_EXPECTED_HOURS = DIZZINESS_ANY_AFTER_HOURS  # mild dizziness up to 24 h


@dataclass(frozen=True, slots=True)
class ExpectedEffect:
    """A side effect that is normal after the block (red-flags.md, "Expected effects")."""

    kinds: tuple[K, ...]
    advice: str  # '{label}' and '{hours}' are filled in
    at_most: Severity = Severity.severe
    up_to_hours: float | None = None  # inclusive; None: any time


EXPECTED_EFFECTS: tuple[ExpectedEffect, ...] = (
    ExpectedEffect(
        (K.leg_warmth,),
        "{Label} is an expected effect of the block and is normal at any time after it.",
    ),
    ExpectedEffect(
        (K.numbness, K.leg_weakness, K.tingling),
        "{Label} is expected for up to {hours} hours after the block and should wear off by then. "
        "Take care when standing or walking until it has.",
        up_to_hours=BLOCK_WEARS_OFF_HOURS,
    ),
    ExpectedEffect(
        (K.soreness, K.bruising, K.swelling),
        "{Label} where the needle went in is expected for up to {hours} hours (4 days) after the block.",
        up_to_hours=SITE_SYMPTOMS_HOURS,
    ),
    ExpectedEffect(
        (K.dizziness,),
        "Mild dizziness is expected for up to {hours} hours after the block. "
        "Get up slowly, and sit or lie down if you feel light-headed.",
        at_most=Severity.mild,
        up_to_hours=DIZZINESS_EXPECTED_HOURS,
    ),
    ExpectedEffect(
        (K.headache, K.nausea),
        "Mild or moderate {label} is common after the procedure. Report it again if it becomes severe.",
        at_most=Severity.moderate,
    ),
)
