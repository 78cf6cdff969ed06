"""conversations.* (replies, history, info, join, members, open)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.emulator.base import ApiError, EmulatorBase, truthy, web_api


def in_window(ts: str, params: dict[str, Any]) -> bool:
    """conversations.history/replies `oldest`/`latest`, exclusive unless `inclusive`."""
    inclusive = truthy(params.get("inclusive"))
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




class ConversationsApi(EmulatorBase):
    """Reading channels and threads, joining channels and opening DMs."""

    @web_api("conversations.replies")
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
        thread = [m for m in thread if m["ts"] == ts or in_window(m["ts"], params)]
        page, cursor = self._page(thread, params, 1000, 1000)
        if self.repeat_thread_parent and params.get("cursor") and thread[0]["ts"] == ts:
            page = [thread[0], *page]
        return {"messages": [self._message_out(ch.id, m) for m in page],
                "has_more": bool(cursor), "response_metadata": {"next_cursor": cursor}}

    @web_api("conversations.history")
    def _conversations_history(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        self._require_bot(ch)
        top = [m for m in reversed(ch.messages)
               if m.get("thread_ts") in (None, m["ts"]) and in_window(m["ts"], params)]
        page, cursor = self._page(top, params, 100, 999)
        return {"messages": [self._message_out(ch.id, m) for m in page],
                "has_more": bool(cursor), "pin_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    @web_api("conversations.info")
    def _conversations_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        if ch.is_private and self.bot_user_id not in ch.members:
            raise ApiError("channel_not_found")
        return {"channel": self._channel_obj(ch)}

    @web_api("conversations.join")
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

    @web_api("conversations.members")
    def _conversations_members(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel"))
        if ch.is_private and self.bot_user_id not in ch.members:
            raise ApiError("channel_not_found")
        page, cursor = self._page(sorted(ch.members), params, 100, 1000)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    @web_api("conversations.open")
    def _conversations_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise ApiError("users_list_not_supplied" if not users else "not_supported")
        if users[0] not in self._users:
            raise ApiError("user_not_found")
        return {"channel": self._channel_obj(self._dm_with(users[0]))}
