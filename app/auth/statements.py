"""The identity check's prebuilt statements, written as app/core/prebuilt.py says: one of them
runs on every authenticated request (identity.py), to see that the token's session, device or
client is still live and the key that signed it not retired."""

from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, exists, select

from app.core.keyring import SigningKeyRecord
from app.credentials.models import PatientDevice, StaffSession
from app.integrations.models import IntegrationClient
from app.staff.models import StaffUser


def _key_in_service() -> Any:
    return exists().where(
        SigningKeyRecord.kid == bindparam("kid"), SigningKeyRecord.retired_at.is_(None)
    )


@cache
def staff_statement() -> Select[Any]:
    """Every staff request: the session open, the user active, their role as of now."""
    return (
        select(StaffUser.role)
        .join(StaffSession, StaffSession.user_id == StaffUser.id)
        .where(
            StaffSession.id == bindparam("sid"),
            StaffUser.id == bindparam("sub"),
            StaffUser.clinic_id == bindparam("clinic"),
            StaffUser.active.is_(True),
            StaffSession.ended_at.is_(None),
            StaffSession.expires_at > bindparam("now"),
            _key_in_service(),
        )
    )


@cache
def device_statement() -> Select[Any]:
    """Every patient request: the device not revoked."""
    return select(PatientDevice.id).where(
        PatientDevice.id == bindparam("sid"),
        PatientDevice.patient_id == bindparam("sub"),
        PatientDevice.clinic_id == bindparam("clinic"),
        PatientDevice.revoked_at.is_(None),
        _key_in_service(),
    )


@cache
def client_statement() -> Select[Any]:
    """Every integration client request: the client not revoked, and the scopes it holds now."""
    return select(IntegrationClient.scopes).where(
        IntegrationClient.id == bindparam("sid"),
        IntegrationClient.id == bindparam("sub"),
        IntegrationClient.clinic_id == bindparam("clinic"),
        IntegrationClient.revoked_at.is_(None),
        _key_in_service(),
    )
