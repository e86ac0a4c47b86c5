"""A real HTTP webhook receiver on 127.0.0.1, in a thread, for tests and benches.

It records every request (path, headers, exact body bytes, when it arrived and finished) and
answers with what the test asks: a fixed status, a queue of statuses, a delay, a redirect.
It also notices the same `webhook-id` being received twice at the same time, which the
worker must never cause, and counts the most requests it was answering at once.

`BlackHole` is the receiver that never answers: it accepts connections and holds them."""

import contextlib
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    started: float
    finished: float = 0.0

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Receiver:
    port: int = 0
    status: int = 204
    delay: float = 0.0
    statuses: deque[int] = field(default_factory=deque)  # served first, one per request
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    received: list[Received] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)  # webhook-ids received concurrently
    most_at_once: int = 0  # the most requests under way together
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                record = Received(
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    started=time.monotonic(),
                )
                status = receiver._begin(record)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()
                receiver._end(record)

            def log_message(self, *_: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the stdlib's 5 drops connections in a burst

        server = Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _begin(self, record: Received) -> int:
        with self._lock:
            wid = record.webhook_id
            if self._in_flight.get(wid):
                self.overlaps.append(wid)
            self._in_flight[wid] = self._in_flight.get(wid, 0) + 1
            self.most_at_once = max(self.most_at_once, sum(self._in_flight.values()))
            self.received.append(record)
            return self.statuses.popleft() if self.statuses else self.status

    def _end(self, record: Received) -> None:
        with self._lock:
            record.finished = time.monotonic()
            self._in_flight[record.webhook_id] -= 1

    def ids(self) -> list[str]:
        with self._lock:
            return [r.webhook_id for r in self.received]

    def wait_for(self, count: int, timeout: float = 30.0) -> bool:
        """Until `count` distinct webhook-ids arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(self.ids())) >= count:
                return True
            time.sleep(0.02)
        return False


class BlackHole:
    """A TCP server on 127.0.0.1 that accepts every connection and never answers: the
    receiver a noisy clinic's dead endpoints point at. `stop` closes what it holds, so the
    sends waiting on it end at once."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.port: int = self._listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> "BlackHole":
        self._thread.start()
        return self

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:  # the listener was closed: stop
                return
            with self._changed:
                self._held.append(conn)
                self._changed.notify_all()

    @property
    def held(self) -> int:
        with self._changed:
            return len(self._held)

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Until it holds `count` connections; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._held) >= count, timeout)

    def stop(self) -> None:
        # shutdown() first: close() alone does not wake a thread blocked in accept().
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)
        with self._changed:
            for conn in self._held:
                conn.close()
            self._held.clear()
