"""The `aftercare` command."""

import asyncio
import gc
import json
import logging
import signal
import uuid
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.db import create_engine_for, is_sqlite
from app.core.deps import Services
from app.core.errors import Problem
from app.core.logsafe import redact_exceptions_in
from app.core.migrations import current_revision, head_revision, upgrade

cli = typer.Typer(
    help="Aftercare: follow-up after lumbar sympathetic blocks.", no_args_is_help=True
)


def _settings() -> Settings:
    """Settings, or exit with one line per problem (a weak AFTERCARE_SECRET_KEY, say)."""
    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {str(error['msg']).removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from exc


def _services(settings: Settings) -> Services:
    from app.main import build_services

    return build_services(settings)


@cli.command()
def migrate() -> None:
    """Upgrade the database to the latest schema."""
    settings = _settings()
    asyncio.run(upgrade(settings.resolved_database_url()))
    typer.echo("database is at the latest schema")


def _freeze_startup_objects() -> None:
    # Modules, the app and the ORM live as long as the process: frozen, they are out of the
    # cyclic collector's way. In a scratch run of bench/timeline_bench.py a full collection
    # then took 9-18 ms instead of the 80-100 ms behind its p99 spikes.
    gc.collect()
    gc.freeze()


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Other libraries' tracebacks (uvicorn's "Exception in ASGI application") go through this
    # handler too: their exception text may quote patient data (core/logsafe.py).
    redact_exceptions_in(logging.getLogger().handlers)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve only; run `aftercare worker` elsewhere.")
    ] = False,
) -> None:
    """Migrate the database to the latest schema, then serve the API (and, unless
    --no-worker, run the worker in the same process)."""
    from app.main import create_app

    _log_to_stderr()
    settings = _settings()
    asyncio.run(_prepare(settings))
    app = create_app(settings, run_worker=not no_worker)
    _freeze_startup_objects()
    # uvicorn's access log prints raw query strings (?search=<a patient's name>); the audit
    # middleware logs each request with its route template instead.
    # log_config=None: uvicorn's records go through the root handler set up above.
    uvicorn.run(app, host=host, port=port, proxy_headers=False, access_log=False, log_config=None)


async def _prepare(settings: Settings) -> None:
    """Migrate, and make sure this process can sign tokens, before serving."""
    from app.core.keyring import KeyNotHere

    await upgrade(settings.resolved_database_url())
    services = _services(settings)
    try:
        await services.keyring.ensure()
    except KeyNotHere as exc:
        typer.echo(f"error: {exc.explanation}", err=True)
        raise typer.Exit(2) from exc
    finally:
        await services.db.dispose()


@cli.command()
def worker() -> None:
    """Deliver webhooks, close check-in windows and escalate alerts until SIGTERM or Ctrl-C.
    Several may run against PostgreSQL at once."""
    from app.worker.loop import Worker

    _log_to_stderr()
    settings = _settings()

    async def run() -> None:
        await upgrade(settings.resolved_database_url())
        services = _services(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        the_worker = Worker(services)
        _freeze_startup_objects()
        logging.getLogger("aftercare.worker").info("worker started")
        try:
            await the_worker.run(stop)
        finally:
            await the_worker.aclose()
            await services.db.dispose()
        logging.getLogger("aftercare.worker").info("worker stopped")

    asyncio.run(run())


@cli.command("create-admin")
def create_admin(
    clinic: Annotated[str, typer.Option(help="Name of the new clinic.")],
    email: Annotated[str, typer.Option(help="The admin's email (login name).")],
    password: Annotated[str, typer.Option(help="At least 12 characters.")],
    name: Annotated[str, typer.Option(help="The admin's display name.")] = "Clinic admin",
) -> None:
    """Create a clinic and its first admin; prints {"clinic_id", "user_id"}."""
    from app.staff.schemas import StaffCreate
    from app.staff.service import create_clinic_with_admin

    try:  # the same rules as POST /v1/staff
        StaffCreate(email=email, password=password, name=name, role="admin")
    except ValidationError as exc:
        for error in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, error['loc']))}: {error['msg']}", err=True)
        raise typer.Exit(2) from exc
    settings = _settings()

    async def run() -> dict[str, str]:
        await upgrade(settings.resolved_database_url())
        services = _services(settings)
        try:
            made_clinic, admin = await create_clinic_with_admin(
                services, clinic_name=clinic, email=email, password=password, name=name
            )
        finally:
            await services.db.dispose()
        return {"clinic_id": str(made_clinic.id), "user_id": str(admin.id)}

    try:
        typer.echo(json.dumps(asyncio.run(run())))
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


@cli.command("rotate-signing-key")
def rotate_signing_key(
    retire: Annotated[
        str | None,
        typer.Option(help="Retire this key id instead: its tokens fail at their next request."),
    ] = None,
    show: Annotated[bool, typer.Option("--list", help="Only list the keys.")] = False,
) -> None:
    """Make a new current token signing key (tokens of older keys stay valid until they
    expire), or retire a compromised key at once with --retire KID."""
    from app.audit.actions import RETIRE_KEY, ROTATE_KEY
    from app.audit.record import insert_operator_event

    settings = _settings()

    async def run() -> int:
        await upgrade(settings.resolved_database_url())
        services = _services(settings)
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


@cli.command()
def demo() -> None:
    """Seed a demo clinic (staff, patients, blocks, reports) and print how to log in."""
    from app.demo import seed_demo

    settings = _settings()

    async def run() -> dict[str, object]:
        await upgrade(settings.resolved_database_url())
        services = _services(settings)
        try:
            return await seed_demo(services)
        finally:
            await services.db.dispose()

    typer.echo(json.dumps(asyncio.run(run()), indent=2))


@cli.command()
def openapi(
    output: Annotated[str, typer.Option(help="File to write; '-' for standard output.")] = "-",
) -> None:
    """Write the API's OpenAPI document (openapi/openapi.json is this, committed)."""
    from app.main import create_app, openapi_json

    text = openapi_json(create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")))
    if output == "-":
        typer.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)


rules = typer.Typer(help="The clinical rule sets (docs/clinical-rules.md).", no_args_is_help=True)
cli.add_typer(rules, name="rules")


@rules.command("dry-run")
def rules_dry_run(
    clinic: Annotated[str, typer.Option(help="The clinic's id.")],
    version: Annotated[int, typer.Option(help="The candidate rule set version.")],
    since: Annotated[
        str | None, typer.Option(help="Reports recorded at or after (ISO 8601, with offset).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Reports recorded before this.")] = None,
    patient: Annotated[str | None, typer.Option(help="Only this patient's reports.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="List at most this many changed reports.")
    ] = None,
) -> None:
    """What rule set VERSION would have raised over the clinic's stored reports, next to what
    its current rule set gives replayed over the same reports (as POST /v1/rules/dry-run).
    Changes nothing, not even the schema (run `aftercare migrate` first); records an operator
    audit event."""
    from app.rulesets.console import ProgressBar, render
    from app.rulesets.schemas import DryRunIn
    from app.rulesets.service import dry_run_for_operator

    try:  # the same rules as the API's body
        body = DryRunIn.model_validate(
            {"rule_set_version": version, "since": since, "until": until, "patient_id": patient}
        )
        clinic_id = uuid.UUID(clinic)
    except (ValidationError, ValueError) as exc:
        _explain(exc)
        raise typer.Exit(2) from exc
    settings = _settings()

    # A dry run writes nothing, the schema included: an unmigrated database is refused.
    if (behind := _not_at_head(settings.resolved_database_url())) is not None:
        typer.echo(f"error: {behind}", err=True)
        raise typer.Exit(1)

    async def run() -> str:
        services = _services(settings)
        try:
            with ProgressBar() as progress:
                result = await dry_run_for_operator(
                    services.db, services.clock.now(), clinic_id, body,
                    limit=limit, progress=progress,
                )  # fmt: skip
        finally:
            await services.db.dispose()
        return render(result)

    try:
        typer.echo(asyncio.run(run()))
    except Problem as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


def _not_at_head(url: str) -> str | None:
    """Why the database is not at this release's schema (head) revision, or None if it is.
    Reads only: an SQLite file that does not exist is not created."""
    path = make_url(url).database if is_sqlite(url) else None
    exists = not path or path == ":memory:" or Path(path).is_file()
    expected, revision = head_revision(), asyncio.run(_revision(url)) if exists else None
    if revision == expected:
        return None
    return (
        f"the database schema is at revision {revision or '(none)'}, not {expected}; "
        "run `aftercare migrate` first (a dry run changes nothing, the schema included)"
    )


async def _revision(url: str) -> str | None:
    engine = create_engine_for(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            migrated = await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version"))
            return await current_revision(conn) if migrated else None
    finally:
        await engine.dispose()


def _explain(error: Exception) -> None:
    if isinstance(error, ValidationError):
        for item in error.errors():
            where = ".".join(map(str, item["loc"])) or "options"
            typer.echo(f"error: {where}: {item['msg']}", err=True)
    else:
        typer.echo("error: --clinic must be a clinic id (a UUID)", err=True)


@rules.command("doc")
def rules_doc(
    output: Annotated[str, typer.Option(help="File to write.")] = "docs/clinical-rules.md",
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the file differs.")
    ] = False,
) -> None:
    """Write the rule sets as a document, generated from the rule data."""
    from app.rules.document import clinical_rules_markdown

    text, path = clinical_rules_markdown(), Path(output)
    if check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            typer.echo(f"{output} differs from the rules; run `aftercare rules doc`", err=True)
            raise typer.Exit(1)
        typer.echo(f"{output} is up to date")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}")


def main() -> None:
    cli()
