"""The one thing pyproject.toml cannot say: the packages are every `app*` package found, plus
the repository's top-level migrations/ installed as `app._migrations` (package-dir in
pyproject.toml). A list in pyproject.toml would be either a find (which cannot add a package
from another directory) or a fixed list (which a new app package would silently miss)."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["app", "app.*"]),
        "app._migrations",
        "app._migrations.versions",
    ]
)
