"""The `aftercare` command. Each module adds its commands to the one Typer app."""

from app.cli import accounts, rules, serving  # noqa: F401  (their commands register on import)
from app.cli.common import cli
from app.cli.serving import uvicorn_options

__all__ = ["cli", "main", "uvicorn_options"]


def main() -> None:
    cli()
