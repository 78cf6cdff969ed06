"""A Slack Web API emulator on 127.0.0.1: real HTTP, in-memory workspace state, recorded calls."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.sandbox.socket_server import SocketAck, SocketModeServer

log = logging.getLogger(__name__)

# slack_sdk sends these as JSON strings inside form bodies (files.completeUploadExternal's
# `files`, any method called with params=…); tests want Python objects, not strings.
JSON_PARAMS = frozenset({
    "blocks", "attachments", "view", "files", "metadata", "chunks", "user_auth_blocks",
    "unfurls", "loading_messages", "prompts",
})

Listener = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class RecordedCall:
    """One request the emulator received. Header names are lower-case."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    path: str = ""


@dataclass
class UploadedFile:
    """A file from the files.getUploadURLExternal → upload → completeUploadExternal dance."""

    id: str
    filename: str
    length: int
    title: str = ""
    alt_txt: str = ""
    snippet_type: str = ""
    content: bytes | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str = ""
    completed: bool = False


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    created: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _ResponseTarget:
    channel: str | None
    user: str | None
    thread_ts: str | None
    message_ts: str | None


class ApiError(Exception):
    """Raised inside a method handler: becomes `{"ok": false, "error": code}`."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or str(value).lower() in ("1", "true", "yes")


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"sandbox:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(str(cursor)).decode().partition(":")
        if kind != "sandbox":
            raise ValueError(kind)
        return max(0, int(offset))
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments") from None
    return default if value <= 0 else min(max(value, low), high)


def _in_window(ts: str, params: dict[str, Any]) -> bool:
    """conversations.history/replies `oldest`/`latest`, exclusive unless `inclusive`."""
    inclusive = _truthy(params.get("inclusive"))
    value = float(ts)
    oldest, latest = params.get("oldest"), params.get("latest")
    if oldest not in (None, ""):
        lo = float(oldest)
        if value < lo or (value == lo and not inclusive):
            return False
    if latest not in (None, ""):
        hi = float(latest)
        if value > hi or (value == hi and not inclusive):
            return False
    return True


def _stream_text(params: dict[str, Any]) -> str:
    """Text carried by a streaming call: `markdown_text` and/or markdown_text chunks (the
    slack_sdk 3.47 `chat_stream` helper sends only chunks)."""
    text = str(params.get("markdown_text") or "")
    chunks = params.get("chunks")
    if isinstance(chunks, list):
        for chunk in chunks:
            if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
                text += str(chunk.get("text") or "")
    return text


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    emulator: SlackEmulator


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.emulator._serve(self)

    def do_GET(self) -> None:  # noqa: N802
        self.server.emulator._serve(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("emulator http: " + format, *args)


class SlackEmulator:
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
        self._channels: dict[str, _Channel] = {}
        self._last_ts_us = 0
        self._id_counter = 0
        self._streams: set[tuple[str, str]] = set()
        self._ephemerals: list[dict[str, Any]] = []
        self._home_views: dict[str, dict[str, Any]] = {}
        self._modals: list[dict[str, Any]] = []
        self._files: dict[str, UploadedFile] = {}
        self._statuses: dict[tuple[str, str], str] = {}
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._response_targets: dict[str, _ResponseTarget] = {}
        self._tickets: set[str] = set()
        self._failures: dict[str, deque[str]] = {}
        self._rate_limits: dict[str, deque[int]] = {}
        self._delays: dict[str, float] = {}
        self._listeners: list[Listener] = []
        self._pending_events: list[tuple[str, dict[str, Any]]] = []
        self._http: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._socket = SocketModeServer(self._ticket_ok, app_id, host)
        self._methods: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.getPermalink": self._chat_get_permalink,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_join,
            "conversations.members": self._conversations_members,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "users.conversations": self._users_conversations,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "assistant.threads.setStatus": self._assistant_set_status,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "apps.connections.open": self._apps_connections_open,
        }
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
        server = _HttpServer((self.host, 0), _Handler)
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
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return int(self._http.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For `WebClient(base_url=…)`; the trailing slash matters to urljoin."""
        return f"{self.url}/api/"

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
                seen = "\n  ".join(f"{c.method} {_short(c.params)}" for c in self._calls)
                raise AssertionError(
                    f"expected {count} call(s) to {method} within {timeout}s; "
                    f"calls so far:\n  {seen or '(none)'}"
                )
            return [c for c in self._calls if c.method == method]

    def reset_calls(self) -> None:
        with self._calls_cond:
            self._calls.clear()

    def _record(self, call: RecordedCall) -> None:
        with self._calls_cond:
            self._calls.append(call)
            self._calls_cond.notify_all()

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
            else:
                self._delays.pop(method, None)

    # ================================================================= workspace setup
    def add_user(
        self, user_id: str, name: str, *, real_name: str | None = None, tz: str = "UTC",
        is_bot: bool = False, email: str | None = None, is_admin: bool = False,
        is_owner: bool = False,
    ) -> dict[str, Any]:
        ZoneInfo(tz)  # fail now, not at users.info time
        user: dict[str, Any] = {
            "id": user_id, "team_id": self.team_id, "name": name, "deleted": False,
            "real_name": real_name or name, "tz": tz, "is_bot": is_bot,
            # Slack marks owners as admins too; the primary owner is one of the owners.
            "is_admin": is_admin or is_owner, "is_owner": is_owner, "is_primary_owner": False,
            "is_app_user": False,
            "profile": {"real_name": real_name or name, "display_name": name,
                        **({"email": email} if email else {}),
                        **({"bot_id": self.bot_id} if user_id == self.bot_user_id else {})},
        }
        with self._lock:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def add_channel(
        self, channel_id: str, name: str, *, is_private: bool = False,
        members: Iterable[str] = (), bot_member: bool = True,
    ) -> dict[str, Any]:
        """Create a channel; the bot is a member when `bot_member` or listed in `members`."""
        member_set = set(members)
        if bot_member:
            member_set.add(self.bot_user_id)
        with self._lock:
            ch = _Channel(id=channel_id, name=name, is_private=is_private, members=member_set,
                          created=int(self._clock()))
            self._channels[channel_id] = ch
            return self._channel_obj(ch)

    def set_member(self, channel_id: str, user_id: str, member: bool = True) -> None:
        with self._lock:
            ch = self._existing_channel(channel_id)
            if member:
                ch.members.add(user_id)
            else:
                ch.members.discard(user_id)

    def is_member(self, channel_id: str, user_id: str | None = None) -> bool:
        with self._lock:
            return (user_id or self.bot_user_id) in self._existing_channel(channel_id).members

    def post_user_message(
        self, channel: str, user: str, text: str, thread_ts: str | None = None, *,
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        """A human says something (no Web API call is recorded); returns its ts."""
        with self._lock:
            ch = self._existing_channel(channel)
            ch.members.add(user)
            msg: dict[str, Any] = {
                "type": "message", "ts": self._next_ts(), "user": user, "text": text,
                "team": self.team_id, "client_msg_id": str(uuid.uuid4()),
            }
            if blocks:
                msg["blocks"] = copy.deepcopy(blocks)
            if thread_ts:
                msg["thread_ts"] = thread_ts
            self._add_message(ch, msg)
            ts = str(msg["ts"])
        self._flush_events()
        return ts

    def on_change(self, listener: Listener) -> None:
        """Call `listener(kind, data)` after each state change (new message, update, delete,
        ephemeral, home, modal, file, status, reaction, response); it runs on a server thread."""
        with self._lock:
            self._listeners.append(listener)

    def response_url_for(
        self, key: str, *, channel: str | None = None, user: str | None = None,
        thread_ts: str | None = None, message_ts: str | None = None,
    ) -> str:
        """A response_url on this emulator; with a channel/user, in_channel and ephemeral
        responses also land in the workspace state, as they would in Slack."""
        with self._lock:
            self._response_targets[key] = _ResponseTarget(channel, user, thread_ts, message_ts)
        return f"{self.url}/response/{key}"

    # ================================================================= state inspection
    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Every message in the channel, replies included, oldest first (copies)."""
        with self._lock:
            return copy.deepcopy(self._existing_channel(channel).messages)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        with self._lock:
            ch = self._existing_channel(channel)
            return copy.deepcopy([m for m in ch.messages
                                  if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts])

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._lock:
            msg = self._find(self._existing_channel(channel), ts)
            return copy.deepcopy(msg) if msg else None

    def channel(self, channel_id: str) -> dict[str, Any]:
        with self._lock:
            return self._channel_obj(self._existing_channel(channel_id))

    def user(self, user_id: str) -> dict[str, Any]:
        with self._lock:
            if user_id not in self._users:
                raise ValueError(f"unknown user {user_id!r}; add it with add_user()")
            return self._user_obj(user_id)

    def is_streaming(self, channel: str, ts: str) -> bool:
        with self._lock:
            return (channel, ts) in self._streams

    @property
    def ephemerals(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    @property
    def home_views(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._home_views)

    @property
    def modals(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._modals)

    @property
    def files(self) -> dict[str, UploadedFile]:
        with self._lock:
            return copy.deepcopy(self._files)

    @property
    def assistant_statuses(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return dict(self._statuses)

    def response_posts(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._responses.get(key, []))

    # ================================================================= Socket Mode
    def socket_send(
        self, payload_type: str, payload: dict[str, Any], *,
        accepts_response_payload: bool | None = None, retry_attempt: int = 0,
        retry_reason: str = "", wait_for_client: float = 5.0,
    ) -> str:
        """Send an envelope (events_api, slash_commands, interactive) to the connected app;
        returns its envelope_id."""
        return self._socket.send(payload_type, payload,
                                 accepts_response_payload=accepts_response_payload,
                                 retry_attempt=retry_attempt, retry_reason=retry_reason,
                                 wait_for_client=wait_for_client)

    def wait_for_ack(self, envelope_id: str, timeout: float = 5.0) -> SocketAck:
        return self._socket.wait_for_ack(envelope_id, timeout)

    def wait_for_socket_client(self, timeout: float = 5.0) -> None:
        self._socket.wait_for_client(timeout)

    @property
    def socket_acks(self) -> list[SocketAck]:
        return self._socket.acks

    @property
    def socket_client_count(self) -> int:
        return self._socket.client_count

    def socket_disconnect(self, reason: str = "warning") -> None:
        self._socket.disconnect_clients(reason)

    def socket_close(self, code: int = 1000, reason: str = "") -> None:
        """Close every Socket Mode connection from the server side (turn the client's
        auto-reconnect off first, or it will open a new one)."""
        self._socket.close_clients(code, reason)

    def close_socket_mode(self, handler: Any, timeout: float = 3.0) -> None:
        """Shut down a Bolt SocketModeHandler (or a slack_sdk SocketModeClient) connected here,
        quickly and without tripping slack_sdk's races: no reconnect, our close frame first,
        then the client's close() once it has dropped the socket itself."""
        client = getattr(handler, "client", handler)
        client.auto_reconnect_enabled = False
        self.socket_close()
        deadline = time.monotonic() + timeout
        # The built-in client's disconnect() checks `sock` outside its lock; calling close()
        # while its receive thread is still dropping the socket raises AttributeError.
        while client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        handler.close()

    def _ticket_ok(self, ticket: str) -> bool:
        with self._lock:
            return ticket in self._tickets

    # ================================================================= HTTP plumbing
    def _serve(self, handler: _Handler) -> None:
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

    def _injected(self, method: str) -> tuple[int, dict[str, str], bytes] | None:
        """Delay, then an injected 429 or error for `method`, if one is queued."""
        with self._lock:
            wait = self._delays.get(method, 0.0)
        if wait:
            time.sleep(wait)
        with self._lock:
            limits = self._rate_limits.get(method)
            if limits:
                retry_after = limits.popleft()
                body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                return 429, {"Retry-After": str(retry_after)}, body
            failures = self._failures.get(method)
            if failures:
                return 200, {}, json.dumps({"ok": False, "error": failures.popleft()}).encode()
        return None

    def _api(self, method: str, query: str, body: bytes, headers: dict[str, str], path: str
             ) -> tuple[int, dict[str, str], bytes]:
        parse_error: str | None = None
        try:
            params = _parse_params(query, body, headers.get("content-type", ""))
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
            token = _token(headers, params)
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

    def _upload(self, file_id: str, body: bytes, headers: dict[str, str], path: str
                ) -> tuple[int, dict[str, str], bytes]:
        # The body is the raw file even though urllib labels it form-urlencoded.
        self._record(RecordedCall("upload", {"file_id": file_id, "length": len(body)}, headers,
                                  time.time(), path))
        injected = self._injected("upload")
        if injected is not None:
            return injected
        with self._lock:
            record = self._files.get(file_id)
            if record is None:
                return 404, {}, b"file not found"
            record.content = bytes(body)
        return 200, {}, f"OK - {len(body)}".encode()

    def _response_url(self, key: str, body: bytes, headers: dict[str, str], path: str
                      ) -> tuple[int, dict[str, str], bytes]:
        try:
            params = _parse_params("", body, headers.get("content-type", "application/json"))
        except ValueError:
            params = {"_raw": body.decode("utf-8", "replace")}
        self._record(RecordedCall("response_url", params, headers, time.time(), path))
        injected = self._injected("response_url")
        if injected is not None:
            status, extra, payload = injected
            # response_url errors are plain HTTP errors, not {"ok": false} bodies.
            return (status if status != 200 else 404), extra, payload
        with self._lock:
            self._responses.setdefault(key, []).append(params)
            self._apply_response(self._response_targets.get(key), params)
            self._emit("response", {"key": key, "body": params})
        return 200, {}, b'{"ok":true}'

    def _apply_response(self, target: _ResponseTarget | None, body: dict[str, Any]) -> None:
        if target is None or not target.channel or target.channel not in self._channels:
            return
        ch = self._channels[target.channel]
        if _truthy(body.get("delete_original")) and target.message_ts:
            self._delete_message(ch, target.message_ts)
            return
        if _truthy(body.get("replace_original")) and target.message_ts:
            original = self._find(ch, target.message_ts)
            if original is not None:
                for key in ("text", "blocks", "attachments"):
                    if key in body:
                        original[key] = copy.deepcopy(body[key])
                self._emit("message_changed", {"channel": ch.id, "message": original})
            return
        thread_ts = body.get("thread_ts") or target.thread_ts
        if body.get("response_type") == "in_channel":
            msg = self._bot_message(body, thread_ts)
            self._add_message(ch, msg)
        else:
            self._add_ephemeral(ch.id, target.user or "", body, thread_ts, via="response_url")

    # ================================================================= state helpers
    def _next_ts(self) -> str:
        # Slack ts values are unique per channel and sort by time; keep them strictly rising
        # even when two messages land in the same microsecond.
        now_us = int(self._clock() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._id_counter += 1
        return f"{prefix}{self._id_counter:08d}"

    def _existing_channel(self, channel_id: str) -> _Channel:
        ch = self._channels.get(channel_id)
        if ch is None:
            raise ValueError(f"unknown channel {channel_id!r}; add it with add_channel()")
        return ch

    def _channel(self, channel_id: Any) -> _Channel:
        """Resolve a Web API `channel` argument; a user id means the DM with that user."""
        cid = str(channel_id or "")
        if cid in self._channels:
            return self._channels[cid]
        if cid[:1] in ("U", "W") and cid in self._users:
            return self._dm_with(cid)
        raise ApiError("channel_not_found")

    def _dm_with(self, user_id: str) -> _Channel:
        dm_id = "D" + user_id[1:]
        if dm_id not in self._channels:
            self._channels[dm_id] = _Channel(id=dm_id, name=user_id, is_private=True, is_im=True,
                                             members={user_id, self.bot_user_id},
                                             created=int(self._clock()))
        return self._channels[dm_id]

    def _require_bot(self, ch: _Channel) -> None:
        if self.bot_user_id not in ch.members:
            # Slack hides private channels from non-members entirely.
            raise ApiError("channel_not_found" if ch.is_private else "not_in_channel")

    def _find(self, ch: _Channel, ts: Any) -> dict[str, Any] | None:
        for msg in ch.messages:
            if msg["ts"] == ts:
                return msg
        return None

    def _bot_message(self, params: dict[str, Any], thread_ts: Any = None) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message", "ts": self._next_ts(), "user": self.bot_user_id,
            "bot_id": self.bot_id, "app_id": self.app_id, "team": self.team_id,
            "text": str(params.get("text") or params.get("markdown_text") or ""),
            "bot_profile": {"id": self.bot_id, "name": self.bot_name, "app_id": self.app_id,
                            "team_id": self.team_id},
        }
        for key in ("blocks", "attachments", "metadata"):
            if params.get(key) not in (None, ""):
                msg[key] = copy.deepcopy(params[key])
        if thread_ts:
            msg["thread_ts"] = str(thread_ts)
        return msg

    def _add_message(self, ch: _Channel, msg: dict[str, Any]) -> None:
        thread_ts = msg.get("thread_ts")
        if thread_ts and thread_ts != msg["ts"]:
            parent = self._find(ch, thread_ts)
            if parent is not None:
                parent["thread_ts"] = parent["ts"]
                parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
                users = parent.setdefault("reply_users", [])
                if msg.get("user") and msg["user"] not in users:
                    users.append(msg["user"])
                parent["reply_users_count"] = len(users)
                parent["latest_reply"] = msg["ts"]
                if parent.get("user"):
                    msg["parent_user_id"] = parent["user"]
        ch.messages.append(msg)
        self._emit("message", {"channel": ch.id, "message": msg})

    def _delete_message(self, ch: _Channel, ts: str) -> None:
        msg = self._find(ch, ts)
        if msg is None:
            return
        ch.messages.remove(msg)
        self._streams.discard((ch.id, ts))
        parent_ts = msg.get("thread_ts")
        if parent_ts and parent_ts != ts:
            parent = self._find(ch, parent_ts)
            if parent is not None:
                parent["reply_count"] = max(0, int(parent.get("reply_count", 1)) - 1)
                replies = [m for m in ch.messages if m.get("thread_ts") == parent_ts
                           and m["ts"] != parent_ts]
                parent["latest_reply"] = replies[-1]["ts"] if replies else parent_ts
        self._emit("message_deleted", {"channel": ch.id, "ts": ts})

    def _add_ephemeral(self, channel: str, user: str, params: dict[str, Any], thread_ts: Any,
                       via: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "channel": channel, "user": user, "message_ts": self._next_ts(), "via": via,
            "text": str(params.get("text") or ""),
        }
        for key in ("blocks", "attachments"):
            if params.get(key) not in (None, ""):
                entry[key] = copy.deepcopy(params[key])
        if thread_ts:
            entry["thread_ts"] = str(thread_ts)
        self._ephemerals.append(entry)
        self._emit("ephemeral", entry)
        return entry

    def _channel_obj(self, ch: _Channel) -> dict[str, Any]:
        return {
            "id": ch.id, "name": ch.name, "is_channel": not ch.is_private and not ch.is_im,
            "is_group": ch.is_private and not ch.is_im, "is_im": ch.is_im,
            "is_private": ch.is_private, "is_member": self.bot_user_id in ch.members,
            "is_archived": False, "is_general": False, "created": ch.created,
            "context_team_id": self.team_id, "num_members": len(ch.members),
            **({"user": ch.name} if ch.is_im else {}),
        }

    def _user_obj(self, user_id: str) -> dict[str, Any]:
        user = self._users.get(user_id)
        if user is None:
            raise ApiError("user_not_found")
        out = copy.deepcopy(user)
        try:
            zone = ZoneInfo(user["tz"])
        except ZoneInfoNotFoundError:
            zone = ZoneInfo("UTC")
        now = datetime.fromtimestamp(self._clock(), zone)
        offset = now.utcoffset()
        out["tz_offset"] = int(offset.total_seconds()) if offset else 0
        out["tz_label"] = now.tzname() or user["tz"]
        return out

    def _message_out(self, channel: str, msg: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(msg)
        if (channel, msg["ts"]) in self._streams:
            out["is_streaming"] = True
        return out

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._listeners:
            self._pending_events.append((kind, copy.deepcopy(data)))

    def _flush_events(self) -> None:
        with self._lock:
            events, self._pending_events = self._pending_events, []
            listeners = list(self._listeners)
        for kind, data in events:
            for listener in listeners:
                try:
                    listener(kind, data)
                except Exception:
                    log.exception("emulator listener failed on %s", kind)

    # ================================================================= Web API methods
    def _auth_test(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/", "team": self.team_name,
            "user": self.bot_name, "team_id": self.team_id, "user_id": self.bot_user_id,
            "bot_id": self.bot_id, "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        if not (params.get("text") or params.get("blocks") or params.get("attachments")
                or params.get("markdown_text")):
            raise ApiError("no_text")
        msg = self._bot_message(params, params.get("thread_ts"))
        self._add_message(ch, msg)
        return {"channel": ch.id, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _chat_post_ephemeral(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        user = str(params.get("user") or "")
        if user not in self._users:
            raise ApiError("user_not_found")
        if user not in ch.members:
            raise ApiError("user_not_in_channel")
        entry = self._add_ephemeral(ch.id, user, params, params.get("thread_ts"), via="api")
        return {"message_ts": entry["message_ts"]}

    def _own_message(self, params: dict[str, Any], error: str) -> tuple[_Channel, dict[str, Any]]:
        ch = self._channel(params.get("channel"))
        msg = self._find(ch, params.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if msg.get("bot_id") != self.bot_id:
            raise ApiError(error)
        return ch, msg

    def _chat_update(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._own_message(params, "cant_update_message")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                msg[key] = copy.deepcopy(params[key])
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._emit("message_changed", {"channel": ch.id, "message": msg})
        return {"channel": ch.id, "ts": msg["ts"], "text": msg.get("text", ""),
                "message": copy.deepcopy(msg)}

    def _chat_delete(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._own_message(params, "cant_delete_message")
        self._delete_message(ch, msg["ts"])
        return {"channel": ch.id, "ts": msg["ts"]}

    def _chat_get_permalink(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        if self._find(ch, ts) is None:
            raise ApiError("message_not_found")
        return {"channel": ch.id, "permalink":
                f"https://{self.team_domain}.slack.com/archives/{ch.id}/p{ts.replace('.', '')}"}

    def _chat_start_stream(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        if not params.get("thread_ts"):
            raise ApiError("invalid_arguments")
        msg = self._bot_message({}, params["thread_ts"])
        msg["text"] = _stream_text(params)
        # Not a Slack field: tells render_message the text is the answer, not a fallback.
        msg["streamed"] = True
        self._streams.add((ch.id, msg["ts"]))
        self._add_message(ch, msg)
        return {"channel": ch.id, "ts": msg["ts"]}

    def _streaming_message(self, params: dict[str, Any]) -> tuple[_Channel, dict[str, Any]]:
        ch = self._channel(params.get("channel"))
        msg = self._find(ch, params.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if (ch.id, msg["ts"]) not in self._streams:
            raise ApiError("message_not_in_streaming_state")
        return ch, msg

    def _chat_append_stream(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._streaming_message(params)
        msg["text"] = msg.get("text", "") + _stream_text(params)
        self._emit("message_changed", {"channel": ch.id, "message": msg})
        return {"channel": ch.id, "ts": msg["ts"]}

    def _chat_stop_stream(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._streaming_message(params)
        msg["text"] = msg.get("text", "") + _stream_text(params)
        for key in ("blocks", "metadata"):
            if params.get(key) not in (None, ""):
                msg[key] = copy.deepcopy(params[key])
        self._streams.discard((ch.id, msg["ts"]))
        self._emit("message_changed", {"channel": ch.id, "message": msg})
        return {"channel": ch.id, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _page(self, items: list[Any], params: dict[str, Any], default: int, high: int
              ) -> tuple[list[Any], str]:
        limit = _int_param(params, "limit", default, 1, high)
        offset = _decode_cursor(params.get("cursor"))
        page = items[offset:offset + limit]
        more = offset + limit < len(items)
        return page, _encode_cursor(offset + limit) if more else ""

    def _conversations_replies(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        ts = str(params.get("ts") or "")
        target = self._find(ch, ts)
        if target is not None and target.get("thread_ts") not in (None, ts):
            thread = [target]  # a reply's ts yields just that reply, as in Slack
        else:
            thread = [m for m in ch.messages if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            raise ApiError("thread_not_found")
        thread = [m for m in thread if m["ts"] == ts or _in_window(m["ts"], params)]
        page, cursor = self._page(thread, params, 1000, 1000)
        if self.repeat_thread_parent and params.get("cursor") and thread[0]["ts"] == ts:
            page = [thread[0], *page]
        return {"messages": [self._message_out(ch.id, m) for m in page],
                "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    def _conversations_history(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        top = [m for m in reversed(ch.messages)
               if m.get("thread_ts") in (None, m["ts"]) and _in_window(m["ts"], params)]
        page, cursor = self._page(top, params, 100, 999)
        return {"messages": [self._message_out(ch.id, m) for m in page],
                "has_more": bool(cursor), "pin_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    def _conversations_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        if ch.is_private and self.bot_user_id not in ch.members:
            raise ApiError("channel_not_found")
        return {"channel": self._channel_obj(ch)}

    def _conversations_join(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        if ch.is_private or ch.is_im:
            if self.bot_user_id not in ch.members:
                raise ApiError("channel_not_found")
            raise ApiError("method_not_supported_for_channel_type")
        already = self.bot_user_id in ch.members
        ch.members.add(self.bot_user_id)
        result: dict[str, Any] = {"channel": self._channel_obj(ch)}
        if already:
            result["warning"] = "already_in_channel"
            result["response_metadata"] = {"warnings": ["already_in_channel"]}
        return result

    def _conversations_members(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        if ch.is_private and self.bot_user_id not in ch.members:
            raise ApiError("channel_not_found")
        page, cursor = self._page(sorted(ch.members), params, 100, 1000)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _conversations_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise ApiError("users_list_not_supplied" if not users else "not_supported")
        if users[0] not in self._users:
            raise ApiError("user_not_found")
        return {"channel": self._channel_obj(self._dm_with(users[0]))}

    def _users_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"user": self._user_obj(str(params.get("user") or ""))}

    def _users_conversations(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = str(params.get("user") or self.bot_user_id)
        if user not in self._users:
            raise ApiError("user_not_found")
        types = set(str(params.get("types") or "public_channel").split(","))
        found = []
        for ch in self._channels.values():
            kind = "im" if ch.is_im else "private_channel" if ch.is_private else "public_channel"
            # A bot token never sees private conversations the bot is not part of.
            hidden = ch.is_private and self.bot_user_id not in ch.members
            if kind in types and user in ch.members and not hidden:
                found.append(self._channel_obj(ch))
        page, cursor = self._page(found, params, 100, 1000)
        return {"channels": page, "response_metadata": {"next_cursor": cursor}}

    def _view(self, params: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict) or "type" not in view:
            raise ApiError("invalid_arguments")
        stored = copy.deepcopy(view)
        stored.update({
            "id": view_id or self._next_id("V"), "team_id": self.team_id,
            "app_id": self.app_id, "bot_id": self.bot_id,
            "hash": f"{int(self._clock())}.{uuid.uuid4().hex[:8]}",
            "state": {"values": {}},
        })
        stored.setdefault("private_metadata", "")
        stored.setdefault("callback_id", "")
        stored.setdefault("external_id", "")
        return stored

    def _views_publish(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = str(params.get("user_id") or "")
        if user not in self._users:
            raise ApiError("user_not_found")
        previous = self._home_views.get(user)
        view = self._view(params, previous["id"] if previous else None)
        self._home_views[user] = view
        self._emit("home", {"user": user, "view": view})
        return {"view": copy.deepcopy(view)}

    def _views_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if not params.get("trigger_id"):
            raise ApiError("invalid_trigger_id")
        view = self._view(params)
        view["trigger_id"] = params["trigger_id"]
        self._modals.append(view)
        self._emit("modal", {"view": view})
        return {"view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        wanted_id, external = params.get("view_id"), params.get("external_id")
        candidates = [*self._modals, *self._home_views.values()]
        for existing in candidates:
            if (wanted_id and existing["id"] == wanted_id) or (
                    external and existing.get("external_id") == external):
                updated = self._view(params, existing["id"])
                existing.clear()
                existing.update(updated)
                self._emit("modal", {"view": existing})
                return {"view": copy.deepcopy(existing)}
        raise ApiError("not_found")

    def _reaction_target(self, params: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        msg = self._find(ch, params.get("timestamp"))
        if msg is None:
            raise ApiError("message_not_found")
        if not params.get("name"):
            raise ApiError("invalid_name")
        return msg

    def _reactions_add(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        msg = self._reaction_target(params)
        name = str(params["name"]).strip(":")
        reactions = msg.setdefault("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None:
            entry = {"name": name, "users": [], "count": 0}
            reactions.append(entry)
        if self.bot_user_id in entry["users"]:
            raise ApiError("already_reacted")
        entry["users"].append(self.bot_user_id)
        entry["count"] = len(entry["users"])
        self._emit("reaction", {"channel": params["channel"], "ts": msg["ts"], "name": name,
                                "added": True})
        return {}

    def _reactions_remove(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        msg = self._reaction_target(params)
        name = str(params["name"]).strip(":")
        reactions = msg.get("reactions", [])
        entry = next((r for r in reactions if r["name"] == name), None)
        if entry is None or self.bot_user_id not in entry["users"]:
            raise ApiError("no_reaction")
        entry["users"].remove(self.bot_user_id)
        entry["count"] = len(entry["users"])
        if not entry["users"]:
            reactions.remove(entry)
        if not reactions:
            msg.pop("reactions", None)
        self._emit("reaction", {"channel": params["channel"], "ts": msg["ts"], "name": name,
                                "added": False})
        return {}

    def _assistant_set_status(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel_id"))
        thread_ts = str(params.get("thread_ts") or "")
        if not thread_ts or "status" not in params:
            raise ApiError("invalid_arguments")
        self._statuses[(ch.id, thread_ts)] = str(params["status"])
        self._emit("status", {"channel": ch.id, "thread_ts": thread_ts,
                              "status": str(params["status"])})
        return {}

    def _files_get_upload_url(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except (TypeError, ValueError):
            raise ApiError("invalid_arguments") from None
        if not filename or length <= 0:
            raise ApiError("invalid_arguments")
        file_id = self._next_id("F")
        self._files[file_id] = UploadedFile(
            id=file_id, filename=filename, length=length,
            alt_txt=str(params.get("alt_txt") or params.get("alt_text") or ""),
            snippet_type=str(params.get("snippet_type") or ""),
        )
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _file_obj(self, record: UploadedFile) -> dict[str, Any]:
        return {
            "id": record.id, "name": record.filename, "title": record.title,
            "size": len(record.content or b""), "user": self.bot_user_id,
            "created": int(self._clock()),
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/"
                         f"{record.id}/{record.filename}",
        }

    def _files_complete_upload(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        files = params.get("files")
        if not isinstance(files, list) or not files:
            raise ApiError("invalid_arguments")
        records = []
        for item in files:
            record = self._files.get(str(item.get("id") if isinstance(item, dict) else ""))
            if record is None or record.content is None:
                raise ApiError("file_not_found")
            records.append((record, item))
        channels = [c for c in str(params.get("channels") or "").split(",") if c]
        if params.get("channel_id"):
            channels.insert(0, str(params["channel_id"]))
        resolved = [self._channel(c) for c in channels]
        for ch in resolved:
            self._require_bot(ch)
        thread_ts = params.get("thread_ts")
        comment = str(params.get("initial_comment") or "")
        for record, item in records:
            record.title = str(item.get("title") or record.filename)
            record.channel = resolved[0].id if resolved else None
            record.thread_ts = str(thread_ts) if thread_ts else None
            record.initial_comment = comment
            record.completed = True
            self._emit("file", {"file": self._file_obj(record), "channel": record.channel})
        file_objs = [self._file_obj(r) for r, _ in records]
        for ch in resolved:
            msg = self._bot_message({"text": comment}, thread_ts)
            msg["files"] = copy.deepcopy(file_objs)
            msg["upload"] = True
            self._add_message(ch, msg)
        return {"files": file_objs}

    def _apps_connections_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        return {"url": self._socket.url_for(ticket)}


def _token(headers: dict[str, str], params: dict[str, Any]) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[len("bearer "):].strip()
    return str(params.get("token") or "")


def _decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # Undecodable JSON is left as sent, so the test sees what the client posted.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


def _parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Query string + body (JSON, form or multipart) → one dict; raises ValueError on bad JSON."""
    params: dict[str, Any] = _form(query)
    ctype = content_type.split(";", 1)[0].strip().lower()
    if body:
        if ctype == "application/json" or (not ctype and body.lstrip()[:1] == b"{"):
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                raise ValueError("JSON body is not an object")
            params.update(decoded)
        elif ctype == "multipart/form-data":
            params.update(_multipart(body, content_type))
        else:
            params.update(_form(body.decode("utf-8", "replace")))
    return _decode_json_params(params)


def _form(text: str) -> dict[str, Any]:
    parsed = parse_qs(text, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        out[name] = data if part.get_filename() else data.decode("utf-8", "replace")
    return out


def _short(params: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(params, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
