"""What both /metrics test modules share: a database of each test's own, and a parsed scrape.

Each test has a database of its own: the counters and the outbox lag are compared exactly,
and the worker and the clock would otherwise also act on every other test's blocks. A test
module takes these fixtures by binding them to the same names (pytest finds fixtures by name
in the module); tests/conftest.py's session-wide ones are shadowed there only."""

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.core.migrations import upgrade
from tests.conftest import START, UNTHROTTLED
from tests.helpers import World, build_world, loopback_webhook_settings


@pytest.fixture
def database_url(backend: str, empty_database_factory: object) -> str:
    url: str = empty_database_factory(backend)  # type: ignore[operator]
    asyncio.run(upgrade(url))
    return url


@pytest.fixture
def world(database_url: str) -> World:
    return asyncio.run(build_world(database_url, START))


@pytest.fixture
def settings(database_url: str) -> Settings:
    base = loopback_webhook_settings(database_url)
    return base.model_copy(update=UNTHROTTLED)


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when there is none (a labelled counter not yet used)."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, found
        return found[0] if found else 0.0

    def labels(self, name: str) -> list[dict[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)
