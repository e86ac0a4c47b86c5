"""/docs and /redoc work without the internet (issue 13): their scripts and styles are the
vendored files in app/docs/static, served by the service itself, and each page's CSP lets it
load from nowhere else.

The browser test runs the real service (`aftercare create-admin`, then `aftercare serve`) on
127.0.0.1 and drives Debian's chromium through Playwright with every request to another host
refused: Swagger UI renders, Authorize signs in with the OAuth2 password grant, GET /v1/me runs
from "Try it out", and Redoc renders. It is skipped where no chromium is installed, unless
AFTERCARE_REQUIRE_BROWSER=1 (CI). AFTERCARE_SAVE_SCREENSHOT=1 also writes the screenshot the
README shows, docs/images/swagger-docs.png.
"""

import base64
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from app.docs.router import STATIC_DIR
from app.main import create_app
from tests.helpers import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "images" / "swagger-docs.png"
CHROMIUM = os.environ.get("AFTERCARE_CHROMIUM") or shutil.which("chromium")
REQUIRE_BROWSER = os.environ.get("AFTERCARE_REQUIRE_BROWSER", "") == "1"
SAVE_SCREENSHOT = os.environ.get("AFTERCARE_SAVE_SCREENSHOT", "") == "1"
LOOPBACK = {"127.0.0.1", "localhost"}
ADMIN_EMAIL = "docs.admin@clinic.example"
ADMIN_PASSWORD = "heron-quarry-velvet-1947"
PAGES = ("/docs", "/redoc", "/docs/oauth2-redirect")
# Redoc's sidebar footer ("API docs by Redocly") always asks for its logo from Redocly's CDN.
# The page's policy (img-src 'self' data: blob:) refuses it before any request is made, and
# Redoc then leaves the image out: the one refusal expected (app/docs/static/README.md).
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})  (\S+)$", re.MULTILINE)
_ASSET = re.compile(r'(?:src|href)="([^"]+)"')


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    # The pages need no database: the lifespan (which would open one) is not run.
    app = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as client:
        yield client


def test_the_vendored_files_are_the_published_ones() -> None:
    listed = dict(
        (name, digest)
        for digest, name in _CHECKSUM_LINE.findall((STATIC_DIR / "README.md").read_text())
    )
    on_disk = {
        str(path.relative_to(STATIC_DIR))
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and path.name != "README.md"
    }
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name
    # The licences stay beside the files they cover.
    assert "Apache License" in (STATIC_DIR / "swagger-ui" / "LICENSE").read_text()
    assert "MIT License" in (STATIC_DIR / "redoc" / "LICENSE").read_text()


@pytest.mark.anyio
@pytest.mark.parametrize("page", PAGES)
async def test_pages_load_everything_from_this_origin(client: httpx.AsyncClient, page: str) -> None:
    answer = await client.get(page)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-cache"
    assert answer.headers["x-content-type-options"] == "nosniff"
    html = answer.text
    assert "http://" not in html and "https://" not in html  # no CDN, no Google fonts
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("default-src 'none'")
    assert "http" not in policy and "*" not in policy and "unsafe-eval" not in policy
    assets = _ASSET.findall(html)
    assert assets
    for asset in assets:
        assert asset.startswith("/docs/static/"), asset
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert served.headers["cache-control"] == "no-cache"
        assert served.headers["x-content-type-options"] == "nosniff"
        # Revalidated cheaply: the ETag answers 304 without the body.
        again = await client.get(asset, headers={"if-none-match": served.headers["etag"]})
        assert again.status_code == 304 and not again.content


@pytest.mark.anyio
async def test_only_swaggers_own_start_up_script_may_run_inline(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.get("/docs")
    scripts = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    assert len(scripts) == 1
    assert "oauth2RedirectUrl" in scripts[0] and "persistAuthorization" in scripts[0]
    policy = answer.headers["content-security-policy"]
    sources = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert sources["script-src"] == f"'self' 'sha256-{digest}'"
    assert "unsafe-inline" not in sources["script-src"]
    redoc = (await client.get("/redoc")).headers["content-security-policy"]
    assert "script-src 'self';" in redoc and redoc.count("'unsafe-inline'") == 1  # styles


@pytest.mark.anyio
async def test_docs_are_not_operations_of_the_api(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]


@pytest.mark.anyio
async def test_nothing_else_is_served_from_the_static_folder(client: httpx.AsyncClient) -> None:
    for path in (
        "/docs/static/../router.py",
        "/docs/static/%2e%2e/router.py",
        "/docs/static/swagger-ui/swagger-ui-bundle.js.map",
        "/docs/static/swagger-ui",
    ):
        assert (await client.get(path)).status_code == 404, path
    assert (await client.post("/docs/static/redoc/LICENSE")).status_code == 405


# The browser test ---------------------------------------------------------------------------


@dataclass
class Served:
    base_url: str
    process: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _aftercare(*args: str) -> list[str]:
    return [sys.executable, "-c", "from app.cli import main; main()", *args]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The service as it is run: its own process, a fresh SQLite file, an admin."""
    env = {
        **os.environ,
        "AFTERCARE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'docs.db'}",
        "AFTERCARE_SECRET_KEY": TEST_SECRET,
        "AFTERCARE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PYTHONPATH": str(ROOT),
    }
    # In this process (one interpreter start less: the service's own takes long enough).
    made = CliRunner().invoke(
        cli, ["create-admin", "--clinic", "Docs Clinic", "--email", ADMIN_EMAIL], env=env
    )
    assert made.exit_code == 0, made.output
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        _aftercare("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)),
        cwd=tmp_path,  # away from the checkout's .env
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start in 30 s"
            time.sleep(0.1)
        yield Served(base_url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None or not Path(CHROMIUM).exists():
        if REQUIRE_BROWSER:
            pytest.fail("AFTERCARE_REQUIRE_BROWSER=1 but no chromium is installed")
        pytest.skip("no chromium installed (Debian: apt-get install chromium)")
    return CHROMIUM


@pytest.mark.browser
def test_docs_work_offline_and_sign_in_with_the_password_grant(
    served: Served, chromium: str
) -> None:
    from playwright.sync_api import ConsoleMessage, Route, expect, sync_playwright

    refused: list[str] = []  # every request that would have left this machine
    problems: list[str] = []  # script errors, and anything the pages' policies refused

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error" or REDOCLY_LOGO in message.text:
            return
        if "Content Security Policy" in message.text or "net::ERR_" not in message.text:
            problems.append(f"console: {message.text}")

    def only_loopback(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK:
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            # Belt and braces: a request that escaped the route (a worker's, say) cannot even
            # resolve a name other than localhost.
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            # Generous: a loaded CI runner parses Swagger's 1.7 MB bundle slowly.
            context.set_default_timeout(20_000)
            expect.set_options(timeout=20_000)
            context.route("**/*", only_loopback)
            page = context.new_page()
            page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
            page.on("console", on_console)

            page.goto(f"{served.base_url}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Aftercare API")
            expect(page.locator("#operations-staff-get_me")).to_be_visible()

            # Authorize: the OAuth2 password grant, with a username and a password.
            page.locator(".auth-wrapper button.authorize").click()
            password_flow = page.locator(".auth-container").filter(has_text="OAuth2, password")
            password_flow.locator("#oauth_username").fill(ADMIN_EMAIL)
            password_flow.locator("#oauth_password").fill(ADMIN_PASSWORD)
            with page.expect_response(lambda r: r.url.endswith("/v1/auth/token")) as signed_in:
                password_flow.locator("button.authorize").click()
            assert signed_in.value.status == 200, signed_in.value.text()
            # What Swagger sends, as it sends it: the password grant, an empty scope, and (its
            # default "client credentials location") an empty client in HTTP Basic.
            sent = parse_qs(signed_in.value.request.post_data or "", keep_blank_values=True)
            assert sent["grant_type"] == ["password"] and sent["username"] == [ADMIN_EMAIL]
            expect(password_flow.locator("button", has_text="Logout")).to_be_visible()
            page.locator(".dialog-ux button.btn-done").first.click()
            expect(page.locator(".dialog-ux")).to_have_count(0)
            page.evaluate("window.scrollTo(0, 0)")
            if SAVE_SCREENSHOT:
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT))

            # GET /v1/me from "Try it out", with the token Authorize obtained.
            me = page.locator("#operations-staff-get_me")
            me.locator(".opblock-summary-control").click()
            me.get_by_role("button", name="Try it out").click()
            with page.expect_response(lambda r: r.url.endswith("/v1/me")) as answered:
                me.get_by_role("button", name="Execute").click()
            assert answered.value.status == 200, answered.value.text()
            assert answered.value.request.headers["authorization"].startswith("Bearer ")
            live = me.locator(".live-responses-table .response").first
            expect(live.locator(".response-col_status")).to_contain_text("200")
            expect(live.locator(".response-col_description")).to_contain_text(ADMIN_EMAIL)
            # Nothing kept in the browser's storage once the tab is gone.
            assert page.evaluate("window.localStorage.getItem('authorized')") is None

            page.goto(f"{served.base_url}/redoc")
            expect(page.locator("h1").first).to_contain_text("Aftercare API")
            expect(page.get_by_text("Who the access token belongs to").first).to_be_attached()
        finally:
            browser.close()

    assert refused == []
    assert problems == []
