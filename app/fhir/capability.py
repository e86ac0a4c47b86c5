"""What this FHIR server does, as FHIR says it: the CapabilityStatement at /metadata and the
SMART configuration at /.well-known/smart-configuration. Both are public: a client reads them
to learn where and how to get a token. Keep them to what the routers really serve."""

from typing import Any

from fastapi import Request

from app.core.deps import token_url
from app.core.scopes import SCOPES
from app.fhir.common import FHIR_VERSION, base_url

RELEASED = "2026-12-01"  # the date of this statement: when the FHIR API last changed
_SP = "http://hl7.org/fhir/SearchParameter/"
_BULK = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/"
# (resource type, [(search param, type, SearchParameter id)], operations); a change to any
# router's search parameters changes this table.
_RESOURCES: list[tuple[str, list[tuple[str, str, str]], list[tuple[str, str]]]] = [
    (
        "Patient",
        [("_id", "token", "Resource-id"), ("identifier", "token", "Patient-identifier")],
        [("export", _BULK + "patient-export")],
    ),
    ("Procedure", [("patient", "reference", "clinical-patient")], []),
    (
        "Task",
        [
            ("patient", "reference", "Task-patient"),
            ("status", "token", "Task-status"),
            ("priority", "token", "Task-priority"),
        ],
        [],
    ),
    ("Questionnaire", [("url", "uri", "Questionnaire-url")], []),
    (
        "QuestionnaireResponse",
        [
            ("patient", "reference", "QuestionnaireResponse-patient"),
            ("authored", "date", "QuestionnaireResponse-authored"),
            ("part-of", "reference", "QuestionnaireResponse-part-of"),
        ],
        [],
    ),
    (
        "Observation",
        [
            ("patient", "reference", "clinical-patient"),
            ("code", "token", "clinical-code"),
            ("date", "date", "clinical-date"),
        ],
        [],
    ),
]


def _token_url(request: Request) -> str:
    """The token endpoint's URL, as the OAuth metadata and the client assertion's `aud`
    have it (app/core/deps.py: the public base URL when configured)."""
    return token_url(request, request.app.state.services.settings)


def fhir_scopes() -> list[str]:
    return [scope for scope in SCOPES if scope.startswith("system/")]


def _resource(
    type_: str, params: list[tuple[str, str, str]], operations: list[tuple[str, str]]
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": type_,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [
            {"name": name, "definition": _SP + definition, "type": kind}
            for name, kind, definition in params
        ],
    }
    if operations:
        entry["operation"] = [{"name": n, "definition": d} for n, d in operations]
    return entry


def capability_statement(request: Request) -> dict[str, Any]:
    resources = [_resource(*row) for row in _RESOURCES]
    # Group/[id]/$export: the clinic's patients as a group; Group is not read or searched.
    resources.append(
        {"type": "Group", "operation": [{"name": "export", "definition": _BULK + "group-export"}]}
    )
    oauth = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": RELEASED,
        "publisher": "Aftercare",
        "kind": "instance",
        "software": {"name": "Aftercare"},
        "implementation": {
            "description": "Aftercare: follow-up after lumbar sympathetic nerve blocks (read-only)",
            "url": base_url(request),
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": oauth,
                            "extension": [{"url": "token", "valueUri": _token_url(request)}],
                        }
                    ],
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "Bearer tokens from the token endpoint: staff sign-in, or "
                    "an integration client's client credentials grant with system/ scopes.",
                },
                "resource": resources,
            }
        ],
    }


def smart_configuration(request: Request) -> dict[str, Any]:
    return {
        "token_endpoint": _token_url(request),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": fhir_scopes(),
        "capabilities": ["client-confidential-asymmetric", "client-confidential-symmetric"],
    }
