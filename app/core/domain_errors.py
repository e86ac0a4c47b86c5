"""Every way a request can fail, named for what went wrong, with no HTTP in it.

Services, routers and core helpers raise these; app/core/errors.py holds the one table that
turns each into problem+json (status, type, headers, errors). `detail` is the sentence the
client reads: it must never quote patient data.

This module imports nothing of the app, so any module may raise from it.
"""

from typing import Any

from pydantic import BaseModel

# The detail of every validation problem: the errors list says what is wrong, and where.
SEE_ERRORS = "The request is not valid; see errors."


class DomainError(Exception):
    """Raised where a request cannot be done. Never raised itself: each subclass has its row
    in app/core/errors.py, and tests/test_domain_errors.py fails for one without."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    """`what` does not exist, or is another clinic's or another patient's: the two answer the
    same, so tenancy is never disclosed."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


class InvalidField(DomainError):
    """A body field breaks a rule pydantic cannot check alone (it needs the clock or stored
    data). `field` is the field's name in the body."""

    def __init__(self, field: str, msg: str) -> None:
        super().__init__(SEE_ERRORS)
        self.field = field
        self.msg = msg


class InvalidParameter(DomainError):
    """A query parameter breaks a rule its declaration cannot state (one bound after another)."""

    def __init__(self, name: str, msg: str) -> None:
        super().__init__(SEE_ERRORS)
        self.name = name
        self.msg = msg


class InvalidCursor(DomainError):
    """A paging cursor this API did not make, or made for another listing."""

    def __init__(self) -> None:
        super().__init__("the cursor is not valid")


class AlreadyExists(DomainError):
    """Something with the same identity exists: an MRN in the clinic, a staff e-mail, a
    client_report_id already used for a different report."""


class StateConflict(DomainError):
    """The thing's current state refuses the change (an alert already resolved, a revoked
    client, a disabled webhook, the clinic's last admin); the same request may succeed once
    the state is different."""


class LimitReached(DomainError):
    """The clinic holds as many of something as it may; freeing one makes room."""


class ReportCapReached(LimitReached):
    """The block holds as many reports as it may (AFTERCARE_REPORTS_PER_BLOCK_CAP). The detail
    is what the patient's app shows: the report was not saved, and what to do now."""


class NotAuthenticated(DomainError):
    """No credential, or one that is invalid, expired or revoked."""


class NotPermitted(DomainError):
    """The caller is known but their role (or a client's scope) may not do this."""


class InvalidEnrollmentCode(DomainError):
    """An enrollment code that is unknown, used or expired: one answer for all three."""

    def __init__(self) -> None:
        super().__init__("the enrollment code is unknown, used or expired")


class TooManyRequests(DomainError):
    """A throttle refuses the caller until `retry_after` seconds have passed."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many attempts; try again in {retry_after} seconds")
        self.retry_after = retry_after


class TooManyPasswordChecks(DomainError):
    """The server is checking as many passwords as it can queue, whoever the caller is."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many password checks at once; try again shortly")
        self.retry_after = retry_after


class ServiceMisconfigured(DomainError):
    """The service cannot do this until its operator fixes its configuration; the detail says
    so without saying how (the operator's explanation goes to the log)."""


def changes_of(body: BaseModel, *, required: tuple[str, ...]) -> dict[str, Any]:
    """The fields a PATCH body sets; a required field may be left out but not set to null."""
    changes = body.model_dump(exclude_unset=True)
    for name in required:
        if name in changes and changes[name] is None:
            raise InvalidField(name, "must not be null")
    return changes
