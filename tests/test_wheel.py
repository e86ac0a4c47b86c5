"""What an install from the distribution gets: the wheel carries its migrations, installs from
the hash-locked requirements exactly as the Dockerfile installs it, and keeps its data in the
data directory (./var of the working directory, or AFTERCARE_DATA_DIR), never inside the
install. The lock files stay in step with pyproject.toml's pins."""

import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import PROJECT_ROOT, Settings

REQUIRE_WHEEL = os.environ.get("AFTERCARE_REQUIRE_WHEEL", "") == "1"
# What the Dockerfile copies into its wheel stage: the wheel is built from these alone.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "README.md", "app", "migrations")
# pip's words for an index it cannot reach (as opposed to a lock it cannot satisfy).
UNREACHABLE = re.compile(
    r"NewConnectionError|ConnectTimeout|Temporary failure in name resolution|"
    r"Network is unreachable|Max retries exceeded|ProxyError|dns error|error sending request"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def pinned(requirements: list[str]) -> dict[str, str]:
    """name -> version of `name[extra]==version` pins, names normalised as pip does."""
    pins = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line)
        assert match, f"not an exact pin: {line}"
        name, version = match.groups()
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def locked(lock: str) -> list[str]:
    """The lock's hashed pins (a pin followed by its --hash lines), markers left out."""
    text = (PROJECT_ROOT / lock).read_text(encoding="utf-8")
    return re.findall(r"^(\S+==[^\s;]+)(?: ;[^\\\n]*)? \\\n +--hash=sha256:", text, re.MULTILINE)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("lock", "source"),
    [
        ("requirements.lock", "dependencies"),
        ("requirements-dev.lock", "dependencies+dev"),
        ("requirements-build.lock", "build-system"),
    ],
)
def test_each_lock_holds_pyproject_pins_at_their_versions(lock: str, source: str) -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    if source == "build-system":
        wanted = project["build-system"]["requires"]
    else:
        wanted = list(project["project"]["dependencies"])
        if source.endswith("+dev"):
            wanted += project["project"]["optional-dependencies"]["dev"]
    hashed = locked(lock)
    expected, found = pinned(wanted), pinned(hashed)
    stale = {name: (v, found.get(name)) for name, v in expected.items() if found.get(name) != v}
    assert not stale, f"{lock} is stale (pyproject pin, locked): {stale}; run `bash .ci/lock`"
    text = (PROJECT_ROOT / lock).read_text(encoding="utf-8")
    every_pin = re.findall(r"^[A-Za-z0-9][^ ]*==\S+", text, re.MULTILINE)
    assert len(hashed) == len(every_pin), f"{lock}: a pin without --hash"


@pytest.mark.unit
def test_the_data_directory_defaults_to_var_of_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None, database_url="", data_dir="")
    assert settings.resolved_database_url() == f"sqlite+aiosqlite:///{tmp_path}/var/aftercare.db"
    postgres = Settings(_env_file=None, database_url="postgresql://db/aftercare", data_dir="d")
    assert postgres.resolved_export_dir() == tmp_path / "d" / "exports"


def test_aftercare_data_dir_holds_a_private_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    for name in [n for n in os.environ if n.startswith("AFTERCARE_")]:
        monkeypatch.delenv(name)  # only what this test sets: not a developer's own settings
    monkeypatch.setenv("AFTERCARE_DATA_DIR", str(data))
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["migrate"])
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert (mode(data), mode(data / "aftercare.db")) == (0o700, 0o600)
    assert not (tmp_path / "var").exists()


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


class Installer:
    """pip's installs into a fresh venv, made by uv when it is installed (a dev dependency):
    from its cache the locked dependencies install in seconds, where pip took well over a
    minute on a busy machine. Without uv, the venv's own pip does the same."""

    def __init__(self, venv: Path) -> None:
        self.venv = venv
        self.uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if self.uv:
            _run(self.uv, "venv", "--quiet", "--python", sys.executable, venv)
        else:
            _run(sys.executable, "-m", "venv", venv)

    def install(self, *args: str | Path) -> None:
        if self.uv:
            command = [self.uv, "pip", "install", "--quiet", "--python", self.venv / "bin/python"]
        else:
            command = [self.venv / "bin/pip", "install", "--quiet", "--retries", "1"]
        done = subprocess.run(
            [str(a) for a in [*command, *args]], capture_output=True, text=True, timeout=600
        )
        # An index that cannot be reached skips the test (unless AFTERCARE_REQUIRE_WHEEL=1);
        # a lock that cannot be installed fails it.
        if done.returncode != 0 and UNREACHABLE.search(done.stderr) and not REQUIRE_WHEEL:
            pytest.skip("the package index is unreachable: cannot install the locked requirements")
        assert done.returncode == 0, f"{args} failed:\n{done.stderr[-3000:]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str, server: subprocess.Popen[str], seconds: float) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert server.poll() is None, "the server exited before it was ready"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return dict(json.load(answer))
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise AssertionError(f"{url} was not ready within {seconds} s")


def _copy_build_inputs(source: Path) -> None:
    source.mkdir()
    for name in BUILD_INPUTS:
        if (PROJECT_ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__")
            shutil.copytree(PROJECT_ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(PROJECT_ROOT / name, source / name)


def _repo_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


@pytest.mark.slow
def test_the_wheel_installs_from_the_lock_migrates_and_serves(tmp_path: Path) -> None:
    source, venv, dist = tmp_path / "source", tmp_path / "venv", tmp_path / "dist"
    _copy_build_inputs(source)
    installer = Installer(venv)
    # The Dockerfile's steps: the locked pip and build backend, the wheel, the locked
    # dependencies (hash-checked, nothing resolved), then the wheel alone.
    installer.install("--require-hashes", "-r", PROJECT_ROOT / "requirements-build.lock")
    _run(venv / "bin/pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, source)
    (wheel,) = dist.glob("aftercare-*.whl")
    installer.install("--require-hashes", "--no-deps", "-r", PROJECT_ROOT / "requirements.lock")
    installer.install("--no-deps", "--no-index", wheel)
    _run(venv / "bin/pip", "check")  # the lock left no dependency out

    # A working directory outside the checkout, and none of this run's settings.
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_LOG_FORMAT"] = "json"
    aftercare = venv / "bin/aftercare"
    _run(aftercare, "migrate", cwd=work, env=env)
    assert (mode(work / "var"), mode(work / "var/aftercare.db")) == (0o700, 0o600)

    port = _free_port()
    server = subprocess.Popen(
        [str(aftercare), "serve", "--port", str(port)],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        readiness = _ready(f"http://127.0.0.1:{port}/readyz", server, 60)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert readiness["status"] == "ready", (readiness, stderr[-2000:])
    # Every migration of the checkout shipped: the wheel's head is the repository's.
    assert readiness["schema_revision"] == _repo_head()
    # uvicorn shuts down cleanly on SIGTERM, then dies of it as the signal asks.
    assert server.returncode in (0, -signal.SIGTERM), stderr[-2000:]
    assert not list(venv.rglob("*.db*")), "a database was made inside the install"
    assert {p.name for p in (work / "var").iterdir()} <= {
        "aftercare.db",
        "aftercare.db-wal",
        "aftercare.db-shm",
        "exports",
    }
