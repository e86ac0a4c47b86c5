"""What a staff password must be, checked when it is set (a new staff user, create-admin,
a password change), never at sign-in: an older weak password keeps working until changed.

Strength is zxcvbn's estimate (Dropbox's estimator, ported to Python), told the user's e-mail
and name so a password built from them scores as weak. zxcvbn's own dictionaries hold the
common-password lists (about 30,000 leaked passwords, ranked), so no second list is shipped.
"""

import re

from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # ships no type hints

MIN_LENGTH = 12
MIN_SCORE = 3  # zxcvbn: 3 "safely unguessable" (~10^8 guesses and more), 4 very strong
# zxcvbn's cost grows steeply with length (a second at 256 characters): it judges the first
# 72, its own default limit; a password strong over those stays strong whatever follows.
JUDGED_CHARACTERS = 72
# Shorter local parts ("jo", "a") turn up inside unrelated words; zxcvbn still weighs them.
MIN_LOCAL_PART = 4


def password_weakness(password: str, *, email: str, name: str | None) -> str | None:
    """Why the password may not be used, or None. Never quotes the password."""
    if not password.strip():
        return "must not be blank"
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    lowered, email = password.lower(), email.lower()
    local_part = email.partition("@")[0]
    holds_email = bool(email) and email in lowered
    holds_local_part = len(local_part) >= MIN_LOCAL_PART and local_part in lowered
    if holds_email or holds_local_part:
        return "must not contain the e-mail address"
    words = [email, local_part, *re.split(r"[^\w]+", local_part), *(name or "").split()]
    verdict = zxcvbn(password[:JUDGED_CHARACTERS], user_inputs=[w for w in words if w])
    if verdict["score"] < MIN_SCORE:
        warning = verdict["feedback"].get("warning") or "it is too easy to guess"
        return f"is too weak ({warning.rstrip('.')}); a few uncommon words make a strong one"
    return None
