"""Commands that run the service: migrate, serve, worker, openapi."""

import asyncio
import gc
import logging
import signal
from typing import Annotated, Any

import typer
import uvicorn

from app.cli.common import cli, load_settings, services_for
from app.core.config import Settings
from app.core.logsafe import configure_logging
from app.core.migrations import upgrade

# An idle connection is closed after this. Longer than uvicorn's 5 s so that a reverse proxy
# whose upstream keep-alive is shorter (15 s, say) always closes first and never sends a request
# down a connection the server is closing; short enough that idle clients hold few sockets.
KEEP_ALIVE_SECONDS = 20


@cli.command()
def migrate() -> None:
    """Upgrade the database to the latest schema."""
    settings = load_settings()
    asyncio.run(upgrade(settings.resolved_database_url()))
    typer.echo("database is at the latest schema")


def _freeze_startup_objects() -> None:
    # Modules, the app and the ORM live as long as the process: frozen, they are out of the
    # cyclic collector's way. In a scratch run of bench/timeline_bench.py a full collection
    # then took 9-18 ms instead of the 80-100 ms behind its p99 spikes.
    gc.collect()
    gc.freeze()


def _log_to_stderr(settings: Settings) -> None:
    # JSON lines for a log collector, a readable line when a person runs it in a terminal
    # (AFTERCARE_LOG_FORMAT overrides); never exception text or other libraries' raw inputs.
    configure_logging(settings.log_format)


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

    settings = load_settings()
    _log_to_stderr(settings)
    asyncio.run(_prepare(settings))
    app = create_app(settings, run_worker=not no_worker)
    _freeze_startup_objects()
    uvicorn.run(app, host=host, port=port, **uvicorn_options(settings.forwarded_allow_ips))


def uvicorn_options(forwarded_allow_ips: str = "") -> dict[str, Any]:
    """How `serve` runs uvicorn (tests/test_phi_hygiene.py serves the app with the same)."""
    return {
        # Only behind a reverse proxy named in AFTERCARE_FORWARDED_ALLOW_IPS is the client's
        # address taken from X-Forwarded-For: the throttles count per client, not per proxy,
        # and nobody else can forge the address they are counted by.
        "proxy_headers": bool(forwarded_allow_ips),
        "forwarded_allow_ips": forwarded_allow_ips or None,
        # uvicorn's access log prints raw query strings (?search=<a patient's name>); the audit
        # middleware logs each request with its route template instead.
        "access_log": False,
        "log_config": None,  # uvicorn's records go through the root handler (_log_to_stderr)
        "server_header": False,  # no "server: uvicorn" to tell a scanner what to try
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
    }


async def _prepare(settings: Settings) -> None:
    """Migrate, and make sure this process can sign tokens, before serving."""
    from app.core.keyring import KeyNotHere

    await upgrade(settings.resolved_database_url())
    services = services_for(settings)
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

    settings = load_settings()
    _log_to_stderr(settings)

    async def run() -> None:
        await upgrade(settings.resolved_database_url())
        services = services_for(settings)
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
