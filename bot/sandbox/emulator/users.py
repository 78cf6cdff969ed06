"""users.* (info, conversations)."""

from __future__ import annotations

from typing import Any

from bot.sandbox.emulator.base import ApiError, EmulatorBase, web_api


class UsersApi(EmulatorBase):
    """Who people are and which conversations they are in."""

    @web_api("users.info")
    def _users_info(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        return {"user": self._user_obj(str(params.get("user") or ""))}

    @web_api("users.conversations")
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
