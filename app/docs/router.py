"""/docs (Swagger UI) and /redoc, served with the assets vendored in app/docs/static.

Nothing on these pages comes from another origin: the scripts, styles and favicon are served
from /docs/static (pinned versions and checksums in static/README.md), Redoc's Google fonts
are left out, and each page's Content-Security-Policy lets it load from this origin only, so
a page changed to fetch from elsewhere fails loudly instead of leaking the visit. (Redoc's
sidebar footer always asks for Redocly's logo from cdn.redoc.ly: the policy refuses it before
any request is made, and Redoc shows the footer's text without it.)

Swagger's Authorize signs in with the OAuth2 password grant at /v1/auth/token (the `OAuth2`
scheme, app/core/deps.py). The token is kept in the page only: it is gone at the next reload,
never left in the browser's storage on a shared workstation.
"""

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/docs/static"
SWAGGER_JS = f"{STATIC_PATH}/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = f"{STATIC_PATH}/swagger-ui/swagger-ui.css"
SWAGGER_REDIRECT_JS = f"{STATIC_PATH}/swagger-ui/oauth2-redirect.js"
FAVICON = f"{STATIC_PATH}/swagger-ui/favicon-32x32.png"
REDOC_JS = f"{STATIC_PATH}/redoc/redoc.standalone.js"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"

SWAGGER_PARAMETERS: dict[str, Any] = {
    # A staff token is good for a whole shift: kept in localStorage it would outlive the tab
    # on a shared workstation. Reloading the page asks for the password again.
    "persistAuthorization": False,
    # The operations, grouped by tag, folded; the schemas are shown with each operation
    # (and all together in /redoc), not as a long list under them.
    "docExpansion": "list",
    "defaultModelsExpandDepth": -1,
    "defaultModelExpandDepth": 2,
    "displayRequestDuration": True,
    "filter": True,
    # Swagger's online validator would send the document to validator.swagger.io.
    "validatorUrl": None,
}
# No client id: Authorize is a staff member's own password grant. Swagger still offers
# client_id / client_secret fields, and by default sends them, empty, as HTTP Basic
# ("Authorization: Basic Og=="); the token endpoint ignores that for the password grant.
INIT_OAUTH: dict[str, Any] = {"appName": "Aftercare API docs"}

# What every docs page may do: load from this origin, nothing else. Styles may be inline
# (Swagger UI and Redoc set them from script); images may be data: URIs (their icons) or
# blob: (Swagger UI shows an image response, the SVG charts, from a blob).
_COMMON_POLICY = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Redoc runs its search index in a worker it makes from a blob.
_REDOC_POLICY = f"{_COMMON_POLICY}; script-src 'self'; worker-src blob:"
_REDIRECT_POLICY = "default-src 'none'; script-src 'self'; frame-ancestors 'none'"
# The pages are rebuilt from the app at each request and are small: never reused unchecked.
_REVALIDATE = "no-cache"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)

router = APIRouter(include_in_schema=False)


class _Assets(StaticFiles):
    """The vendored files, revalidated at each use (their ETag answers 304): a browser's
    heuristic caching would otherwise keep an old bundle for months after an upgrade."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = _REVALIDATE
        return response


router.mount(STATIC_PATH, _Assets(directory=STATIC_DIR), name="docs-static")


def _prefix(request: Request) -> str:
    """The path the app is mounted under behind a proxy (uvicorn's --root-path)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _openapi_url(request: Request) -> str:
    return _prefix(request) + (request.app.openapi_url or "/openapi.json")


def _script_hashes(page: bytes) -> str:
    """CSP sources for the page's inline scripts (Swagger's start-up call): those exact
    scripts may run, and no other inline script."""
    return " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(page)
    )


def _protected(page: HTMLResponse, policy: str) -> HTMLResponse:
    page.headers["content-security-policy"] = policy
    page.headers["cache-control"] = _REVALIDATE
    return page


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    prefix = _prefix(request)
    page = get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=prefix + SWAGGER_JS,
        swagger_css_url=prefix + SWAGGER_CSS,
        swagger_favicon_url=prefix + FAVICON,
        oauth2_redirect_url=prefix + OAUTH2_REDIRECT_PATH,
        init_oauth=INIT_OAUTH,
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )
    scripts = _script_hashes(bytes(page.body))
    return _protected(page, f"{_COMMON_POLICY}; script-src 'self' {scripts}")


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_redirect(request: Request) -> HTMLResponse:
    # swagger-ui-dist's own page, its script served as a file (no inline script to allow).
    # Only flows that go through the browser (authorization code) come back here.
    page = HTMLResponse(
        '<!doctype html>\n<html lang="en-US">\n<head><title>Swagger UI: OAuth2 Redirect</title>'
        f'</head>\n<body>\n<script src="{_prefix(request)}{SWAGGER_REDIRECT_JS}"></script>\n'
        "</body>\n</html>\n"
    )
    return _protected(page, _REDIRECT_POLICY)


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    prefix = _prefix(request)
    page = get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=prefix + REDOC_JS,
        redoc_favicon_url=prefix + FAVICON,
        with_google_fonts=False,
    )
    return _protected(page, _REDOC_POLICY)
