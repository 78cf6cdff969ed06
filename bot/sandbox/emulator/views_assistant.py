"""views.* (publish, open, update) and assistant.threads.*."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from bot.sandbox.emulator.base import ApiError, EmulatorBase, web_api


class ViewsAssistantApi(EmulatorBase):
    """App Home tabs, modals and the assistant side panel's thread state."""

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

    @web_api("views.publish")
    def _views_publish(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        user = str(params.get("user_id") or "")
        if user not in self._users:
            raise ApiError("user_not_found")
        previous = self._home_views.get(user)
        view = self._view(params, previous["id"] if previous else None)
        self._home_views[user] = view
        self._emit("home", {"user": user, "view": view})
        return {"view": copy.deepcopy(view)}

    @web_api("views.open")
    def _views_open(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        if not params.get("trigger_id"):
            raise ApiError("invalid_trigger_id")
        view = self._view(params)
        view["trigger_id"] = params["trigger_id"]
        self._modals.append(view)
        self._emit("modal", {"view": view})
        return {"view": copy.deepcopy(view)}

    @web_api("views.update")
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

    @web_api("assistant.threads.setStatus")
    def _assistant_set_status(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        ch = self._channel(params.get("channel_id"))
        thread_ts = str(params.get("thread_ts") or "")
        if not thread_ts or "status" not in params:
            raise ApiError("invalid_arguments")
        self._statuses[(ch.id, thread_ts)] = str(params["status"])
        self._emit("status", {"channel": ch.id, "thread_ts": thread_ts,
                              "status": str(params["status"])})
        return {}

    def _assistant_thread(self, params: dict[str, Any]) -> tuple[str, str]:
        ch = self._channel(params.get("channel_id"))
        thread_ts = str(params.get("thread_ts") or "")
        if not thread_ts:
            raise ApiError("invalid_arguments")
        return ch.id, thread_ts

    @web_api("assistant.threads.setSuggestedPrompts")
    def _assistant_set_suggested_prompts(self, params: dict[str, Any], token: str
                                         ) -> dict[str, Any]:
        key = self._assistant_thread(params)
        prompts = params.get("prompts")
        if not isinstance(prompts, list) or not 1 <= len(prompts) <= 4 or not all(
                isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts):
            raise ApiError("invalid_arguments")
        entry = {"prompts": copy.deepcopy(prompts), "title": str(params.get("title") or "")}
        self._suggested_prompts[key] = entry
        self._emit("suggested_prompts", {"channel": key[0], "thread_ts": key[1], **entry})
        return {}

    @web_api("assistant.threads.setTitle")
    def _assistant_set_title(self, params: dict[str, Any], token: str) -> dict[str, Any]:
        key = self._assistant_thread(params)
        if not params.get("title"):
            raise ApiError("invalid_arguments")
        self._titles[key] = str(params["title"])
        self._emit("title", {"channel": key[0], "thread_ts": key[1], "title": self._titles[key]})
        return {}
