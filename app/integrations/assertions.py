"""Client assertions (RFC 7523 private_key_jwt, as SMART Backend Services profiles it).

An integration client proves who it is by signing a short-lived JWT with a private key whose
public half it registered (a JWK set). This module only judges such a JWT against that set and
an injected time: no database, no network. Replay protection (each jti used once until its exp)
is the caller's, which is why the jti and exp come back.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidJTIError, InvalidSubjectError

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_LIFETIME = timedelta(minutes=5)
# nbf/iat a little ahead of our clock is the client's clock drifting, not an attack.
CLOCK_SKEW = timedelta(seconds=60)
MAX_JTI_LENGTH = 255
MAX_CLIENT_ID_LENGTH = 255
# A 4096-bit RS384 assertion is about 1 KB; anything far larger is not worth parsing.
MAX_ASSERTION_LENGTH = 8192
MAX_KEYS = 10
MIN_RSA_BITS = 2048

# The only algorithms SMART Backend Services allows. Fixed here, never taken from the token
# alone, so "none", HS* (key confusion: the public key used as an HMAC secret) and RS256 fail.
_KEY_TYPE_OF_ALG = {"RS384": "RSA", "ES384": "EC"}
_ALG_OF_KEY_TYPE = {kty: alg for alg, kty in _KEY_TYPE_OF_ALG.items()}
_EC_CURVE = "P-384"
# Private members of RSA, EC and symmetric JWKs (RFC 7518 section 6): a registered set must
# never hold them, as whoever can read it could then sign as the client.
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "jti"]


class InvalidClientAssertion(Exception):
    """The assertion does not authenticate the client; the message says why (never the token)."""


@dataclass(frozen=True)
class AssertionClaims:
    jti: str
    expires_at: datetime


def unverified_client_id(assertion: str) -> str:
    """The client the assertion claims to come from, to find its keys; nothing is verified."""
    _check_size(assertion)
    try:
        payload = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClientAssertion("client_assertion is not a well-formed JWT") from None
    iss, sub = payload.get("iss"), payload.get("sub")
    if not isinstance(iss, str) or not iss or len(iss) > MAX_CLIENT_ID_LENGTH:
        raise InvalidClientAssertion("iss must be the client_id")
    if sub != iss:
        raise InvalidClientAssertion("sub must equal iss (the client_id)")
    return iss


def verify_client_assertion(
    assertion: str, *, jwks: dict[str, Any], client_id: str, token_url: str, now: datetime
) -> AssertionClaims:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    _check_size(assertion)
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise InvalidClientAssertion("client_assertion is not a well-formed JWT") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _KEY_TYPE_OF_ALG:
        raise InvalidClientAssertion("alg must be RS384 or ES384")
    jwk = _key_for(jwks, header.get("kid"))
    if jwk.get("kty") != _KEY_TYPE_OF_ALG[alg]:
        raise InvalidClientAssertion(f"the key named by kid cannot verify {alg}")
    try:
        _check_public_key(jwk)
    except ValueError:
        raise InvalidClientAssertion("the key named by kid is not an acceptable key") from None

    try:
        key = jwt.PyJWK(jwk, algorithm=alg)
        payload = jwt.decode(
            assertion,
            key=key,
            algorithms=[alg],
            audience=token_url,
            issuer=client_id,
            subject=client_id,
            options={
                "require": _REQUIRED_CLAIMS,
                # PyJWT reads the wall clock; times are checked below against the injected now.
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.PyJWTError as error:
        raise InvalidClientAssertion(_reason(error)) from None

    # PyJWT skips iss/sub checks for some shapes (a list of issuers, a missing sub), so the
    # identity that the client's keys vouch for is checked here once more, exactly.
    if payload.get("iss") != client_id or payload.get("sub") != client_id:
        raise InvalidClientAssertion("iss and sub must both be the client_id")
    expires_at = _check_times(payload, now)
    jti = payload.get("jti")
    if not isinstance(jti, str) or not jti.strip():
        raise InvalidClientAssertion("jti must be a non-empty string")
    if len(jti) > MAX_JTI_LENGTH:
        raise InvalidClientAssertion(f"jti must be at most {MAX_JTI_LENGTH} characters")
    return AssertionClaims(jti=jti, expires_at=expires_at)


def validate_jwks(jwks: dict[str, Any]) -> None:
    """Refuse a JWK set an integration client may not register; ValueError says why."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError('a JWK set is an object with a "keys" array')
    keys: list[Any] = jwks["keys"]
    if not keys:
        raise ValueError("the JWK set holds no keys")
    if len(keys) > MAX_KEYS:
        raise ValueError(f"a JWK set holds at most {MAX_KEYS} keys")
    seen: set[str] = set()
    for position, jwk in enumerate(keys):
        if not isinstance(jwk, dict):
            raise ValueError(f"key {position}: a JWK is an object")
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > MAX_JTI_LENGTH:
            raise ValueError(f"key {position}: kid must be a non-empty string (at most 255)")
        if kid in seen:
            # An assertion names its key by kid alone, so a kid must name one key.
            raise ValueError(f"key {position}: kid {kid!r} is used twice")
        seen.add(kid)
        try:
            _check_public_key(jwk)
        except ValueError as error:
            raise ValueError(f"key {kid!r}: {error}") from None


def _check_size(assertion: str) -> None:
    if not isinstance(assertion, str) or not assertion:
        raise InvalidClientAssertion("client_assertion is missing")
    if len(assertion) > MAX_ASSERTION_LENGTH:
        raise InvalidClientAssertion("client_assertion is too long")


def _key_for(jwks: dict[str, Any], kid: Any) -> dict[str, Any]:
    if not isinstance(kid, str) or not kid:
        raise InvalidClientAssertion("the JWT header must name a key (kid)")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    matches = [
        k
        for k in (keys if isinstance(keys, list) else [])
        if isinstance(k, dict) and k.get("kid") == kid
    ]
    if len(matches) != 1:
        raise InvalidClientAssertion("kid names no key registered for this client")
    return matches[0]


def _check_public_key(jwk: dict[str, Any]) -> None:
    present = [member for member in _PRIVATE_MEMBERS if member in jwk]
    if present:
        raise ValueError(
            f"private key members present ({', '.join(present)}): register public keys only"
        )
    kty = jwk.get("kty")
    if kty not in _ALG_OF_KEY_TYPE:
        raise ValueError('kty must be "RSA" (RS384) or "EC" (ES384, P-384)')
    alg = jwk.get("alg", _ALG_OF_KEY_TYPE[kty])
    if alg != _ALG_OF_KEY_TYPE[kty]:
        raise ValueError(f"{kty} keys here are for {_ALG_OF_KEY_TYPE[kty]}, not {alg!r}")
    if jwk.get("use", "sig") != "sig":
        raise ValueError('use must be "sig"')
    if kty == "RSA":
        try:
            rsa_key = RSAAlgorithm.from_jwk(jwk)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise ValueError("not a valid RSA public key (n, e)") from None
        if rsa_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return
    if jwk.get("crv") != _EC_CURVE:
        raise ValueError(f"EC keys must be on curve {_EC_CURVE}")
    try:
        # from_jwk also refuses a point that is not on the curve.
        ECAlgorithm(ECAlgorithm.SHA384).from_jwk(jwk)
    except (jwt.PyJWTError, ValueError, TypeError):
        raise ValueError("not a valid EC public key (x, y)") from None


def _check_times(payload: dict[str, Any], now: datetime) -> datetime:
    exp = _timestamp(payload, "exp")
    assert exp is not None  # required above
    moment = now.timestamp()
    if exp <= moment:
        raise InvalidClientAssertion("the assertion has expired (exp)")
    if exp > moment + MAX_LIFETIME.total_seconds():
        raise InvalidClientAssertion("exp must be at most 5 minutes ahead")
    for claim in ("nbf", "iat"):
        value = _timestamp(payload, claim)
        if value is not None and value > moment + CLOCK_SKEW.total_seconds():
            raise InvalidClientAssertion(f"{claim} is in the future")
    return datetime.fromtimestamp(exp, UTC)


def _timestamp(payload: dict[str, Any], claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    # bool is an int in Python, and NaN/inf would slip past every comparison.
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise InvalidClientAssertion(f"{claim} must be a number of seconds since the epoch")
    if not -1e11 < value < 1e11:
        raise InvalidClientAssertion(f"{claim} is out of range")
    return float(value)


def _reason(error: jwt.PyJWTError) -> str:
    # Fixed messages: PyJWT's own can quote parts of the token or the key.
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the {error.claim} claim is required"
    if isinstance(error, jwt.InvalidAudienceError):
        return "aud must be this token endpoint's URL"
    if isinstance(error, jwt.InvalidIssuerError | InvalidSubjectError):
        return "iss and sub must both be the client_id"
    if isinstance(error, InvalidJTIError):
        return "jti must be a non-empty string"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the signature does not verify with the key named by kid"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return "alg must be RS384 or ES384"
    if isinstance(error, jwt.PyJWKError | jwt.InvalidKeyError):
        return "the key named by kid is not an acceptable key"
    return "client_assertion is not a well-formed JWT"
