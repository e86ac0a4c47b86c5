"""Pure checks of webhook pieces that tests/test_webhooks.py drives end to end."""

import random
from datetime import timedelta

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.webhooks.delivery import retry_delay
from app.webhooks.targets import UnsafeTarget, ascii_host, check_shape

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("attempts", [1, 14, 29, 200, 10_000])
def test_retry_delay_stays_within_the_cap_for_any_attempt_count(attempts: int) -> None:
    delay = retry_delay(attempts, random.Random(attempts))
    assert timedelta(seconds=7.5) <= delay <= timedelta(hours=4) * 1.25


def test_an_internationalised_host_goes_on_the_wire_as_idna() -> None:
    assert ascii_host("bücher.example") == "xn--bcher-kva.example"
    with pytest.raises(UnsafeTarget):
        check_shape("https://bad..name/hook", allow_private=False)


def test_a_lease_shorter_than_two_sends_is_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(webhook_timeout_seconds=10, webhook_lease_seconds=20)
