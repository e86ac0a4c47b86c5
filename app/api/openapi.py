"""The OpenAPI document: FastAPI's, made exact where FastAPI cannot say it alone.

- Errors: every error response is RFC 9457 `application/problem+json` with the ProblemDetails
  schema, the type the problem handlers (core/errors.py) really send. FastAPI's own 422
  declaration (HTTPValidationError under application/json) is replaced, and the 413 of every
  operation with a body is added (core/edge.py). Responses that declare another schema (the
  token endpoint's OAuth 2.0 errors, readiness's 503) are left as declared.
- Named enums: each Literal the code names (and a few inline ones, named here) becomes one
  component, referenced wherever its values appear, so a generated client has one
  `AlertSeverity` type instead of one per field. The names and values come from the Literals
  themselves, so they cannot drift; nothing changes at runtime.
- Security: each operation lists what may call it, from its dependencies (`security_for`);
  public operations say so with `security: []`.
- Webhooks: one entry per event type, from app/webhooks/payloads.py.
- servers, contact and license, which FastAPI leaves out unless given.
"""

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any, Literal, get_args, get_origin

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.core.deps import (
    SECURITY_SCHEMES,
    get_principal,
    require_admin,
    require_patient,
    require_staff,
)
from app.core.edge import document_body_limit
from app.core.errors import PROBLEM_DETAILS_REF, PROBLEM_JSON, ProblemDetails
from app.core.scopes import scope_for
from app.webhooks.payloads import openapi_webhooks

REF = "#/components/schemas/{model}"
# Relative: the document describes whichever deployment serves it (Swagger's "Try it out"
# then calls that same server).
SERVERS = [{"url": "/", "description": "The server this document is served from."}]
# No LICENSE in the repository: the API is proprietary. SPDX has no identifier for that, so
# the SPDX form for a licence of one's own; no URL is invented for it.
LICENSE = {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}
CONTACT = {"name": "Aftercare API support", "email": "api@aftercare.example"}
_FASTAPI_422 = {"#/components/schemas/HTTPValidationError"}


def install_openapi(app: FastAPI) -> None:
    """Sets `app.openapi` to build the document once, with everything above."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=app.description,
        terms_of_service=app.terms_of_service,
        contact=app.contact or CONTACT,
        license_info=app.license_info or LICENSE,
        routes=app.routes,
        webhooks=app.webhooks.routes,
        tags=app.openapi_tags,
        servers=app.servers or SERVERS,
        separate_input_output_schemas=app.separate_input_output_schemas,
        external_docs=app.openapi_external_docs,
    )
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    document_body_limit(document)
    _problem_json(document, schemas)
    _declare_security(document, app)
    webhooks, webhook_schemas = openapi_webhooks(REF)
    document["webhooks"] = {**document.get("webhooks", {}), **webhooks}
    _add_schemas(schemas, webhook_schemas)
    _name_enums(document, schemas, named_enums())
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    return document


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for section in ("paths", "webhooks"):
        for item in document.get(section, {}).values():
            yield from item.values()


def _add_schemas(schemas: dict[str, Any], new: dict[str, Any]) -> None:
    for name, schema in new.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are named {name} in the OpenAPI document")


# Errors ------------------------------------------------------------------------------------


def _problem_json(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    problem = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_DETAILS_REF}}}
    for operation in _operations(document):
        for status, response in operation.get("responses", {}).items():
            if status[0] in "45" and _is_problem(response.get("content", {})):
                response["content"] = copy.deepcopy(problem)
    _, top = models_json_schema([(ProblemDetails, "serialization")], ref_template=REF)
    _add_schemas(schemas, top["$defs"])
    for unused in ("HTTPValidationError", "ValidationError"):  # the first refers to the second
        if f'"{REF.format(model=unused)}"' not in json.dumps(document):
            schemas.pop(unused, None)


def _is_problem(content: dict[str, Any]) -> bool:
    """A response the problem handlers render: it names ProblemDetails (or FastAPI's 422
    stand-in) under any media type, or declares problem+json alone without a schema."""
    refs = {media.get("schema", {}).get("$ref") for media in content.values()}
    if refs & ({PROBLEM_DETAILS_REF} | _FASTAPI_422):
        return True
    return set(content) == {PROBLEM_JSON} and not content[PROBLEM_JSON].get("schema")


# Security ----------------------------------------------------------------------------------


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def security_for(route: APIRoute) -> list[dict[str, list[str]]]:
    """Who may call the operation, as OpenAPI security requirements (any one is enough):
    StaffLogin for staff, IntegrationClient with the scope a client needs where a client may
    (app/core/scopes.py), PatientToken where a patient's app may. Read from the
    operation's dependencies, as core/deps.py decides."""
    calls = set(_calls(route.dependant))
    if get_principal not in calls:
        return []
    requirements: list[dict[str, list[str]]] = []
    if require_patient not in calls:
        requirements.append({"StaffLogin": []})
        if scope := scope_for(route.operation_id):
            requirements.append({"IntegrationClient": [scope]})
    if not calls & {require_staff, require_admin}:
        requirements.append({"PatientToken": []})
    return requirements


def _declare_security(document: dict[str, Any], app: FastAPI) -> None:
    # Included routers are resolved lazily (FastAPI >= 0.160): walk them as get_openapi does.
    originals = (context.original_route for context in iter_route_contexts(app.routes))
    routes = {r.operation_id: r for r in originals if isinstance(r, APIRoute)}
    document["components"]["securitySchemes"] = {
        scheme.scheme_name: jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        for scheme in SECURITY_SCHEMES
    }
    for item in document["paths"].values():
        for operation in item.values():
            route = routes.get(operation.get("operationId"))
            operation["security"] = security_for(route) if route else []


# Named enums -------------------------------------------------------------------------------


def literal_values(annotation: Any) -> tuple[str, ...]:
    """The values of a Literal, or of the one Literal inside an annotation
    (`Literal[...] | None`, `list[Literal[...]]`)."""
    if get_origin(annotation) is Literal:
        return tuple(str(v) for v in get_args(annotation))
    (values,) = {literal_values(a) for a in get_args(annotation) if _has_literal(a)}
    return values


def _has_literal(annotation: Any) -> bool:
    return get_origin(annotation) is Literal or any(map(_has_literal, get_args(annotation)))


def field_values(model: type[BaseModel], field: str) -> tuple[str, ...]:
    return literal_values(model.model_fields[field].annotation)


def named_enums() -> dict[str, tuple[str, ...]]:
    """Component name -> values. Aliases keep their own names where those are not too vague
    (`Level` is `SpinalLevel`); the Literals written inline in a model are named here."""
    from app.alerts.schemas import AlertSeverity, AlertStatus
    from app.auth.oauth import ErrorCode
    from app.auth.schemas import EnrollRequest
    from app.checkins.schemas import CheckinStatus
    from app.core.audit import ActorType
    from app.core.scopes import SCOPES
    from app.health.router import Readiness
    from app.integrations.router import AuthorizationServerMetadata as ServerMetadata
    from app.integrations.schemas import IntegrationClientOut
    from app.outbox.schemas import EventType
    from app.procedures.schemas import Indication, Level, Side
    from app.reports.schemas import BatchItemResult, GlucoseUnit, ReportOut
    from app.rules.guidance import GuidanceLevel
    from app.rules.relief import Comparison, ReliefResponse
    from app.rules.temperature import TemperatureUnit
    from app.rules.vocabulary import Severity, SideEffectKind
    from app.staff.schemas import Me, StaffRole
    from app.timelines.schemas import ItemType
    from app.webhooks.schemas import DeliveryStatus

    registry = {
        "ActorType": literal_values(ActorType),
        "AlertSeverity": literal_values(AlertSeverity),
        "AlertStatus": literal_values(AlertStatus),
        "BatchItemStatus": field_values(BatchItemResult, "status"),
        "CallerRole": field_values(Me, "role"),
        "CheckinStatus": literal_values(CheckinStatus),
        "ClientAuthMethod": field_values(IntegrationClientOut, "auth_methods"),
        "DatabaseState": field_values(Readiness, "database"),
        "DeliveryStatus": literal_values(DeliveryStatus),
        "DevicePlatform": field_values(EnrollRequest, "platform"),
        "GlucoseUnit": literal_values(GlucoseUnit),
        "GrantType": field_values(ServerMetadata, "grant_types_supported"),
        "GuidanceLevel": literal_values(GuidanceLevel),
        "Indication": literal_values(Indication),
        "OAuthErrorCode": literal_values(ErrorCode),
        "ReadinessStatus": field_values(Readiness, "status"),
        "ReliefComparison": literal_values(Comparison),
        "ReliefResponse": literal_values(ReliefResponse),
        "ReportEnteredBy": field_values(ReportOut, "entered_by"),
        "Severity": tuple(Severity),
        "Scope": tuple(SCOPES),
        "Side": literal_values(Side),
        "SideEffectKind": tuple(SideEffectKind),
        "SigningAlgorithm": field_values(
            ServerMetadata, "token_endpoint_auth_signing_alg_values_supported"
        ),
        "SpinalLevel": literal_values(Level),
        "StaffRole": literal_values(StaffRole),
        "TemperatureUnit": literal_values(TemperatureUnit),
        "TimelineItemType": literal_values(ItemType),
        "WebhookEventType": literal_values(EventType),
    }
    seen: dict[frozenset[str], str] = {}
    for name, values in registry.items():
        other = seen.setdefault(frozenset(values), name)
        if other != name:
            raise ValueError(f"{other} and {name} have the same values: name them once")
    return registry


def _name_enums(
    document: dict[str, Any], schemas: dict[str, Any], registry: dict[str, tuple[str, ...]]
) -> None:
    by_values = {frozenset(values): name for name, values in registry.items()}
    used: set[str] = set()

    def visit(node: Any, top_level_of: str | None = None) -> Any:
        if isinstance(node, list):
            return [visit(item) for item in node]
        if not isinstance(node, dict):
            return node
        name = _enum_name(node, by_values)
        if name is not None and name != top_level_of:
            used.add(name)
            # Pydantic's title names the field, not the enum; a description or a default
            # stays beside the $ref (allowed in OpenAPI 3.1).
            kept = {k: v for k, v in node.items() if k not in ("type", "enum", "title")}
            return {"$ref": REF.format(model=name), **kept}
        # Examples are data: a key named "enum" in one is not a schema's.
        return {k: v if k in ("example", "examples") else visit(v) for k, v in node.items()}

    for key in ("paths", "webhooks"):
        document[key] = visit(document.get(key, {}))
    for name in list(schemas):
        schemas[name] = visit(schemas[name], top_level_of=name)
    for name in sorted(used):
        values = list(registry[name])
        component = schemas.setdefault(name, {"type": "string", "enum": values, "title": name})
        if set(component.get("enum", ())) != set(values):
            raise ValueError(f"the component {name} is not the enum of that name")


def _enum_name(node: dict[str, Any], by_values: dict[frozenset[str], str]) -> str | None:
    values = node.get("enum")
    if node.get("type") != "string" or not isinstance(values, list) or len(values) < 2:
        return None
    return by_values.get(frozenset(values))
