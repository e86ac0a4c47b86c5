"""The client-assertion verifier (RFC 7523 private_key_jwt, SMART Backend Services): pure cases."""

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from app.integrations.assertions import (
    InvalidClientAssertion,
    unverified_client_id,
    validate_jwks,
    verify_client_assertion,
)
from tests.keys import TestKey, make_ec_key, make_rsa_key, public_jwks, sign_assertion

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 14, 30, 15, 250000, tzinfo=UTC)
CLIENT = "cli_7f3a9c"
TOKEN_URL = "https://aftercare.example/v1/auth/token"
RSA = make_rsa_key("rsa-1")
EC = make_ec_key("ec-1")
JWKS = public_jwks(RSA, EC)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims; a change to None drops the claim."""
    base: dict[str, Any] = {
        "iss": CLIENT,
        "sub": CLIENT,
        "aud": TOKEN_URL,
        "jti": "9c1d7c1e-4c55-4c39-9d0e-2a8a4d0f6a11",
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + timedelta(minutes=4)).timestamp()),
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(key: TestKey, body: dict[str, Any], **header: Any) -> str:
    # Through the JWS layer: jwt.encode refuses some of the malformed claims tried here.
    alg = header.pop("alg", key.alg)
    payload = json.dumps(body).encode()
    return jwt.api_jws.encode(payload, key.private_key, alg, headers={"kid": key.kid, **header})


def rsa_private_jwk() -> dict[str, Any]:
    assert isinstance(RSA.private_key, rsa.RSAPrivateKey)
    return RSAAlgorithm.to_jwk(RSA.private_key, as_dict=True)


def hs384_with_public_key() -> str:
    # The classic key-confusion forgery: HMAC keyed with the victim's public key, which anyone
    # can read. PyJWT refuses to make it, so it is assembled by hand.
    pem = RSA.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS384", "typ": "JWT", "kid": RSA.kid}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha384).digest()
    return f"{head}.{body}.{b64(mac)}"


def tampered() -> str:
    head, _, sig = sign_assertion(RSA, CLIENT, TOKEN_URL, NOW).split(".")
    return f"{head}.{b64(json.dumps(claims(sub='cli_someone_else')).encode())}.{sig}"


def at(now: datetime, **kw: Any) -> Callable[[], str]:
    return lambda: sign_assertion(RSA, CLIENT, TOKEN_URL, now, **kw)


ACCEPTED: list[tuple[str, Callable[[], str]]] = [
    ("RS384", lambda: sign_assertion(RSA, CLIENT, TOKEN_URL, NOW)),
    ("ES384", lambda: sign_assertion(EC, CLIENT, TOKEN_URL, NOW)),
    ("exp exactly 5 minutes ahead", at(NOW, exp_in=timedelta(minutes=5))),
    ("exp 1 s ahead", lambda: signed(RSA, claims(exp=int(NOW.timestamp()) + 1))),
    ("no iat", lambda: signed(EC, claims(iat=None))),
    ("iat 30 s ahead (clock skew)", lambda: signed(EC, claims(iat=int(NOW.timestamp()) + 30))),
    ("aud as a list holding the token URL", lambda: signed(EC, claims(aud=[TOKEN_URL]))),
]

REJECTED: list[tuple[str, Callable[[], str]]] = [
    ("expired", at(NOW - timedelta(minutes=10))),
    ("exp equal to now", lambda: signed(RSA, claims(exp=int(NOW.timestamp())))),
    ("exp more than 5 minutes ahead", at(NOW, exp_in=timedelta(minutes=5, seconds=2))),
    ("exp an hour ahead", at(NOW, exp_in=timedelta(hours=1))),
    ("exp a string", lambda: signed(RSA, claims(exp=str(int(NOW.timestamp()) + 60)))),
    ("exp true", lambda: signed(RSA, claims(exp=True))),
    ("missing exp", lambda: signed(RSA, claims(exp=None))),
    ("nbf 2 minutes ahead", lambda: signed(RSA, claims(nbf=int(NOW.timestamp()) + 120))),
    ("iat 2 minutes ahead", lambda: signed(RSA, claims(iat=int(NOW.timestamp()) + 120))),
    ("wrong aud", at(NOW, aud="https://elsewhere.example/token")),
    ("missing aud", lambda: signed(RSA, claims(aud=None))),
    ("iss and sub another client", lambda: sign_assertion(RSA, "cli_other", TOKEN_URL, NOW)),
    ("sub differs from iss", lambda: signed(RSA, claims(sub="cli_other"))),
    ("missing sub", lambda: signed(RSA, claims(sub=None))),
    ("iss a list", lambda: signed(RSA, claims(iss=[CLIENT]))),
    ("unknown kid", lambda: sign_assertion(make_ec_key("ec-unregistered"), CLIENT, TOKEN_URL, NOW)),
    ("no kid", lambda: jwt.encode(claims(), EC.private_key, algorithm="ES384")),
    (
        "another key under a registered kid",
        lambda: sign_assertion(
            replace(RSA, private_key=make_rsa_key("impostor").private_key), CLIENT, TOKEN_URL, NOW
        ),
    ),
    ("alg none", lambda: jwt.encode(claims(), "", algorithm="none", headers={"kid": RSA.kid})),
    ("HS384 keyed with the public key", hs384_with_public_key),
    ("RS256 with the registered key", lambda: signed(RSA, claims(), alg="RS256")),
    ("PS384 with the registered key", lambda: signed(RSA, claims(), alg="PS384")),
    ("ES384 header naming the RSA key", lambda: signed(replace(EC, kid=RSA.kid), claims())),
    ("ES256 with a P-256 key", lambda: signed(make_ec_key("p256", "P-256"), claims(), alg="ES256")),
    ("missing jti", lambda: signed(RSA, claims(jti=None))),
    ("empty jti", lambda: signed(RSA, claims(jti=""))),
    ("jti a number", lambda: signed(RSA, claims(jti=12345))),
    ("jti of 256 characters", lambda: signed(RSA, claims(jti="j" * 256))),
    ("tampered payload", tampered),
    (
        "signature stripped",
        lambda: sign_assertion(EC, CLIENT, TOKEN_URL, NOW).rsplit(".", 1)[0] + ".",
    ),
    ("not a JWT", lambda: "not-a-jwt"),
    ("empty", lambda: ""),
    ("oversized", lambda: "a" * 9000),
]


@pytest.mark.parametrize(("case", "make"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_accepted(case: str, make: Callable[[], str]) -> None:
    token = make()
    result = verify_client_assertion(
        token, jwks=JWKS, client_id=CLIENT, token_url=TOKEN_URL, now=NOW
    )
    payload = jwt.decode(token, options={"verify_signature": False})
    assert result.jti == payload["jti"]
    assert result.expires_at == datetime.fromtimestamp(payload["exp"], UTC)
    assert result.expires_at.tzinfo is not None


@pytest.mark.parametrize(("case", "make"), REJECTED, ids=[c for c, _ in REJECTED])
def test_rejected(case: str, make: Callable[[], str]) -> None:
    token = make()
    with pytest.raises(InvalidClientAssertion) as caught:
        verify_client_assertion(token, jwks=JWKS, client_id=CLIENT, token_url=TOKEN_URL, now=NOW)
    message = str(caught.value)
    assert message
    # The reason may be logged or returned; the token (or any part of it) never is.
    for part in token.split("."):
        if len(part) > 8:
            assert part not in message
    assert caught.value.__cause__ is None


def test_rejected_when_the_stored_set_holds_a_private_key() -> None:
    # validate_jwks refuses such a set; the verifier does not trust that it ran.
    leaked = {"keys": [{**RSA.public_jwk(), **rsa_private_jwk()}]}
    token = sign_assertion(RSA, CLIENT, TOKEN_URL, NOW)
    with pytest.raises(InvalidClientAssertion):
        verify_client_assertion(token, jwks=leaked, client_id=CLIENT, token_url=TOKEN_URL, now=NOW)


def test_a_naive_now_is_a_programming_error() -> None:
    token = sign_assertion(RSA, CLIENT, TOKEN_URL, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_client_assertion(
            token, jwks=JWKS, client_id=CLIENT, token_url=TOKEN_URL, now=NOW.replace(tzinfo=None)
        )


CLIENT_IDS: list[tuple[str, Callable[[], str], str | None]] = [
    ("signed", lambda: sign_assertion(EC, CLIENT, TOKEN_URL, NOW), CLIENT),
    ("read without verifying", lambda: signed(make_ec_key("unregistered"), claims()), CLIENT),
    ("sub differs", lambda: signed(EC, claims(sub="cli_other")), None),
    ("no iss", lambda: signed(EC, claims(iss=None)), None),
    ("iss a number", lambda: signed(EC, claims(iss=7, sub=7)), None),
    ("iss too long", lambda: signed(EC, claims(iss="c" * 256, sub="c" * 256)), None),
    ("not a JWT", lambda: "x.y", None),
    ("payload not JSON", lambda: f"{b64(b'{}')}.{b64(b'nope')}.", None),
]


@pytest.mark.parametrize(
    ("case", "make", "expected"), CLIENT_IDS, ids=[c for c, _, _ in CLIENT_IDS]
)
def test_unverified_client_id(case: str, make: Callable[[], str], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidClientAssertion):
            unverified_client_id(make())
    else:
        assert unverified_client_id(make()) == expected


def rsa_jwk(**changes: Any) -> dict[str, Any]:
    return {**RSA.public_jwk(), **changes}


BAD_SETS: list[tuple[str, Any, str]] = [
    (
        "RSA private key",
        {"keys": [{**rsa_jwk(), **rsa_private_jwk()}]},
        "private",
    ),
    ("EC private key", {"keys": [{**EC.public_jwk(), "d": "AAAA"}]}, "private"),
    ("symmetric key", {"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}, "private"),
    ("1024-bit RSA", public_jwks(make_rsa_key("small", 1024)), "2048"),
    ("P-256", public_jwks(make_ec_key("p256", "P-256")), "P-384"),
    ("missing kid", {"keys": [{k: v for k, v in EC.public_jwk().items() if k != "kid"}]}, "kid"),
    ("empty kid", {"keys": [rsa_jwk(kid="")]}, "kid"),
    ("kid used twice", {"keys": [rsa_jwk(), {**EC.public_jwk(), "kid": RSA.kid}]}, "twice"),
    ("RSA key for RS256", {"keys": [rsa_jwk(alg="RS256")]}, "RS384"),
    ("EC key for RS384", {"keys": [{**EC.public_jwk(), "alg": "RS384"}]}, "ES384"),
    ("encryption key", {"keys": [rsa_jwk(use="enc")]}, "sig"),
    ("OKP key", {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "o", "x": "AAAA"}]}, "kty"),
    ("EC point off the curve", {"keys": [{**EC.public_jwk(), "y": EC.public_jwk()["x"]}]}, "EC"),
    ("RSA without n", {"keys": [{k: v for k, v in rsa_jwk().items() if k != "n"}]}, "RSA"),
    ("no keys", {"keys": []}, "no keys"),
    ("keys not a list", {"keys": {"kid": "x"}}, "keys"),
    ("a bare JWK", rsa_jwk(), "keys"),
    ("eleven keys", {"keys": [rsa_jwk(kid=f"k{i}") for i in range(11)]}, "at most"),
]


@pytest.mark.parametrize(("case", "jwks", "says"), BAD_SETS, ids=[c for c, _, _ in BAD_SETS])
def test_validate_jwks_refuses(case: str, jwks: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        validate_jwks(jwks)


@pytest.mark.parametrize(
    "jwks",
    [
        public_jwks(RSA, EC),
        public_jwks(make_rsa_key("rsa-3072", 3072)),
        # alg and use are optional members; a bare public key is fine.
        {"keys": [{k: v for k, v in EC.public_jwk().items() if k not in ("alg", "use")}]},
    ],
    ids=["RSA and EC", "RSA 3072", "EC without alg/use"],
)
def test_validate_jwks_accepts(jwks: dict[str, Any]) -> None:
    validate_jwks(jwks)
