"""SlackEmulator: the HTTP server, call recording, error injection and Web API dispatch."""

# Each Slack API family lives in its own mixin module; a handler is a method marked
# `@web_api("family.method")`, found when the emulator starts, so adding one touches one file.

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.emulator.apps_auth import AppsAuthApi
from bot.sandbox.emulator.base import (
    ApiError,
    Channel,
    Listener,
    RecordedCall,
    ResponseTarget,
    UploadedFile,
    log,
    web_api_methods,
)
from bot.sandbox.emulator.chat import ChatApi
from bot.sandbox.emulator.conversations import ConversationsApi
from bot.sandbox.emulator.reactions_files import ReactionsFilesApi
from bot.sandbox.emulator.users import UsersApi
from bot.sandbox.emulator.views_assistant import ViewsAssistantApi
from bot.sandbox.emulator.wire import HttpServer, RequestHandler, parse_params, request_token, short
from bot.sandbox.emulator.workspace import WorkspaceControl
from bot.sandbox.socket_server import SocketModeServer


class SlackEmulator(
    ChatApi, ConversationsApi, UsersApi, ReactionsFilesApi, ViewsAssistantApi, AppsAuthApi,
    WorkspaceControl,
):
    """A Slack workspace on 127.0.0.1 that slack_sdk's WebClient and Bolt can talk to.

    Use as a context manager (or start()/stop()); point `WebClient(base_url=emulator.base_url)`
    at it. Every request is recorded; state (channels, messages, views, files…) lives in memory.
    """

    def __init__(
        self, *, team_id: str = "T0001", team_name: str = "Empty Chair Sandbox",
        team_domain: str = "emptychair-sandbox", bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT", bot_name: str = "emptychair", app_id: str = "A0EMPTYCHAIR",
        seed: bool = True, clock: Callable[[], float] = time.time, host: str = "127.0.0.1",
        repeat_thread_parent: bool = False,
    ) -> None:
        # Slack has been seen to start every page of conversations.replies with the thread's
        # parent, not only the first; this lets tests serve threads that way.
        self.repeat_thread_parent = repeat_thread_parent
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.bot_user_id, self.bot_id, self.bot_name, self.app_id = (
            bot_user_id, bot_id, bot_name, app_id)
        self.host = host
        self._clock = clock
        self._lock = threading.RLock()
        self._calls_cond = threading.Condition()
        self._calls: list[RecordedCall] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, Channel] = {}
        self._last_ts_us = 0
        self._id_counter = 0
        self._streams: set[tuple[str, str]] = set()
        self._ephemerals: list[dict[str, Any]] = []
        self._home_views: dict[str, dict[str, Any]] = {}
        self._modals: list[dict[str, Any]] = []
        self._files: dict[str, UploadedFile] = {}
        self._statuses: dict[tuple[str, str], str] = {}
        self._suggested_prompts: dict[tuple[str, str], dict[str, Any]] = {}
        self._titles: dict[tuple[str, str], str] = {}
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._response_targets: dict[str, ResponseTarget] = {}
        self._tickets: set[str] = set()
        self._failures: dict[str, deque[str]] = {}
        self._rate_limits: dict[str, deque[int]] = {}
        self._delays: dict[str, float] = {}
        self._listeners: list[Listener] = []
        self._pending_events: list[tuple[str, dict[str, Any]]] = []
        self._http: HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._socket = SocketModeServer(self._ticket_ok, app_id, host)
        self._methods = web_api_methods(self)
        self.add_user(bot_user_id, bot_name, real_name="Empty Chair", is_bot=True)
        if seed:
            self._seed()

    def _seed(self) -> None:
        self.add_user("U0ALICE", "alice", real_name="Alice Archer", tz="Europe/Berlin")
        self.add_user("U0BOB", "bob", real_name="Bob Baker", tz="America/New_York")
        self.add_user("U0CAROL", "carol", real_name="Carol Chen", tz="Asia/Tokyo")
        people = ["U0ALICE", "U0BOB", "U0CAROL"]
        self.add_channel("C0MEET", "product-meeting", members=people)
        self.add_channel("C0FEEDBACK", "customer-feedback", members=people)
        self.add_channel("C0RANDOM", "random", members=people, bot_member=False)
        self.add_channel("C0PRIVATE", "leadership", is_private=True, members=people[:2],
                         bot_member=False)

    # ================================================================= lifecycle
    def start(self) -> SlackEmulator:
        if self._http is not None:
            return self
        server = HttpServer((self.host, 0), RequestHandler)
        server.emulator = self
        self._http = server
        # A short poll interval keeps stop() (and so every test's teardown) quick.
        self._http_thread = threading.Thread(target=server.serve_forever, args=(0.05,),
                                             name="sandbox-web-api", daemon=True)
        self._http_thread.start()
        self._socket.start()
        return self

    def stop(self) -> None:
        self._socket.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(timeout=5)
            self._http_thread = None

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def socket_port(self) -> int:
        return self._socket.port

    # ================================================================= recorded calls
    @property
    def calls(self) -> list[RecordedCall]:
        with self._calls_cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        with self._calls_cond:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[RecordedCall]:
        """Block until `method` was called at least `count` times; returns those calls."""

        def enough() -> bool:
            return sum(1 for c in self._calls if c.method == method) >= count

        with self._calls_cond:
            if not self._calls_cond.wait_for(enough, timeout=timeout):
                seen = "\n  ".join(f"{c.method} {short(c.params)}" for c in self._calls)
                raise AssertionError(
                    f"expected {count} call(s) to {method} within {timeout}s; "
                    f"calls so far:\n  {seen or '(none)'}"
                )
            return [c for c in self._calls if c.method == method]

    def reset_calls(self) -> None:
        with self._calls_cond:
            self._calls.clear()

    # ================================================================= error injection
    def fail_next(self, method: str, error: str = "not_in_channel", times: int = 1) -> None:
        """The next `times` calls to `method` answer `{"ok": false, "error": error}`."""
        with self._lock:
            self._failures.setdefault(method, deque()).extend([error] * times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls to `method` answer HTTP 429 with a Retry-After header."""
        with self._lock:
            self._rate_limits.setdefault(method, deque()).extend([retry_after] * times)

    def delay(self, method: str, seconds: float) -> None:
        """Every later call to `method` waits `seconds` before answering (0 switches it off)."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
    # ================================================================= HTTP plumbing
    def _serve(self, handler: RequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        path = parts.path
        try:
            if path.startswith("/api/"):
                status, extra_headers, payload = self._api(path[len("/api/"):], parts.query,
                                                           body, headers, path)
            elif path.startswith("/upload/"):
                status, extra_headers, payload = self._upload(path.rsplit("/", 1)[-1], body,
                                                              headers, path)
            elif path.startswith("/response/"):
                status, extra_headers, payload = self._response_url(
                    path[len("/response/"):], body, headers, path)
            else:
                status, extra_headers, payload = 404, {}, b"not found"
        except Exception:
            log.exception("emulator failed on %s", path)
            status, extra_headers, payload = 500, {}, b"emulator error"
        finally:
            self._flush_events()
        handler.send_response(status)
        content_type = "text/plain; charset=utf-8"
        if payload[:1] in (b"{", b"["):
            content_type = "application/json; charset=utf-8"
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in extra_headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _api(self, method: str, query: str, body: bytes, headers: dict[str, str], path: str
             ) -> tuple[int, dict[str, str], bytes]:
        parse_error: str | None = None
        try:
            params = parse_params(query, body, headers.get("content-type", ""))
        except ValueError:
            params, parse_error = {}, "invalid_json"
        self._record(RecordedCall(method, params, headers, time.time(), path))
        injected = self._injected(method)
        if injected is not None:
            return injected
        try:
            if parse_error:
                raise ApiError(parse_error)
            handler = self._methods.get(method)
            if handler is None:
                raise ApiError("unknown_method")
            token = request_token(headers, params)
            self._check_token(method, token)
            with self._lock:
                result = handler(params, token)
            response: dict[str, Any] = {"ok": True, **result}
        except ApiError as exc:
            response = {"ok": False, "error": exc.code, **exc.extra}
        return 200, {}, json.dumps(response).encode()

    def _check_token(self, method: str, token: str) -> None:
        if not token:
            raise ApiError("not_authed")
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                raise ApiError("not_allowed_token_type")
        elif token.startswith("xapp-"):
            raise ApiError("not_allowed_token_type")
        elif not token.startswith(("xoxb-", "xoxp-")):
            raise ApiError("invalid_auth")
