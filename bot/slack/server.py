"""Serving the Bolt app: HTTP (threaded WSGI with /slack/events and /healthz) or Socket Mode."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # Slack sends bursts; a deeper accept queue keeps acks fast under load.
    request_queue_size = 256


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("http %s", format % args)


def wsgi_app(app: App, health: Callable[[], dict[str, Any]] | None = None) -> Callable[..., Any]:
    """Route /slack/events to Bolt and answer /healthz ourselves."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            body = json.dumps({"ok": True, **(health() if health else {})}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path == EVENTS_PATH:
            started = time.perf_counter()
            answer = bolt(environ, start_response)
            # Slack's 3 s budget is spent here; the figure is what operators watch under load.
            log.info("slack request acked ms=%.1f", (time.perf_counter() - started) * 1000)
            return answer
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found"]

    return application


class HttpServer:
    """A threaded HTTP server for the Bolt app; port 0 picks a free port (tests)."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0,
                 health: Callable[[], dict[str, Any]] | None = None) -> None:
        self.server = make_server(host, port, wsgi_app(app, health),
                                  server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{self.port}{EVENTS_PATH}"

    def start(self) -> HttpServer:
        self.thread = threading.Thread(target=self.server.serve_forever, name="http",
                                       daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_socket_mode(app: App, app_token: str, *, block: bool = True) -> Any:
    """Connect over Socket Mode (no public URL needed); the WebClient's base URL is reused so
    apps.connections.open goes to the sandbox in tests."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, app_token, web_client=app.client)
    if block:
        handler.start()
    else:
        handler.connect()
    return handler
