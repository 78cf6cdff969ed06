"""Serving the Bolt app: HTTP (threaded WSGI with /slack/events and /healthz) or Socket Mode."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltRequest

from bot.foreground import Foreground

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    # Slack sends bursts; a deeper accept queue keeps acks fast under load.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is routine: one line, not a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            log.info("http connection from %s ended early (%s)", client_address[0],
                     type(exc).__name__)
        else:
            log.error("http request handling failed (%s)", type(exc).__name__, exc_info=exc)


class _QuietHandler(WSGIRequestHandler):
    # A client that stops sending mid-request must not hold a thread for ever.
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("http %s", format % args)


DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Chunk-size lines and trailers are tiny; a bound keeps a hostile one from growing a buffer.
_CHUNK_LINE = 1024
_MAX_TRAILERS = 32
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DIGITS = re.compile(r"[0-9]{1,19}")
_STALE_SECONDS = 5 * 60  # Slack's own replay window


class _Refused(Exception):
    """The request is answered with `status` and never reaches Bolt."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body, never more than `limit` bytes read (413 otherwise)."""
    stream = environ.get("wsgi.input")
    encoding = environ.get("HTTP_TRANSFER_ENCODING", "").strip().lower()
    if encoding and encoding != "identity":
        if encoding != "chunked":
            raise _Refused(400, "unsupported transfer encoding")
        return _read_chunked(stream, limit)
    length = environ.get("CONTENT_LENGTH", "").strip()
    if not length:
        return b""  # HTTP/1.1: no length and no chunking means no body
    if not _DIGITS.fullmatch(length):
        raise _Refused(400, "bad content length")
    size = int(length)
    if size > limit:
        raise _Refused(413, "body over the limit")
    body = stream.read(size) if stream is not None and size else b""
    if len(body) != size:
        raise _Refused(400, "body shorter than its content length")
    return bytes(body)


def _read_chunked(stream: Any, limit: int) -> bytes:
    """Decode a chunked body chunk by chunk, refusing as soon as it would pass `limit`."""
    if stream is None:
        raise _Refused(400, "no body stream")
    body = bytearray()
    while True:
        line = stream.readline(_CHUNK_LINE)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9A-Fa-f]{1,8}", size_text):
            raise _Refused(400, "bad chunk")
        size = int(size_text, 16)
        if size == 0:
            for _ in range(_MAX_TRAILERS):
                if stream.readline(_CHUNK_LINE) in (b"\r\n", b"\n", b""):
                    return bytes(body)
            raise _Refused(400, "too many trailers")
        if len(body) + size > limit:
            raise _Refused(413, "body over the limit")
        chunk = stream.read(size)
        if len(chunk) != size or stream.readline(_CHUNK_LINE) not in (b"\r\n", b"\n"):
            raise _Refused(400, "bad chunk")
        body += chunk


def _check_signature(environ: dict[str, Any], body: bytes, secret: str) -> None:
    """Slack's v0 signature over the exact bytes received, within Slack's five minutes."""
    timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
    if abs(time.time() - int(timestamp)) > _STALE_SECONDS:
        raise _Refused(401, "stale timestamp")
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    # WSGI hands headers over as latin-1 text; comparing bytes never raises on odd input.
    if not hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace")):
        raise _Refused(401, "bad signature")


def _parse(body: bytes, environ: dict[str, Any]) -> BoltRequest:
    """Bolt's request, or 400 when the (signed) payload is not one Slack would send."""
    try:
        text = body.decode("utf-8")
        content_type = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type == "application/json" or text.startswith("{"):
            _require_object(json.loads(text))
        else:
            payload = dict(parse_qsl(text, keep_blank_values=True)).get("payload")
            if payload is not None:
                _require_object(json.loads(payload))
        headers = {k[5:].lower().replace("_", "-"): v for k, v in environ.items()
                   if k.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        headers["content-length"] = str(len(body))
        return BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        raise _Refused(400, f"malformed payload ({type(exc).__name__})") from None


def _require_object(value: object) -> None:
    if not isinstance(value, dict):
        raise ValueError("payload is not a JSON object")
    for key in _OBJECT_KEYS:
        if value.get(key) is not None and not isinstance(value[key], dict):
            raise ValueError(f"{key} is not an object")
    actions = value.get("actions")
    if actions is not None and not (
        isinstance(actions, list) and all(isinstance(a, dict) for a in actions)
    ):
        raise ValueError("actions is not a list of objects")


# Keys that are objects in every payload Slack sends; Bolt's routing reads into them.
_OBJECT_KEYS = ("event", "team", "user", "channel", "container", "message", "view",
                "enterprise", "state")


def _respond(start_response: Callable[..., Any], status: int, body: bytes = b"",
             headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    out = [(k, v) for k, v in headers if k.lower() != "content-length"]
    out.append(("Content-Length", str(len(body))))
    status_line = HTTPStatus(status)
    start_response(f"{status_line.value} {status_line.phrase}", out)
    return [body]


@dataclass(frozen=True)
class FrontDoor:
    """The HTTP limits an app was built with (from Settings)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    signing_secret: str = ""


# Whoever builds the Bolt app knows the settings; whoever serves it only has the app.
_FRONT_DOORS: weakref.WeakKeyDictionary[App, FrontDoor] = weakref.WeakKeyDictionary()


def configure_front_door(app: App, *, max_body_bytes: int, signing_secret: str) -> None:
    """Record the limits `app` is to be served with over HTTP."""
    _FRONT_DOORS[app] = FrontDoor(max_body_bytes, signing_secret)


def front_door(app: App, *, max_body_bytes: int | None = None,
               signing_secret: str | None = None) -> Callable[..., Iterable[bytes]]:
    """What stands between the network and Bolt: size, timestamp, signature and shape are
    checked before Bolt parses anything, so a hostile request costs a bounded read.
    Arguments left out come from configure_front_door()."""
    known = _FRONT_DOORS.get(app, FrontDoor())
    limit = known.max_body_bytes if max_body_bytes is None else max_body_bytes
    secret = known.signing_secret if signing_secret is None else signing_secret

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _respond(start_response, 405, b"method not allowed",
                            [("Content-Type", "text/plain"), ("Allow", "POST")])
        try:
            length = environ.get("CONTENT_LENGTH", "").strip()
            if _DIGITS.fullmatch(length) and int(length) > limit:
                raise _Refused(413, "body over the limit")
            if secret and not _TIMESTAMP.fullmatch(
                    environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")):
                raise _Refused(401, "missing or non-numeric timestamp")
            body = _read_body(environ, limit)
            if secret:
                _check_signature(environ, body, secret)
            request = _parse(body, environ)
        except _Refused as refused:
            level = logging.WARNING if refused.status == 400 else logging.INFO
            log.log(level, "slack request refused status=%d: %s", refused.status,
                    refused.reason)
            # wsgiref closes the connection after each response, so an unread rest of a
            # refused body is dropped with it rather than drained.
            return _respond(start_response, refused.status)
        except OSError as exc:
            log.info("slack request refused: connection failed while reading (%s)",
                     type(exc).__name__)
            return _respond(start_response, 400)
        response = app.dispatch(request)
        return _respond(start_response, response.status, response.body.encode("utf-8"),
                        [(k, v) for k, vs in response.headers.items() for v in vs])

    return handle


def wsgi_app(app: App, health: Callable[[], dict[str, Any]] | None = None, *,
             max_body_bytes: int | None = None, signing_secret: str | None = None,
             foreground: Foreground | None = None,
             ) -> Callable[..., Any]:
    """Route /slack/events to Bolt (through the front door) and answer /healthz ourselves;
    `foreground` counts the requests being acknowledged, so answers' searches let them pass."""
    bolt = front_door(app, max_body_bytes=max_body_bytes, signing_secret=signing_secret)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            body = json.dumps({"ok": True, **(health() if health else {})}).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if path == EVENTS_PATH:
            started = time.perf_counter()
            with foreground.serving() if foreground is not None else nullcontext():
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
                 health: Callable[[], dict[str, Any]] | None = None, *,
                 max_body_bytes: int | None = None,
                 signing_secret: str | None = None,
                 foreground: Foreground | None = None) -> None:
        application = wsgi_app(app, health, max_body_bytes=max_body_bytes,
                               signing_secret=signing_secret, foreground=foreground)
        self.server = make_server(host, port, application,
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
