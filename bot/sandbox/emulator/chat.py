"""chat.* (post, ephemeral, update, delete, permalink, streaming) and response_url posts."""

from __future__ import annotations

import copy
import time
from typing import Any

from bot.sandbox.emulator.base import (
    ApiError,
    Channel,
    EmulatorBase,
    RecordedCall,
    ResponseTarget,
    truthy,
    web_api,
)
from bot.sandbox.emulator.wire import parse_params


def stream_text(params: dict[str, Any]) -> str:
    """Text carried by a streaming call: `markdown_text` and/or markdown_text chunks (the
    slack_sdk 3.47 `chat_stream` helper sends only chunks)."""
    text = str(params.get("markdown_text") or "")
    chunks = params.get("chunks")
    if isinstance(chunks, list):
        for chunk in chunks:
            if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
                text += str(chunk.get("text") or "")
    return text



class ChatApi(EmulatorBase):
    """Messages the bot posts, edits, deletes and streams; what lands via a response_url."""

    @web_api("chat.postMessage")
    def _chat_post_message(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        if not (params.get("text") or params.get("blocks") or params.get("attachments")
                or params.get("markdown_text")):
            raise ApiError("no_text")
        msg = self._bot_message(params, params.get("thread_ts"))
        self._add_message(ch, msg)
        return {"channel": ch.id, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    @web_api("chat.postEphemeral")
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

    def _own_message(self, params: dict[str, Any], error: str) -> tuple[Channel, dict[str, Any]]:
        ch = self._channel(params.get("channel"))
        msg = self._find(ch, params.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if msg.get("bot_id") != self.bot_id:
            raise ApiError(error)
        return ch, msg

    @web_api("chat.update")
    def _chat_update(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._own_message(params, "cant_update_message")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                msg[key] = copy.deepcopy(params[key])
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._emit("message_changed", {"channel": ch.id, "message": msg})
        return {"channel": ch.id, "ts": msg["ts"], "text": msg.get("text", ""),
                "message": copy.deepcopy(msg)}

    @web_api("chat.delete")
    def _chat_delete(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._own_message(params, "cant_delete_message")
        self._delete_message(ch, msg["ts"])
        return {"channel": ch.id, "ts": msg["ts"]}

    @web_api("chat.getPermalink")
    def _chat_get_permalink(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        if self._find(ch, ts) is None:
            raise ApiError("message_not_found")
        return {"channel": ch.id, "permalink":
                f"https://{self.team_domain}.slack.com/archives/{ch.id}/p{ts.replace('.', '')}"}

    @web_api("chat.startStream")
    def _chat_start_stream(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        if not params.get("thread_ts"):
            raise ApiError("invalid_arguments")
        msg = self._bot_message({}, params["thread_ts"])
        msg["text"] = stream_text(params)
        # Not a Slack field: tells render_message the text is the answer, not a fallback.
        msg["streamed"] = True
        self._streams.add((ch.id, msg["ts"]))
        self._add_message(ch, msg)
        return {"channel": ch.id, "ts": msg["ts"]}

    def _streaming_message(self, params: dict[str, Any]) -> tuple[Channel, dict[str, Any]]:
        ch = self._channel(params.get("channel"))
        msg = self._find(ch, params.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if (ch.id, msg["ts"]) not in self._streams:
            raise ApiError("message_not_in_streaming_state")
        return ch, msg

    @web_api("chat.appendStream")
    def _chat_append_stream(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._streaming_message(params)
        msg["text"] = msg.get("text", "") + stream_text(params)
        self._emit("message_changed", {"channel": ch.id, "message": msg})
        return {"channel": ch.id, "ts": msg["ts"]}

    @web_api("chat.stopStream")
    def _chat_stop_stream(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch, msg = self._streaming_message(params)
        msg["text"] = msg.get("text", "") + stream_text(params)
        for key in ("blocks", "metadata"):
            if params.get(key) not in (None, ""):
                msg[key] = copy.deepcopy(params[key])
        self._streams.discard((ch.id, msg["ts"]))
        self._emit("message_changed", {"channel": ch.id, "message": msg})
        return {"channel": ch.id, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _response_url(self, key: str, body: bytes, headers: dict[str, str], path: str
                      ) -> tuple[int, dict[str, str], bytes]:
        try:
            params = parse_params("", body, headers.get("content-type", "application/json"))
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

    def _apply_response(self, target: ResponseTarget | None, body: dict[str, Any]) -> None:
        if target is None or not target.channel or target.channel not in self._channels:
            return
        ch = self._channels[target.channel]
        if truthy(body.get("delete_original")) and target.message_ts:
            self._delete_message(ch, target.message_ts)
            return
        if truthy(body.get("replace_original")) and target.message_ts:
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
