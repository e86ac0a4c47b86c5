"""Who may scrape, and the gauges read from the database when scraped."""

import hmac
import ipaddress
from datetime import datetime

from sqlalchemy import Executable, func, select
from starlette.exceptions import HTTPException

from app.alerts.models import Alert
from app.core.config import Settings
from app.core.deps import Services
from app.core.domain_errors import NotAuthenticated
from app.outbox.models import OutboxEvent

# The oldest undispatched event: the partial index ix_outbox_events_undispatched holds only
# those, in created_at order, so this reads one index entry however long the history is.
_OLDEST_UNDISPATCHED = select(func.min(OutboxEvent.created_at)).where(
    OutboxEvent.dispatched_at.is_(None)
)

# The earliest escalation deadline not yet acted on: escalation, acknowledgement and
# resolution all clear escalate_at, so ix_alerts_escalate_at answers with one entry.
_EARLIEST_ESCALATION = select(func.min(Alert.escalate_at))


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # "unknown" (no peer address, a Unix socket): not known to be local
        return False


def check_scraper(settings: Settings, address: str, authorization: str | None) -> None:
    """Without AFTERCARE_METRICS_TOKEN, loopback callers only; anyone else is told there is
    nothing here (404), as for any unknown path: there is no credential they could bring.
    With it, every caller, loopback too, must bring it (401): the operator chose a token,
    and a reverse proxy on the same host not named in AFTERCARE_FORWARDED_ALLOW_IPS makes
    every outside request look local.

    With AFTERCARE_FORWARDED_ALLOW_IPS set (to anything) nobody is exempt as loopback: the
    address is then whatever X-Forwarded-For says, and with "*" (common in containers) any
    client can say 127.0.0.1. Only the token lets a caller in; without one, 404 for all."""
    token = settings.metrics_token
    if not token:
        if settings.forwarded_allow_ips or not is_loopback(address):
            # The router's own 404 for a path it does not know, byte for byte (a domain
            # NotFound would name what was not found, and so tell that something is here).
            raise HTTPException(404)
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise NotAuthenticated("the metrics token is required")


async def outbox_lag_seconds(services: Services, now: datetime) -> float:
    """How long the oldest event not yet fanned out has waited, by the app's clock."""
    return await _seconds_past(services, _OLDEST_UNDISPATCHED, now)


async def escalation_overdue_seconds(services: Services, now: datetime) -> float:
    """How long past its deadline the most overdue escalation is: near 0 while a worker
    runs anywhere, growing when none does (whichever process it was to run in)."""
    return await _seconds_past(services, _EARLIEST_ESCALATION, now)


async def _seconds_past(services: Services, earliest: Executable, now: datetime) -> float:
    moment: datetime | None = await services.db.lookup_scalar(earliest, {})
    if moment is None:
        return 0.0
    # Aware on both databases: min() keeps the column's type (core/models.py, UTCDateTime).
    waited: float = (now - moment).total_seconds()
    return max(0.0, waited)  # 0 too when the moment is still ahead
