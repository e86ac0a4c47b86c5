"""What every `aftercare` command shares: the Typer app, and settings and services built the
way the service builds them."""

import typer
from pydantic import ValidationError

from app.core.config import Settings
from app.core.deps import Services

cli = typer.Typer(
    help="Aftercare: follow-up after lumbar sympathetic blocks.", no_args_is_help=True
)


def load_settings() -> Settings:
    """Settings, or exit with one line per problem (a weak AFTERCARE_SECRET_KEY, say)."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {str(error['msg']).removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from exc


def services_for(settings: Settings) -> Services:
    from app.main import build_services

    return build_services(settings)
