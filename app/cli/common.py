"""What every `aftercare` command shares: the Typer app, its global options (--version,
--debug), the way a failing command is told (app/cli/startup_checks.py), and settings and
services built the way the service builds them."""

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer._click.core import Context  # typer 0.29 bundles its own click: its Context
from typer.core import TyperGroup

from app.cli import help_text
from app.cli.database_checks import (
    checked_database_url,
    explain_database_error,
    refuse_a_moved_default_database,
)
from app.cli.startup_checks import CONFIGURATION, StartupMistake, masked_text, settings_mistakes
from app.core.config import Settings
from app.core.deps import Services

UNEXPECTED = 1
# Never printed, whatever error quotes them (a library's message may echo a setting's value).
_SECRET_SETTINGS = ("secret_key", "metrics_token")
_MIN_REDACTED_LENGTH = 4  # shorter values would blank out ordinary words


class _Commands(TyperGroup):
    """Runs a command; what it raises is told in a line or two, the traceback only with
    --debug."""

    def invoke(self, ctx: Context) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # typer's own ways out
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            lines, code = _explained(exc, ctx)
            secrets = _secret_values()
            for line in lines:
                typer.echo(_redacted(masked_text(line), secrets), err=True)
            raise typer.Exit(code) from None


def _secret_values() -> list[str]:
    values = [os.environ.get(f"AFTERCARE_{name.upper()}", "") for name in _SECRET_SETTINGS]
    try:
        settings = Settings()  # a .env file may hold them
    except Exception:  # noqa: S110 - the environment's values are redacted all the same
        pass
    else:
        values += [str(getattr(settings, name)) for name in _SECRET_SETTINGS]
    # Longest first: a value that holds a shorter one is redacted whole.
    return sorted({v for v in values if len(v) >= _MIN_REDACTED_LENGTH}, key=len, reverse=True)


def _redacted(line: str, secrets: list[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "(hidden)")
    return line


def _explained(exc: Exception, ctx: Context) -> tuple[list[str], int]:
    if isinstance(exc, ValidationError) and exc.title == Settings.__name__:
        return settings_mistakes(exc), CONFIGURATION
    mistake = exc if isinstance(exc, StartupMistake) else None
    if mistake is None:
        try:
            mistake = explain_database_error(exc, Settings())
        except Exception:  # the settings themselves fail: the error is then something else
            mistake = None
    if mistake is not None:
        return mistake.lines(), mistake.exit_code
    first = (str(exc).splitlines() or [""])[0][:200]
    command = ctx.invoked_subcommand or "<command>"
    return [
        f"error: {type(exc).__name__}: {first}".rstrip(": "),
        f"  (`aftercare --debug {command}` shows the traceback)",
    ], UNEXPECTED


cli = typer.Typer(
    cls=_Commands,
    help="Aftercare: follow-up after lumbar sympathetic blocks.",
    epilog=help_text.environment(*help_text.ALL) + "\n\nREADME.md lists every setting.",
    no_args_is_help=True,
    add_completion=False,
    # Plain help: flags without the `<bool>` of Typer's Rich panels, and text a person can
    # copy; a traceback only with --debug, as Python prints it.
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        try:
            typer.echo(f"aftercare {version('aftercare')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("aftercare (not installed: version unknown)")
        raise typer.Exit()


@cli.callback()
def _global_options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="On an error, show the full traceback.")
    ] = False,
) -> None:
    """Aftercare: follow-up after lumbar sympathetic blocks."""


def load_settings() -> Settings:
    """Settings with a database URL the commands can use, or exit with one or two lines per
    problem (a weak AFTERCARE_SECRET_KEY, AFTERCARE_DB_POOL_SIZE=abc, a mysql:// URL)."""
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in settings_mistakes(exc):
            typer.echo(line, err=True)
        raise typer.Exit(CONFIGURATION) from exc
    checked_database_url(settings)
    refuse_a_moved_default_database(settings)
    return settings


def services_for(settings: Settings) -> Services:
    from app.main import build_services

    return build_services(settings)
