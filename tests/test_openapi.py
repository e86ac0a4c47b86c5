import json

from app.core.config import PROJECT_ROOT, Settings
from app.main import create_app, openapi_json

COMMITTED = PROJECT_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    assert COMMITTED.read_text(encoding="utf-8") == openapi_json(app), (
        "openapi/openapi.json is stale: run `aftercare openapi --output openapi/openapi.json` "
        "and review the diff (renaming or removing contract fields is not allowed)"
    )


def test_every_operation_is_named_tagged_and_declares_its_errors() -> None:
    spec = json.loads(COMMITTED.read_text(encoding="utf-8"))
    public = {"/healthz", "/readyz", "/v1/auth/token", "/v1/auth/enroll", "/v1/auth/refresh"}
    operation_ids = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            operation_ids.append(operation["operationId"])
            assert operation.get("tags"), f"{method} {path} has no tag"
            if path not in public:
                assert "401" in operation["responses"], f"{method} {path} does not declare 401"
                assert operation.get("security"), f"{method} {path} does not declare bearer auth"
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in operation["responses"], f"{method} {path} does not declare 422"
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert "application/problem+json" in response["content"], (
                        f"{method} {path} {status}"
                    )
    assert len(operation_ids) == len(set(operation_ids))


def test_report_request_has_an_example() -> None:
    spec = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert spec["components"]["schemas"]["ReportIn"]["examples"]
