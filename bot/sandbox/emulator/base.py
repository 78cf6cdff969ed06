"""Emulator state shared by every Web API family: records, workspace data and its helpers."""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.sandbox.socket_server import SocketModeServer

if TYPE_CHECKING:
    from bot.sandbox.emulator.wire import HttpServer

log = logging.getLogger("bot.sandbox.emulator")

Listener = Callable[[str, dict[str, Any]], None]
MethodHandler = Callable[[dict[str, Any], str], dict[str, Any]]
_F = TypeVar("_F", bound=Callable[..., dict[str, Any]])
_SLACK_METHOD = "_slack_method"


def web_api(name: str) -> Callable[[_F], _F]:
    """Mark an emulator method as the handler of the Web API method `name` (e.g.
    "chat.postMessage"); it takes (params, token) and returns the fields beside `ok`."""

    def mark(fn: _F) -> _F:
        setattr(fn, _SLACK_METHOD, name)
        return fn

    return mark


def web_api_methods(emulator: object) -> dict[str, MethodHandler]:
    """Every @web_api handler on the emulator's class and its family mixins, bound."""
    found: dict[str, MethodHandler] = {}
    for klass in reversed(type(emulator).__mro__):
        for attr, value in vars(klass).items():
            name = getattr(value, _SLACK_METHOD, None)
            if isinstance(name, str):
                found[name] = getattr(emulator, attr)
    return found


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
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    created: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ResponseTarget:
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




def truthy(value: Any) -> bool:
    return value is True or value == 1 or str(value).lower() in ("1", "true", "yes")


def encode_cursor(offset: int) -> str:
    return base64.b64encode(f"sandbox:{offset}".encode()).decode()


def decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        kind, _, offset = base64.b64decode(str(cursor)).decode().partition(":")
        if kind != "sandbox":
            raise ValueError(kind)
        return max(0, int(offset))
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_cursor") from None


def int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments") from None
    return default if value <= 0 else min(max(value, low), high)




class EmulatorBase:
    """The workspace state every family module reads and writes; SlackEmulator fills it in.
    Method handlers run with `_lock` held."""

    repeat_thread_parent: bool
    team_id: str
    team_name: str
    team_domain: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    app_id: str
    host: str
    _clock: Callable[[], float]
    _lock: threading.RLock
    _calls_cond: threading.Condition
    _calls: list[RecordedCall]
    _users: dict[str, dict[str, Any]]
    _channels: dict[str, Channel]
    _last_ts_us: int
    _id_counter: int
    _streams: set[tuple[str, str]]
    _ephemerals: list[dict[str, Any]]
    _home_views: dict[str, dict[str, Any]]
    _modals: list[dict[str, Any]]
    _files: dict[str, UploadedFile]
    _statuses: dict[tuple[str, str], str]
    _suggested_prompts: dict[tuple[str, str], dict[str, Any]]
    _titles: dict[tuple[str, str], str]
    _responses: dict[str, list[dict[str, Any]]]
    _response_targets: dict[str, ResponseTarget]
    _tickets: set[str]
    _failures: dict[str, deque[str]]
    _rate_limits: dict[str, deque[int]]
    _delays: dict[str, float]
    _listeners: list[Listener]
    _pending_events: list[tuple[str, dict[str, Any]]]
    _http: HttpServer | None
    _socket: SocketModeServer

    def _record(self, call: RecordedCall) -> None:
        with self._calls_cond:
            self._calls.append(call)
            self._calls_cond.notify_all()

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

    def _next_ts(self) -> str:
        # Slack ts values are unique per channel and sort by time; keep them strictly rising
        # even when two messages land in the same microsecond.
        now_us = int(self._clock() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._id_counter += 1
        return f"{prefix}{self._id_counter:08d}"

    def _existing_channel(self, channel_id: str) -> Channel:
        ch = self._channels.get(channel_id)
        if ch is None:
            raise ValueError(f"unknown channel {channel_id!r}; add it with add_channel()")
        return ch

    def _channel(self, channel_id: Any) -> Channel:
        """Resolve a Web API `channel` argument; a user id means the DM with that user."""
        cid = str(channel_id or "")
        if cid in self._channels:
            return self._channels[cid]
        if cid[:1] in ("U", "W") and cid in self._users:
            return self._dm_with(cid)
        raise ApiError("channel_not_found")

    def _dm_with(self, user_id: str) -> Channel:
        dm_id = "D" + user_id[1:]
        if dm_id not in self._channels:
            self._channels[dm_id] = Channel(id=dm_id, name=user_id, is_private=True, is_im=True,
                                             members={user_id, self.bot_user_id},
                                             created=int(self._clock()))
        return self._channels[dm_id]

    def _require_bot(self, ch: Channel) -> None:
        if self.bot_user_id not in ch.members:
            # Slack hides private channels from non-members entirely.
            raise ApiError("channel_not_found" if ch.is_private else "not_in_channel")

    def _find(self, ch: Channel, ts: Any) -> dict[str, Any] | None:
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

    def _add_message(self, ch: Channel, msg: dict[str, Any]) -> None:
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

    def _delete_message(self, ch: Channel, ts: str) -> None:
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

    def _channel_obj(self, ch: Channel) -> dict[str, Any]:
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

    def _page(self, items: list[Any], params: dict[str, Any], default: int, high: int
              ) -> tuple[list[Any], str]:
        limit = int_param(params, "limit", default, 1, high)
        offset = decode_cursor(params.get("cursor"))
        page = items[offset:offset + limit]
        more = offset + limit < len(items)
        return page, encode_cursor(offset + limit) if more else ""
