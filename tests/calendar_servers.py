"""Local calendar feed servers on 127.0.0.x for tests: routes, redirects, slow drips."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def weekly_ics(first: datetime, summary: str = "Product review") -> str:
    """A calendar with one weekly meeting starting at `first` (UTC)."""
    stamp = first.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Empty Chair tests//EN\r\n"
        "BEGIN:VEVENT\r\nUID:weekly@example.test\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{stamp}\r\nDURATION:PT1H\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:{summary}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between single bytes of the body (0: all at once)
    drip_headers: bool = False  # drip the status line and headers too
    length: bool = True  # send Content-Length


@dataclass
class FeedServer:
    base: str
    host: str
    port: int
    routes: dict[str, Route]
    hits: list[str]
    host_headers: list[str]


def _handler(routes: dict[str, Route], hits: list[str], hosts: list[str]) -> type:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            hits.append(self.path)
            hosts.append(self.headers.get("Host", ""))
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            head = f"HTTP/1.0 {route.status} X\r\n"
            headers = dict(route.headers)
            if route.length:
                headers.setdefault("Content-Length", str(len(route.body)))
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            try:
                if route.drip_headers:
                    self._drip(head.encode(), route.drip)
                else:
                    self.wfile.write(head.encode())
                    self.wfile.flush()
                self._drip(route.body, route.drip)
            except OSError:
                pass  # the client gave up, as it should

        def _drip(self, data: bytes, delay: float) -> None:
            if not delay:
                self.wfile.write(data)
                return
            for i in range(len(data)):
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
                time.sleep(delay)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def feed_server(
    routes: dict[str, Route] | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[FeedServer]:
    """A threading HTTP server on `host`; `routes` can be changed while it runs."""
    table: dict[str, Route] = routes if routes is not None else {}
    hits: list[str] = []
    hosts: list[str] = []
    server = http.server.ThreadingHTTPServer((host, port), _handler(table, hits, hosts))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    bound = server.server_address[1]
    try:
        yield FeedServer(f"http://{host}:{bound}", host, bound, table, hits, hosts)
    finally:
        server.shutdown()
        server.server_close()


def ics_route(first: datetime | None = None, summary: str = "Product review") -> Route:
    start = first or datetime.now(UTC) + timedelta(days=1)
    return Route(200, weekly_ics(start, summary).encode(),
                 {"Content-Type": "text/calendar; charset=utf-8"})
