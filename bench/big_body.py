"""How fast the real service refuses a 200 MB body, and what it costs the server's memory.

    .venv/bin/python bench/big_body.py [--mb 200] [--database-url URL]

Starts the real service (`aftercare serve --no-worker`, one uvicorn worker; an SQLite
database of its own in a temporary directory unless --database-url) and sends, one at a
time on a fresh connection, a body of --mb megabytes:

- anonymous, to an operation that needs a caller (POST a report): 401 before any of it is
  read;
- anonymous, to the sign-in form, which needs none: 413, at once when the length is
  declared, at the 1 MiB limit when it is chunked;

each with a declared Content-Length and chunked. The client writes the body as fast as the
server takes it while it reads the answer: the time to refusal is from the first byte sent
to the last byte of the answer. Also shown: how much of the body the client got to send
before the server closed the connection, and the server's RSS growth (its peak RSS is reset
through /proc/PID/clear_refs before each send; Linux only). Targets (issue 12): under 1 s
and under 20 MB. Results also go to bench/results/big_body.json. See bench/README.md.
"""

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import HOST, Server, Target, machine_busy_cpu, server_env  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "big_body.json"
# `aftercare serve --no-worker` with whichever `app` comes first on the path.
SERVE = (sys.executable, "-c", "from app.cli import main; main()", "serve", "--no-worker")
CHUNK = 1024 * 1024
TARGET_SECONDS = 1.0
TARGET_RSS_MB = 20.0
ANSWER_TIMEOUT_S = 30.0


@dataclass
class Refusal:
    case: str
    framing: str  # declared | chunked
    status: int
    seconds: float
    sent_mb: float  # of the body, before the server closed the connection
    closed: bool  # the server closed the connection after answering
    rss_before_mb: float
    rss_peak_mb: float

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb

    @property
    def met(self) -> bool:
        return self.seconds < TARGET_SECONDS and self.rss_growth_mb < TARGET_RSS_MB


def rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5: reset the peak RSS to the current


def request_head(path: str, size: int, framing: str, content_type: str) -> bytes:
    length = f"Content-Length: {size}" if framing == "declared" else "Transfer-Encoding: chunked"
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}", f"Content-Type: {content_type}", length]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Upload:
    """Writes the body until it is all sent or the server stops taking it."""

    def __init__(self, size: int, framing: str) -> None:
        self.size = size
        self.framing = framing
        self.sent = 0

    async def run(self, writer: asyncio.StreamWriter) -> None:
        chunk = b"x" * CHUNK
        with suppress(ConnectionError):
            while self.sent < self.size:
                piece = chunk[: min(CHUNK, self.size - self.sent)]
                chunked = self.framing == "chunked"
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                await writer.drain()
                self.sent += len(piece)
            if self.framing == "chunked":
                writer.write(b"0\r\n\r\n")
                await writer.drain()


async def answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """The status of the answer, read in full, and whether the server then closed."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
    await reader.readexactly(length)
    try:
        closed = await asyncio.wait_for(reader.read(1), timeout=2.0) == b""
    except (ConnectionError, TimeoutError):
        closed = True
    return int(lines[0].split()[1]), closed


async def send_once(
    port: int, path: str, body: Upload, content_type: str
) -> tuple[int, float, bool]:
    """The answer's status, the seconds to it, and whether the server closed after it."""
    reader, writer = await asyncio.open_connection(HOST, port)
    started = time.perf_counter()
    writer.write(request_head(path, body.size, body.framing, content_type))
    sending = asyncio.create_task(body.run(writer))
    try:
        status, closed = await asyncio.wait_for(answer(reader), timeout=ANSWER_TIMEOUT_S)
        seconds = time.perf_counter() - started
        # Once the server closes, the upload fails at its next write.
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(sending), timeout=2.0)
    finally:
        sending.cancel()
        with suppress(asyncio.CancelledError):
            await sending
        writer.close()
    return status, seconds, closed


def measure(server: Server, case: str, path: str, framing: str, size: int, kind: str) -> Refusal:
    before = rss_mb(server.pid, "VmRSS")
    reset_peak_rss(server.pid)
    body = Upload(size, framing)
    status, seconds, closed = asyncio.run(send_once(server.port, path, body, kind))
    time.sleep(0.5)  # whatever the server does after answering counts towards its peak too
    return Refusal(
        case=case,
        framing=framing,
        status=status,
        seconds=seconds,
        sent_mb=body.sent / 1e6,
        closed=closed,
        rss_before_mb=before,
        rss_peak_mb=rss_mb(server.pid, "VmHWM"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=200, help="body size, in megabytes (1e6)")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temp dir")
    args = parser.parse_args(argv)
    size = args.mb * 1000 * 1000
    cases = [
        ("report, anonymous", f"/v1/procedures/{uuid.uuid4()}/reports", "application/json"),
        ("sign-in form", "/v1/auth/token", "application/x-www-form-urlencoded"),
    ]
    with tempfile.TemporaryDirectory(prefix="aftercare-big-body-") as workdir:
        url = args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db"
        target = Target("sqlite", "big-body", "", url, "/healthz", command=SERVE)
        env = server_env(secrets.token_urlsafe(32), [])
        busy_before, wall_before = machine_busy_cpu(), time.monotonic()
        with Server(target, env, Path(workdir) / "server.log") as server:
            results = [
                measure(server, case, path, framing, size, kind)
                for case, path, kind in cases
                for framing in ("declared", "chunked")
            ]
        busy = (machine_busy_cpu() - busy_before) / (time.monotonic() - wall_before)
    print(f"{args.mb} MB bodies, one at a time (machine busy: {busy:.2f} cores on average)")
    print(
        f"{'case':<20} {'framing':<9} {'status':>6} {'seconds':>8} {'sent MB':>8} "
        f"{'closed':>6} {'RSS MB':>7} {'growth':>7}  target"
    )
    for r in results:
        print(
            f"{r.case:<20} {r.framing:<9} {r.status:>6} {r.seconds:>8.3f} {r.sent_mb:>8.1f} "
            f"{'yes' if r.closed else 'no':>6} {r.rss_before_mb:>7.0f} {r.rss_growth_mb:>7.1f}"
            f"  {'met' if r.met else 'MISSED'}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "mb": args.mb,
                "machine_busy_cores": round(busy, 2),
                "results": [
                    {**asdict(r), "rss_growth_mb": r.rss_growth_mb, "met": r.met} for r in results
                ],
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
