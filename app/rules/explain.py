"""Words and numbers as a clinician (and a patient) reads them."""

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.rules.thresholds import GLUCOSE_MG_PER_MMOL
from app.rules.vocabulary import Severity, SideEffectKind

LABELS: dict[SideEffectKind, str] = {
    SideEffectKind.soreness: "soreness",
    SideEffectKind.bruising: "bruising",
    SideEffectKind.swelling: "swelling",
    SideEffectKind.site_redness: "redness at the injection site",
    SideEffectKind.site_drainage: "drainage from the injection site",
    SideEffectKind.bleeding: "bleeding",
    SideEffectKind.leg_warmth: "leg warmth",
    SideEffectKind.numbness: "numbness",
    SideEffectKind.leg_weakness: "leg weakness",
    SideEffectKind.tingling: "tingling",
    SideEffectKind.burning_pain: "burning pain",
    SideEffectKind.unable_to_walk: "unable to walk",
    SideEffectKind.dizziness: "dizziness",
    SideEffectKind.fainting: "fainting",
    SideEffectKind.headache: "headache",
    SideEffectKind.neck_stiffness: "neck stiffness",
    SideEffectKind.nausea: "nausea",
    SideEffectKind.chills: "chills",
    SideEffectKind.confusion: "confusion",
    SideEffectKind.rash_or_itching: "rash or itching",
    SideEffectKind.breathing_difficulty: "breathing difficulty",
    SideEffectKind.chest_pain: "chest pain",
    SideEffectKind.bladder_bowel_change: "bladder or bowel change",
    SideEffectKind.saddle_numbness: "saddle numbness",
    SideEffectKind.flank_pain: "flank pain",
    SideEffectKind.blood_in_urine: "blood in urine",
    SideEffectKind.other: "other symptom (see notes)",
    SideEffectKind.weakness_both_legs: "weakness or numbness in both legs",
    SideEffectKind.back_pain_deep: "deep back pain",
    SideEffectKind.face_lip_tongue_swelling: "swelling of the face, lips or tongue",
    SideEffectKind.seizure: "seizure",
    SideEffectKind.ringing_ears_or_metallic_taste: "ringing ears or metallic taste",
    SideEffectKind.numb_lips_or_tongue: "numb lips or tongue",
    SideEffectKind.headache_when_upright: "headache worse upright",
    SideEffectKind.burning_pain_new_area: "burning pain in a new area",
    SideEffectKind.facial_flushing: "facial flushing",
}

# The patient's words where the clinician's label could mislead (docs/clinical-rules.md,
# vocabulary): "saddle" is jargon, and groin numbness on the side of the block is the expected
# effect, reported as numbness; so saddle numbness never mentions the groin.
PATIENT_WORDS: dict[SideEffectKind, str] = {
    SideEffectKind.saddle_numbness: "numbness between the legs or around the back passage "
    "(you cannot feel the toilet paper), or on both buttocks",
    SideEffectKind.flank_pain: "pain in your side, lower belly or deep in the groin, not the "
    "soreness where the needle went in",
    SideEffectKind.back_pain_deep: "deep or worsening pain in the back",
    SideEffectKind.ringing_ears_or_metallic_taste: "ringing in the ears or a metallic taste",
    SideEffectKind.numb_lips_or_tongue: "numbness around the mouth, lips or tongue",
    SideEffectKind.headache_when_upright: "a headache that is worse sitting or standing and "
    "better lying down",
    SideEffectKind.burning_pain_new_area: "burning or shooting pain in a new place",
    SideEffectKind.facial_flushing: "face flushing, feeling hot or sweating",
}

SEVERITY_WORDS: dict[Severity, str] = {
    Severity.mild: "any severity",
    Severity.moderate: "moderate or severe",
    Severity.severe: "severe",
}


def for_patient(kind: SideEffectKind, severity: Severity) -> str:
    """The symptom in the patient's guidance message: 'leg weakness (severe)'."""
    if kind == SideEffectKind.other:
        return f"the symptom you described ({severity.value})"
    return f"{PATIENT_WORDS.get(kind, LABELS[kind])} ({severity.value})"


def label(kind: SideEffectKind) -> str:
    return LABELS[kind]


def with_severity(kind: SideEffectKind, severity: Severity) -> str:
    """'leg weakness (severe)'."""
    return f"{LABELS[kind]} ({severity.value})"


def number(value: float) -> str:
    """One decimal, without a trailing '.0': 12 -> '12', 12.25 -> '12.2', 6.5 -> '6.5'."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def hours_text(hours: float) -> str:
    """'31 h', '12.5 h'; from 72 h on the days too: '340 h (14.2 days)'."""
    text = f"{number(hours)} h"
    if hours >= 72:
        text += f" ({number(hours / 24)} days)"
    return text


def utc_text(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def joined(items: Sequence[str], last: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def day_text(at: datetime, timezone: str) -> str:
    """'1 December 2026': the date where the patient is (a block at 22:00 UTC is the next
    day in Sydney, and the patient tells the ambulance their date)."""
    try:
        day = at.astimezone(ZoneInfo(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        day = at.astimezone(UTC)
    return f"{day.day} {day:%B %Y}"


def glucose_text(mmol: float) -> str:
    """'24.0 mmol/L (432 mg/dL)': both units, as a diabetic patient's meter may show either."""
    return f"{mmol:.1f} mmol/L ({mmol * GLUCOSE_MG_PER_MMOL:.0f} mg/dL)"
