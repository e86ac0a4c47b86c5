import pytest

from tests.helpers import Api

pytestmark = pytest.mark.anyio


async def test_healthz_and_readyz(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
