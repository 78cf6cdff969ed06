"""Test-side control of the emulated workspace: people, channels, human messages, state."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.emulator.base import Channel, EmulatorBase, Listener, ResponseTarget, UploadedFile


class WorkspaceControl(EmulatorBase):
    """What a test does to the workspace directly, without a Web API call."""

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
            ch = Channel(id=channel_id, name=name, is_private=is_private, members=member_set,
                          created=int(self._clock()))
            self._channels[channel_id] = ch
            return self._channel_obj(ch)

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

    def dm_channel(self, user_id: str) -> str:
        """The id of the bot's direct-message conversation with `user_id` (opened if new)."""
        with self._lock:
            if user_id not in self._users:
                raise ValueError(f"unknown user {user_id!r}; add it with add_user()")
            return self._dm_with(user_id).id

    def edit_user_message(self, channel: str, ts: str, text: str) -> dict[str, Any]:
        """A human edits their message (no Web API call); returns the message before the edit."""
        with self._lock:
            msg = self._find(self._existing_channel(channel), ts)
            if msg is None:
                raise ValueError(f"no message {ts} in {channel}")
            before = copy.deepcopy(msg)
            msg["text"] = text
            msg["edited"] = {"user": msg.get("user", ""), "ts": self._next_ts()}
            self._emit("message_changed", {"channel": channel, "message": msg})
        self._flush_events()
        return before

    def delete_user_message(self, channel: str, ts: str) -> dict[str, Any]:
        """A human deletes their message (no Web API call); returns it as it was."""
        with self._lock:
            ch = self._existing_channel(channel)
            msg = self._find(ch, ts)
            if msg is None:
                raise ValueError(f"no message {ts} in {channel}")
            before = copy.deepcopy(msg)
            self._delete_message(ch, ts)
        self._flush_events()
        return before

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
            self._response_targets[key] = ResponseTarget(channel, user, thread_ts, message_ts)
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

    @property
    def suggested_prompts(self) -> dict[tuple[str, str], dict[str, Any]]:
        """(channel, thread_ts) → {"prompts": [...], "title": ...} of each assistant thread."""
        with self._lock:
            return copy.deepcopy(self._suggested_prompts)

    @property
    def assistant_titles(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return dict(self._titles)

    def response_posts(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._responses.get(key, []))
