"""The generated-client gate: a client generated from the committed openapi/openapi.json by
openapi-python-client (pinned in generator-requirements.txt) type-checks under
`mypy --strict` together with a scripted flow written against it (flow.py), and that flow
runs against the real API on each database.

The generator pins a typer older than the project's, so it lives in a venv of its own under
var/tools/ (made on first use, named by a hash of generator-requirements.txt, so a change to
that file makes a new one). Its output lives in a temporary folder for the session and never
in the repository. Without the generator (no network for pip) the gate skips, saying so;
with AFTERCARE_REQUIRE_CLIENT_GATE=1 (CI) it fails instead.
"""

import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from tests.conftest import START
from tests.helpers import WORLD_PASSWORD, Api

pytestmark = pytest.mark.anyio

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DOCUMENT = REPO / "openapi" / "openapi.json"
REQUIREMENTS = HERE / "generator-requirements.txt"
FLOW = HERE / "flow.py"
TOOLS = REPO / "var" / "tools"
PACKAGE = "aftercare_client"
REQUIRED = os.environ.get("AFTERCARE_REQUIRE_CLIENT_GATE", "") == "1"
# The only responses the generator may leave out: the SVG charts (it parses JSON bodies only).
TOLERATED_WARNING = "Unsupported content_type image/svg+xml"
# The generator's own client.py (a fixed template, the same whatever the document says)
# forwards `__exit__(*args: object)` to httpx, which mypy --strict refuses as arg-type; that
# one code in that one module is let through. Everything generated from the document, and the
# flow, is checked in full; the flow also may not hold an expression of type Any.
MYPY_CONFIG = """\
[mypy]
strict = True

[mypy-aftercare_client.client]
disable_error_code = arg-type

[mypy-tests.contract.flow]
disallow_any_expr = True
disallow_any_explicit = True
"""


PIP_INSTALL = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
# Few retries and a short read timeout: offline, fail (skip) in seconds, not minutes.
PIP_PATIENCE = ["--retries", "1", "--timeout", "30"]


def _unavailable(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(f"AFTERCARE_REQUIRE_CLIENT_GATE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@pytest.fixture(scope="session")
def generator() -> Path:
    """The generator's executable, in its venv under var/tools/ (made once per version of
    generator-requirements.txt; a lock keeps concurrent sessions from building it twice)."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    venv = TOOLS / f"openapi-python-client-{digest}"
    executable = venv / "bin" / "openapi-python-client"
    installed = venv / ".installed"
    TOOLS.mkdir(parents=True, exist_ok=True)
    with (TOOLS / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed.exists() and executable.exists():
            return executable
        shutil.rmtree(venv, ignore_errors=True)  # half-made by an interrupted run
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), *PIP_INSTALL, *PIP_PATIENCE, "-r", str(REQUIREMENTS)],
        ]
        for step in steps:
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=900)
            except subprocess.TimeoutExpired:
                shutil.rmtree(venv, ignore_errors=True)
                _unavailable(f"installing the generator timed out: {' '.join(step[:4])}")
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                _unavailable(
                    "could not install the client generator from "
                    f"{REQUIREMENTS.relative_to(REPO)} (no network for pip?):\n"
                    f"{_tail(done.stderr or done.stdout)}"
                )
        installed.write_text(REQUIREMENTS.read_text())
    return executable


@pytest.fixture(scope="session")
def generated(generator: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The folder holding the `aftercare_client` package generated from the committed
    document, on sys.path for the session."""
    root = tmp_path_factory.mktemp("generated")
    # The generator formats its output with the ruff of its own venv.
    env = {**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    output = ["--meta", "none", "--output-path", str(root / PACKAGE)]
    done = subprocess.run(
        [str(generator), "generate", "--path", str(DOCUMENT), *output],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=root,
    )
    assert done.returncode == 0, f"the generator failed:\n{done.stdout}\n{done.stderr}"
    assert (root / PACKAGE / "__init__.py").exists(), done.stdout + done.stderr
    # Each warning is a block starting "WARNING ..." or "ERROR ...": each must be about an
    # SVG response, or a part of the document is missing from the client.
    blocks = re.split(r"^(?=(?:WARNING|ERROR) )", done.stdout + done.stderr, flags=re.M)
    unexpected = [b for b in blocks[1:] if TOLERATED_WARNING not in b]
    assert not unexpected, "the generator left out part of the document:\n" + "\n".join(unexpected)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
        del sys.modules[name]
    sys.modules.pop("tests.contract.flow", None)


def test_every_operation_has_a_generated_function(generated: Path) -> None:
    document = json.loads(DOCUMENT.read_text())
    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }
    modules = {module.stem for module in (generated / PACKAGE / "api").glob("*/*.py")}
    assert operations, "no operations in the document"
    assert not operations - modules, f"not generated: {sorted(operations - modules)}"


def test_flow_type_checks_with_the_generated_client_under_mypy_strict(
    generated: Path, tmp_path: Path
) -> None:
    source = FLOW.read_text()
    for forbidden in ("type: ignore", "cast("):
        assert forbidden not in source, f"flow.py may not use {forbidden!r}"
    # mypy's cache outlives the session (under var/tools/): its entries are checked by content,
    # so the next session, with the same document, rechecks in a second instead of half a minute.
    TOOLS.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG)
    options = ["--config-file", str(config), "--cache-dir", str(TOOLS / "mypy-cache")]
    checked = [str(generated / PACKAGE), str(FLOW.relative_to(REPO))]
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mypy"), *options, "--no-error-summary", *checked],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", ""), done.stdout + done.stderr


async def test_scripted_flow_through_the_generated_client(generated: Path, api: Api) -> None:
    """Staff sign-in, patient, enrolment code, the app enrolled, a block, a red-flag report,
    the worklist, acknowledged; and the errors parsed (flow.py), on each database."""
    flow = importlib.import_module("tests.contract.flow")
    transport = httpx.ASGITransport(app=api.app)
    # A clinic of its own: the flow's wrong password counts against no other test's account.
    clinician = (await api.new_clinic()).clinician
    assert clinician.email is not None
    await flow.run_flow(
        base_url="http://aftercare.test",
        transport=transport,
        staff_email=clinician.email,
        staff_password=WORLD_PASSWORD,
        now=START,
    )
