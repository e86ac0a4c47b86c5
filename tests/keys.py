"""Key pairs and client assertions for tests (what an integration client does on its side)."""

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass(frozen=True)
class TestKey:
    __test__ = False  # not a pytest test class despite the name

    kid: str
    alg: str
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def make_rsa_key(kid: str, bits: int = 2048) -> TestKey:
    return _rsa_key(kid, bits)


def make_ec_key(kid: str, curve: str = "P-384") -> TestKey:
    return _ec_key(kid, curve)


# One key per kid (and size) in the process: a 2048-bit RSA key takes tens of milliseconds to
# generate, and the same kid must name the same key in every test that uses it. The public
# functions pass the defaults explicitly so the cache never holds two keys for one kid.
@functools.cache
def _rsa_key(kid: str, bits: int) -> TestKey:
    return TestKey(kid, "RS384", rsa.generate_private_key(public_exponent=65537, key_size=bits))


@functools.cache
def _ec_key(kid: str, curve: str) -> TestKey:
    curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}
    return TestKey(kid, "ES384", ec.generate_private_key(curves[curve]))


def public_jwks(*keys: TestKey) -> dict[str, Any]:
    # Through JSON, as the set would be stored and read back.
    stored: dict[str, Any] = json.loads(json.dumps({"keys": [key.public_jwk() for key in keys]}))
    return stored


def sign_assertion(
    key: TestKey,
    client_id: str,
    token_url: str,
    now: datetime,
    *,
    jti: str | None = None,
    exp_in: timedelta = timedelta(minutes=4),
    aud: str | None = None,
) -> str:
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url if aud is None else aud,
        "jti": jti if jti is not None else str(uuid.uuid4()),
        "iat": int(now.timestamp()),
        "exp": int((now + exp_in).timestamp()),
    }
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid})
