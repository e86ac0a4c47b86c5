"""private_key_jwt at the token endpoint, with real RS384 and ES384 key pairs (tests/keys.py):
a valid assertion gets a token; a replayed jti, an expired assertion, a wrong `aud`, an unknown
`kid` and a wrong key are all 401 invalid_client."""

from datetime import timedelta
from typing import Any

import pytest

from app.integrations.assertions import CLIENT_ASSERTION_TYPE
from tests.helpers import Api
from tests.keys import TestKey, make_ec_key, make_rsa_key, public_jwks, sign_assertion
from tests.test_integrations import TOKEN, assert_oauth_error, new_client

pytestmark = pytest.mark.anyio
TOKEN_URL = "http://aftercare.test" + TOKEN

KEYS = {"RS384": make_rsa_key("rsa-1"), "ES384": make_ec_key("ec-1")}
# The same kid as the registered key but another key pair: its signature must not verify.
IMPOSTORS = {"RS384": make_rsa_key("impostor-rsa"), "ES384": make_ec_key("impostor-ec")}


async def _request(api: Api, assertion: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": "patients:read",
    }
    return await api.client.post(TOKEN, data=form)


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
async def test_a_valid_assertion_gets_a_token_once(api: Api, alg: str) -> None:
    key = KEYS[alg]
    client = await new_client(api, api.world.a.admin, ["patients:read"], jwks=public_jwks(key))
    assert "client_secret" not in client and client["auth_methods"] == ["private_key_jwt"]
    assertion = sign_assertion(key, client["client_id"], TOKEN_URL, api.clock.now())
    response = await _request(api, assertion)
    assert response.status_code == 200, response.text
    assert response.json()["expires_in"] == 300
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert (await api.client.get("/v1/patients", headers=bearer)).status_code == 200
    assert_oauth_error(await _request(api, assertion), 401, "invalid_client")  # replayed jti


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
@pytest.mark.parametrize("case", ["expired", "too_long", "wrong_aud", "unknown_kid", "wrong_key"])
async def test_a_bad_assertion_is_invalid_client(api: Api, alg: str, case: str) -> None:
    key = KEYS[alg]
    client = await new_client(api, api.world.a.admin, ["patients:read"], jwks=public_jwks(key))
    client_id, now = client["client_id"], api.clock.now()
    impostor = IMPOSTORS[alg]
    signer: TestKey = {
        "unknown_kid": impostor,
        "wrong_key": TestKey(key.kid, impostor.alg, impostor.private_key),
    }.get(case, key)
    cases: dict[str, dict[str, Any]] = {
        "expired": {"exp_in": timedelta(seconds=-1)},
        "too_long": {"exp_in": timedelta(minutes=6)},
        "wrong_aud": {"aud": "https://elsewhere.example/v1/auth/token"},
    }
    options = cases.get(case, {})
    response = await _request(api, sign_assertion(signer, client_id, TOKEN_URL, now, **options))
    assert_oauth_error(response, 401, "invalid_client")


async def test_with_a_public_base_url_the_aud_is_its_token_url(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind a proxy the Host header is the caller's to choose: the configured public base
    URL decides the token endpoint's URL, in the metadata and as the assertion's `aud`."""
    services = api.app.state.services
    public = "https://aftercare.example"
    settings = services.settings.model_copy(update={"public_base_url": public + "/"})
    monkeypatch.setattr(services, "settings", settings)
    metadata = (await api.client.get("/.well-known/oauth-authorization-server")).json()
    assert metadata["issuer"] == public
    assert metadata["token_endpoint"] == public + TOKEN
    smart = (await api.client.get("/fhir/r4/.well-known/smart-configuration")).json()
    assert smart["token_endpoint"] == public + TOKEN
    key = KEYS["ES384"]
    client = await new_client(api, api.world.a.admin, ["patients:read"], jwks=public_jwks(key))
    now = api.clock.now()
    from_host = await _request(api, sign_assertion(key, client["client_id"], TOKEN_URL, now))
    assert_oauth_error(from_host, 401, "invalid_client")
    accepted = await _request(api, sign_assertion(key, client["client_id"], public + TOKEN, now))
    assert accepted.status_code == 200, accepted.text


async def test_assertion_failures_tell_nothing_about_the_client(api: Api) -> None:
    """No keys, an unknown kid, a wrong key, an unknown client: one and the same answer."""
    key = KEYS["RS384"]
    with_keys = await new_client(api, api.world.a.admin, ["patients:read"], jwks=public_jwks(key))
    without = await new_client(api, api.world.a.admin, ["patients:read"])
    now = api.clock.now()
    impostor = IMPOSTORS["RS384"]
    answers = [
        await _request(api, sign_assertion(signer, client_id, TOKEN_URL, now))
        for signer, client_id in (
            (key, without["client_id"]),
            (impostor, with_keys["client_id"]),
            (TestKey(key.kid, impostor.alg, impostor.private_key), with_keys["client_id"]),
            (key, "00000000-0000-4000-8000-000000000000"),
        )
    ]
    for response in answers:
        assert_oauth_error(response, 401, "invalid_client")
        assert response.json() == answers[0].json()
    assert answers[0].json()["error_description"] == "client authentication failed"
