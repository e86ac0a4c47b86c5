"""Commands that run the service: migrate, serve, worker, openapi."""

import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvicorn

from app.cli import help_text
from app.cli.common import cli, load_settings, services_for
from app.cli.database_checks import describe_database, reach_database
from app.cli.startup_checks import bind_listeners, listening_url
from app.core.config import Settings
from app.core.logsafe import configure_logging
from app.core.migrations import upgrade

if TYPE_CHECKING:
    from app.core.deps import Services
    from app.worker.loop import Worker

# An idle connection is closed after this. Longer than uvicorn's 5 s so that a reverse proxy
# whose upstream keep-alive is shorter (15 s, say) always closes first and never sends a request
# down a connection the server is closing; short enough that idle clients hold few sockets.
KEEP_ALIVE_SECONDS = 20


def _say(line: str) -> None:
    # A log record, not a bare line: a collector reading JSON lines gets one more JSON line,
    # and a person at a terminal gets the readable format (logging is configured by now).
    logging.getLogger("aftercare.cli").info(line)


@cli.command(epilog=help_text.environment(*help_text.DATABASE))
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


@cli.command(epilog=help_text.environment(*help_text.SERVICE))
def serve(
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on (0.0.0.0: all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8000,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve only; run `aftercare worker` elsewhere.")
    ] = False,
) -> None:
    """Migrate the database to the latest schema, then serve the API (and, unless
    --no-worker, run the worker in the same process). Waits for a PostgreSQL that does not
    answer yet (AFTERCARE_DATABASE_WAIT_SECONDS)."""
    from app.main import create_app

    settings = load_settings()
    # Bound before migrating: a port in use is told at once, and nobody takes it meanwhile.
    listeners = bind_listeners(host, port)
    try:
        _log_to_stderr(settings)
        asyncio.run(_prepare(settings))
        app = create_app(settings, run_worker=not no_worker)
        worker_line = "--no-worker: run `aftercare worker`" if no_worker else "in this process"
        _say(
            f"aftercare serve: listening on {listening_url(listeners, host)}; database "
            f"{describe_database(settings.resolved_database_url())}; worker {worker_line}"
        )
        _freeze_startup_objects()
        config = uvicorn.Config(
            app, host=host, port=port, **uvicorn_options(settings.forwarded_allow_ips)
        )
        server = uvicorn.Server(config)
        server.run(sockets=listeners)
    finally:
        for listener in listeners:
            listener.close()
    if not server.started:  # uvicorn has logged why (the app's start-up failed)
        raise typer.Exit(1)


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

    url = settings.resolved_database_url()
    await reach_database(settings, url, _say, settings.database_wait_seconds)
    await upgrade(url)
    services = services_for(settings)
    try:
        await services.keyring.ensure()
    except KeyNotHere as exc:
        typer.echo(f"error: {exc.explanation}", err=True)
        raise typer.Exit(2) from exc
    finally:
        await services.db.dispose()


@cli.command(epilog=help_text.environment(*help_text.WORKER))
def worker(
    metrics_port: Annotated[
        int,
        typer.Option(
            metavar="PORT",
            help="Serve this worker's Prometheus metrics on 127.0.0.1:PORT (0: none).",
        ),
    ] = 0,
) -> None:
    """Deliver webhooks, close check-in windows and escalate alerts until SIGTERM or Ctrl-C.
    Several may run against PostgreSQL at once. Waits for a PostgreSQL that does not answer
    yet (AFTERCARE_DATABASE_WAIT_SECONDS)."""
    from app.worker.loop import Worker

    settings = load_settings()
    _log_to_stderr(settings)

    async def run() -> None:
        url = settings.resolved_database_url()
        await reach_database(settings, url, _say, settings.database_wait_seconds)
        await upgrade(url)
        services = services_for(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        the_worker = Worker(services)
        if metrics_port:
            _serve_worker_metrics(services, the_worker, metrics_port)
        _freeze_startup_objects()
        logging.getLogger("aftercare.worker").info("worker started")
        _say(f"aftercare worker: database {describe_database(url)}; stops on SIGTERM or Ctrl-C")
        try:
            await the_worker.run(stop)
        finally:
            await the_worker.aclose()
            await services.db.dispose()
        logging.getLogger("aftercare.worker").info("worker stopped")

    asyncio.run(run())


def _serve_worker_metrics(services: "Services", the_worker: "Worker", port: int) -> None:
    # Loopback only: the worker has no HTTP stack of its own to check a token with, and a
    # scraper runs beside it (or a sidecar forwards). Deliveries, escalations and missed
    # check-ins are counted here; the API's /metrics has the database gauges (left out here:
    # nothing in the worker reads them, and a 0 would look like "no lag").
    from prometheus_client import start_http_server

    from app.metrics.registry import Metrics

    metrics = Metrics(database_gauges=False)
    services.db.commit_listeners.append(metrics.count_committed)
    metrics.watch_worker(lambda: the_worker.last_pass_at)
    start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    _say(f"aftercare worker: metrics on http://127.0.0.1:{port}/metrics")


@cli.command(epilog=help_text.NONE)
def openapi(
    output: Annotated[
        str, typer.Option(metavar="FILE", help="File to write; '-' for standard output.")
    ] = "-",
) -> None:
    """Write the API's OpenAPI document (openapi/openapi.json is this, committed)."""
    from app.main import create_app, openapi_json

    text = openapi_json(create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")))
    if output == "-":
        typer.echo(text, nl=False)
    else:
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:  # a mistake in the option: exit 2, as click's usage errors
            typer.echo(f"error: cannot write {output}: {exc.strerror}", err=True)
            raise typer.Exit(2) from exc
