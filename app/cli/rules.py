"""`aftercare rules`: the clinical rule sets' document and the dry run."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from app.cli import help_text
from app.cli.common import cli, load_settings, services_for
from app.core.db import create_engine_for, is_sqlite
from app.core.domain_errors import DomainError
from app.core.migrations import current_revision, head_revision

rules = typer.Typer(help="The clinical rule sets (docs/clinical-rules.md).", no_args_is_help=True)
cli.add_typer(rules, name="rules")


@rules.command("dry-run", epilog=help_text.environment(*help_text.DATABASE))
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
    settings = load_settings()

    # A dry run writes nothing, the schema included: an unmigrated database is refused.
    if (behind := _not_at_head(settings.resolved_database_url())) is not None:
        typer.echo(f"error: {behind}", err=True)
        raise typer.Exit(1)

    async def run() -> str:
        services = services_for(settings)
        try:
            with ProgressBar() as progress:
                result = await dry_run_for_operator(
                    services.db,
                    services.clock.now(),
                    clinic_id,
                    body,
                    limit=limit,
                    progress=progress,
                )
        finally:
            await services.db.dispose()
        return render(result)

    try:
        typer.echo(asyncio.run(run()))
    except DomainError as exc:
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


@rules.command("doc", epilog=help_text.NONE)
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
