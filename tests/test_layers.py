"""The import contract (.importlinter): lint-imports keeps it on this tree, and breaks it on a
copy of app/ with a deliberate violation, so the check cannot pass by analysing nothing.

Each run is a subprocess on its own directory (cwd and PYTHONPATH there, no cache), so the copy
is what grimp analyses, not the editable install of this checkout."""

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
ALL_KEPT = re.compile(r"Contracts: \d+ kept, 0 broken\.")


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _not_source(directory: str, names: list[str]) -> list[str]:
    return [
        n
        for n in names
        if n == "__pycache__" or (Path(directory, n).is_file() and not n.endswith(".py"))
    ]


def copy_of_tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "app", tmp_path / "app", ignore=_not_source)
    shutil.copy(REPO / ".importlinter", tmp_path / ".importlinter")
    return tmp_path


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def rules_import_a_domain(root: Path) -> None:
    append(root / "app/rules/guidance.py", "\nimport app.reports.schemas  # noqa: E402, F401\n")


def rules_import_the_database(root: Path) -> None:
    append(root / "app/rules/engine.py", "\nimport sqlalchemy  # noqa: E402, F401\n")


def core_imports_a_domain_lazily(root: Path) -> None:
    # Inside a function: a lazy import is an import all the same.
    append(
        root / "app/core/clock.py",
        "\n\ndef _lazy() -> None:\n    import app.alerts.models  # noqa\n",
    )


def outbox_imports_alerts(root: Path) -> None:
    append(root / "app/outbox/service.py", "\nfrom app.alerts.models import Alert  # noqa\n")


def a_package_without_a_layer(root: Path) -> None:
    (root / "app/newcomer").mkdir()
    (root / "app/newcomer/__init__.py").write_text("")


def two_modules_import_each_other(root: Path) -> None:
    # Inside one package, where the layers contract does not look: guidance imports thresholds.
    append(root / "app/rules/thresholds.py", "\nimport app.rules.guidance  # noqa: E402, F401\n")


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ALL_KEPT.search(result.stdout), result.stdout


# Each deliberate violation, and the words of lint-imports' report that name it.
VIOLATIONS: list[tuple[Callable[[Path], None], str]] = [
    (rules_import_a_domain, "app.rules is not allowed to import app.reports"),
    (rules_import_the_database, "app.rules is not allowed to import sqlalchemy"),
    (core_imports_a_domain_lazily, "app.core is not allowed to import app.alerts"),
    (outbox_imports_alerts, "app.outbox is not allowed to import app.alerts"),
    (a_package_without_a_layer, "not listed as layers:\n\n- app.newcomer"),
    (two_modules_import_each_other, "No cycles are allowed in app.rules"),
]


@pytest.mark.parametrize(
    ("violate", "reported"), [pytest.param(v, r, id=v.__name__) for v, r in VIOLATIONS]
)
def test_a_violation_breaks_the_contract(
    tmp_path: Path, violate: Callable[[Path], None], reported: str
) -> None:
    root = copy_of_tree(tmp_path)
    violate(root)
    result = lint_imports(root)
    assert result.returncode != 0, result.stdout
    # The violation's own report: a copy broken some other way would not name it.
    assert reported in result.stdout, result.stdout
