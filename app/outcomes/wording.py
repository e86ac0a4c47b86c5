"""Relief figures in words, the same on both charts and in the outcome sentences.

`relief_duration_hours` counts from the block, not from the onset of relief: 30 means relief
lasted until 30 h after the block, which is 10 h of relief if it began at 20 h. So the words
name both ends, never "lasted 30 h"."""

from datetime import datetime

from app.outcomes.svg import hours_label
from app.rules.relief import hours_between


def until_words(until_hours: float, ongoing: bool) -> str:
    """'until 30 h', or while relief goes on 'ongoing at 30 h' (hours after the block)."""
    return f"{'ongoing at' if ongoing else 'until'} {hours_label(until_hours)}"


def from_words(performed_at: datetime, onset_at: datetime) -> str:
    """'from 20 h': the onset of relief, in hours after the block."""
    return f"from {hours_label(hours_between(performed_at, onset_at))}"


def relief_words(
    performed_at: datetime, onset_at: datetime, until_hours: float, ongoing: bool
) -> str:
    """'relief until 30 h after the block (from 20 h)', or 'relief ongoing at 30 h after the
    block (from 20 h)'."""
    until = until_words(until_hours, ongoing)
    return f"relief {until} after the block ({from_words(performed_at, onset_at)})"
