import json

import pytest

from app.core.config import PROJECT_ROOT, Settings
from app.main import create_app, openapi_json

pytestmark = pytest.mark.unit

COMMITTED = PROJECT_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    assert COMMITTED.read_text(encoding="utf-8") == openapi_json(app), (
        "openapi/openapi.json is stale: run `aftercare openapi --output openapi/openapi.json` "
        "and review the diff (renaming or removing contract fields is not allowed)"
    )


def test_every_operation_is_named_tagged_and_declares_its_errors() -> None:
    spec = json.loads(COMMITTED.read_text(encoding="utf-8"))
    public = {
        "/healthz",
        "/readyz",
        "/v1/auth/token",
        "/v1/auth/enroll",
        "/v1/auth/refresh",
        "/.well-known/oauth-authorization-server",
    }
    # The token endpoint's own errors are OAuth 2.0 errors (RFC 6749 5.2), not problems, and
    # its form takes anything (a malformed one is 400 invalid_request, not 422).
    token = "/v1/auth/token"
    operation_ids = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            operation_ids.append(operation["operationId"])
            assert operation.get("tags"), f"{method} {path} has no tag"
            if path not in public:
                assert "401" in operation["responses"], f"{method} {path} does not declare 401"
                assert operation.get("security"), f"{method} {path} does not declare bearer auth"
            if (operation.get("parameters") or operation.get("requestBody")) and path != token:
                assert "422" in operation["responses"], f"{method} {path} does not declare 422"
            for status, response in operation["responses"].items():
                if path == token and status in ("400", "401"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/OAuthError"}
                elif status.startswith("4"):
                    assert "application/problem+json" in response["content"], (
                        f"{method} {path} {status}"
                    )
    assert len(operation_ids) == len(set(operation_ids))


def test_report_request_has_an_example() -> None:
    spec = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert spec["components"]["schemas"]["ReportIn"]["examples"]


def test_every_operation_and_parameter_is_described_and_every_tag_declared() -> None:
    """What an integrator reads (and Spectral checks): no operation, parameter or tag
    without words."""
    spec = json.loads(COMMITTED.read_text(encoding="utf-8"))
    declared = [tag["name"] for tag in spec.get("tags", [])]
    assert len(declared) == len(set(declared)), "a tag is declared twice"
    assert all(tag.get("description") for tag in spec.get("tags", []))
    missing = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            if not operation.get("description"):
                missing.append(f"{where}: no description")
            missing += [
                f"{where}: tag {t!r} not declared"
                for t in operation.get("tags", [])
                if t not in declared
            ]
            missing += [
                f"{where}: {p['in']} parameter {p['name']!r} has no description"
                for p in operation.get("parameters", [])
                if not p.get("description")
            ]
    assert not missing, "\n".join(missing)
