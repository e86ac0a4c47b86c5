"""Commands for accounts and keys: create-admin, rotate-signing-key, demo."""

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from app.cli import help_text
from app.cli.common import cli, load_settings, services_for
from app.core.domain_errors import DomainError
from app.core.migrations import upgrade

ADMIN_PASSWORD_VARIABLE = "AFTERCARE_ADMIN_PASSWORD"  # noqa: S105 - a variable name


@cli.command("create-admin", epilog=help_text.environment(*help_text.DATABASE))
def create_admin(
    clinic: Annotated[str, typer.Option(metavar="NAME", help="Name of the new clinic.")],
    email: Annotated[str, typer.Option(metavar="EMAIL", help="The admin's email (login name).")],
    password: Annotated[
        str | None,
        typer.Option(
            metavar="PASSWORD",
            envvar=ADMIN_PASSWORD_VARIABLE,
            show_envvar=True,
            help="At least 12 characters. On the command line it is visible to every local "
            "user in the process list: prefer the prompt, --password-file or the variable.",
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="Read the password from this file (one line), for scripts."
        ),
    ] = None,
    name: Annotated[
        str, typer.Option(metavar="NAME", help="The admin's display name.")
    ] = "Clinic admin",
) -> None:
    """Create a clinic and its first admin; prints {"clinic_id", "user_id"}. Asks for the
    password (hidden, twice) unless --password-file, AFTERCARE_ADMIN_PASSWORD or --password
    gives it."""
    from app.staff.schemas import StaffCreate
    from app.staff.service import create_clinic_with_admin

    password = _admin_password(password, password_file)
    try:  # the same rules as POST /v1/staff
        StaffCreate(email=email, password=password, name=name, role="admin")
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc
    settings = load_settings()

    async def run() -> dict[str, str]:
        await upgrade(settings.resolved_database_url())
        services = services_for(settings)
        try:
            made_clinic, admin = await create_clinic_with_admin(
                services, clinic_name=clinic, email=email, password=password, name=name
            )
        finally:
            await services.db.dispose()
        return {"clinic_id": str(made_clinic.id), "user_id": str(admin.id)}

    try:
        typer.echo(json.dumps(asyncio.run(run())))
    except DomainError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


def _admin_password(given: str | None, path: Path | None) -> str:
    if given is not None and path is not None:
        typer.echo(
            f"error: give the password one way: --password-file, or --password / "
            f"{ADMIN_PASSWORD_VARIABLE}",
            err=True,
        )
        raise typer.Exit(2)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            typer.echo(
                f"error: --password-file: cannot read {path}: {type(exc).__name__}", err=True
            )
            raise typer.Exit(2) from exc
        return text.removesuffix("\n").removesuffix("\r")  # the line, not its ending
    if given is not None:
        return given
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@cli.command(
    "rotate-signing-key",
    epilog=help_text.environment(*help_text.DATABASE, "SECRET_KEY"),
)
def rotate_signing_key(
    retire: Annotated[
        str | None,
        typer.Option(
            metavar="KID", help="Retire this key id instead: its tokens fail at their next request."
        ),
    ] = None,
    show: Annotated[bool, typer.Option("--list", help="Only list the keys.")] = False,
) -> None:
    """Make a new current token signing key (tokens of older keys stay valid until they
    expire), or retire a compromised key at once with --retire KID."""
    from app.audit.actions import RETIRE_KEY, ROTATE_KEY
    from app.audit.record import insert_operator_event

    settings = load_settings()

    async def run() -> int:
        await upgrade(settings.resolved_database_url())
        services = services_for(settings)
        keyring = services.keyring
        try:
            if not show:  # --list changes nothing
                async with services.db.write() as session:  # the change and its audit event
                    if retire is None:
                        kid, action = await keyring.rotate(session), ROTATE_KEY
                    elif await keyring.retire(session, retire):
                        kid, action = retire, RETIRE_KEY
                    else:
                        typer.echo(f"error: no key {retire!r} in service; see --list", err=True)
                        return 1
                    await insert_operator_event(session, action, kid, services.clock.now())
            for key in await keyring.listing():
                state = f"retired {key.retired_at:%Y-%m-%d %H:%M}" if key.retired_at else "active"
                typer.echo(f"{key.kid}  {key.source:<11}  {key.created_at:%Y-%m-%d %H:%M}  {state}")
        finally:
            await services.db.dispose()
        return 0

    raise typer.Exit(asyncio.run(run()))


@cli.command(epilog=help_text.environment(*help_text.DATABASE, "PUBLIC_BASE_URL"))
def demo() -> None:
    """Seed a demo clinic (staff, patients, blocks, reports) into a database without clinics,
    and print its logins (random passwords, shown once), ids and links. Refuses a database
    that holds any other clinic."""
    from app.demo import ADMIN_EMAIL, NotADemoDatabase, refuse_unless_demo_database, seed_demo

    settings = load_settings()
    base_url = settings.public_base_url or "http://127.0.0.1:8000"

    async def run() -> dict[str, object]:
        services = services_for(settings)
        try:
            await refuse_unless_demo_database(services)  # before migrating it
            await upgrade(settings.resolved_database_url())
            return await seed_demo(services, base_url)
        finally:
            await services.db.dispose()

    try:
        seeded = asyncio.run(run())
        typer.echo(json.dumps(seeded, indent=2))
        password_hint = (
            "(its password was shown when it was seeded)"
            if seeded.get("already_seeded")
            else "with admin_password above (shown this once)"
        )
        typer.echo(
            f"demo clinic {seeded['clinic_id']}: with `aftercare serve` running, open "
            f"{base_url.rstrip('/')}/docs and sign in as {ADMIN_EMAIL} {password_hint}",
            err=True,
        )
    except NotADemoDatabase as exc:
        typer.echo(
            f"error: the database holds {exc.clinics} clinic(s) besides the demo clinic (the "
            f"one whose admin is {ADMIN_EMAIL}); the demo seeds only a database without "
            "clinics: point AFTERCARE_DATABASE_URL at a new one",
            err=True,
        )
        raise typer.Exit(1) from exc
