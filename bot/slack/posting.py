"""Posting to Slack the way a good app does: join when needed, stream when allowed, never crash."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)


class NotInChannel(Exception):
    """The bot cannot post here and cannot join by itself (a private channel or a DM)."""


def post(
    client: WebClient, channel: str, blocks: list[dict[str, Any]], text: str,
    thread_ts: str | None = None,
) -> str:
    """chat.postMessage; on not_in_channel join a public channel once and retry. Returns ts."""
    kwargs: dict[str, Any] = {"channel": channel, "blocks": blocks, "text": text}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        return str(client.chat_postMessage(**kwargs)["ts"])
    except SlackApiError as exc:
        if exc.response.get("error") not in ("not_in_channel", "channel_not_found"):
            raise
        try:
            client.conversations_join(channel=channel)
        except SlackApiError as join_exc:
            raise NotInChannel(str(join_exc.response.get("error"))) from None
        return str(client.chat_postMessage(**kwargs)["ts"])


def quietly(call: Any, *args: Any, **kwargs: Any) -> None:
    """Progress indicators are nice to have: their failure must not stop the answer."""
    try:
        call(*args, **kwargs)
    except SlackApiError as exc:
        log.debug("optional call failed: %s", exc.response.get("error"))


class Answer:
    """An answer in a thread: streamed (chat.startStream) when Slack allows, else a plain post."""

    def __init__(
        self, client: WebClient, channel: str, thread_ts: str, *, user_id: str, team_id: str
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.user_id = user_id
        self.team_id = team_id
        self.stream_ts: str | None = None

    def start(self, progress: str) -> None:
        """Show progress in the thread right away (a streamed message), if Slack lets us."""
        try:
            resp = self.client.chat_startStream(
                channel=self.channel, thread_ts=self.thread_ts, markdown_text=progress,
                recipient_user_id=self.user_id or None, recipient_team_id=self.team_id or None,
            )
            self.stream_ts = str(resp["ts"])
        except SlackApiError as exc:
            log.debug("streaming unavailable (%s); will post instead", exc.response.get("error"))
            self.stream_ts = None

    def progress(self, text: str) -> None:
        if self.stream_ts is not None:
            quietly(self.client.chat_appendStream, channel=self.channel, ts=self.stream_ts,
                    markdown_text=text)

    def finish(self, blocks: list[dict[str, Any]], text: str) -> str:
        """Conclude with the full answer; returns the ts of the message holding it."""
        if self.stream_ts is not None:
            try:
                self.client.chat_stopStream(channel=self.channel, ts=self.stream_ts, blocks=blocks)
                return self.stream_ts
            except SlackApiError as exc:
                log.info("stopping the stream failed (%s); posting", exc.response.get("error"))
        return post(self.client, self.channel, blocks, text, thread_ts=self.thread_ts)


def conversation_info(client: WebClient, channel: str) -> dict[str, Any] | None:
    """conversations.info's channel, or None when Slack will not say (a private channel the
    bot is not in reads as channel_not_found)."""
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except (SlackApiError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) else None


def is_public_channel(client: WebClient, channel: str) -> bool:
    """True only for a public channel; when Slack cannot say, the conversation counts as private
    (a complaint kept to one conversation is the safe mistake)."""
    info = conversation_info(client, channel)
    if info is None:
        return False
    return not (info.get("is_private") or info.get("is_im") or info.get("is_mpim"))
