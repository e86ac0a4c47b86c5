"""Webhook targets that embed an IPv4 address in an IPv6 one are refused, whatever IPv4 they
carry and whatever `ipaddress.is_global` says, on registration and on a change of URL."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.core.config import Settings
from app.main import create_app
from app.webhooks.targets import is_public
from tests.helpers import TEST_SECRET, Api
from tests.problems import assert_problem

# (address, what it is). Python 3.11 calls every one of these but the Teredo ones global.
EMBEDDING = [
    ("::7f00:1", "IPv4-compatible 127.0.0.1"),
    ("::a9fe:a9fe", "IPv4-compatible 169.254.169.254 (cloud metadata)"),
    ("::808:808", "IPv4-compatible 8.8.8.8: refused although the IPv4 is public"),
    ("::ffff:7f00:1", "IPv4-mapped 127.0.0.1"),
    ("::ffff:808:808", "IPv4-mapped 8.8.8.8"),
    ("::ffff:0:7f00:1", "IPv4-translated 127.0.0.1"),
    ("::ffff:0:808:808", "IPv4-translated 8.8.8.8"),
    ("64:ff9b::7f00:1", "NAT64 well-known 127.0.0.1"),
    ("64:ff9b::808:808", "NAT64 well-known 8.8.8.8"),
    ("64:ff9b:1::7f00:1", "NAT64 local-use 127.0.0.1"),
    ("64:ff9b:1:ffff::808:808", "NAT64 local-use 8.8.8.8"),
    ("2002:7f00:1::1", "6to4 127.0.0.1"),
    ("2002:808:808::1", "6to4 8.8.8.8"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo, client 127.0.0.1"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo, client 8.8.8.8"),
]
GLOBAL = [
    "8.8.8.8",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "2003::1",
    "2001:4860:4860::8888",
]


@pytest.mark.unit
@pytest.mark.parametrize(("address", "what"), EMBEDDING)
def test_an_ipv6_address_carrying_an_ipv4_one_is_not_public(address: str, what: str) -> None:
    assert not is_public(address), what


@pytest.mark.unit
@pytest.mark.parametrize("address", GLOBAL)
def test_global_unicast_addresses_stay_public(address: str) -> None:
    # The neighbours of the refused ranges (2003::/16, 2001:4860::/32) must not be caught by them.
    assert is_public(address)


# The four, then one per remaining range; each refused on POST and on PATCH.
REFUSED_URLS = [
    "https://[::7f00:1]/",
    "https://[::ffff:0:7f00:1]/",
    "https://[64:ff9b:1::7f00:1]/",
    "https://[::a9fe:a9fe]/",
    "https://[::ffff:a9fe:a9fe]/latest/meta-data",
    "https://[64:ff9b::a9fe:a9fe]/",
    "https://[2002:a9fe:a9fe::1]/",
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    "https://[::808:808]:8443/hook",
    "https://[2002:808:808::1]/hook",
]
PUBLIC_URL = "https://[2606:4700:4700::1111]/hook"


@pytest.fixture
async def strict(api: Api, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same database and clock, served by an app that forbids private targets."""
    settings = Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        db_pool_size=2,
        allow_private_webhooks=False,
    )
    app = create_app(settings, api.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


def assert_url_refused(response: httpx.Response, url: str) -> None:
    (error,) = assert_problem(response, 422, "url")["errors"]
    assert error["loc"] == ["body", "url"], url
    assert "private, loopback or reserved" in error["msg"], url


@pytest.mark.anyio
async def test_ipv6_forms_of_internal_addresses_are_refused_on_post_and_patch(
    api: Api, strict: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    headers = clinic.admin.headers
    for url in REFUSED_URLS:
        response = await strict.post("/v1/webhooks", json={"url": url}, headers=headers)
        assert_url_refused(response, url)
    assert (await strict.get("/v1/webhooks", headers=headers)).json()["items"] == []

    created = await strict.post(
        "/v1/webhooks", json={"url": PUBLIC_URL, "events": ["alert.resolved"]}, headers=headers
    )
    assert created.status_code == 201, created.text
    path = f"/v1/webhooks/{created.json()['id']}"
    try:
        for url in REFUSED_URLS:
            response = await strict.patch(path, json={"url": url}, headers=headers)
            assert_url_refused(response, url)
        assert (await strict.get(path, headers=headers)).json()["url"] == PUBLIC_URL
    finally:  # never sent to by a later test's worker
        off = await strict.patch(path, json={"enabled": False}, headers=headers)
        assert off.status_code == 200, off.text
