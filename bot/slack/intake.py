"""Feedback channels: `watch` a channel and its new top-level messages become complaints."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack.chair import Chair, Invocation
from bot.slack.posting import conversation_info
from bot.slack.views import not_in_channel_to_watch, watch_started, watch_stopped, watching_list

log = logging.getLogger(__name__)

# A new message's text is the complaint; a file shared with a comment keeps the comment.
_NEW_MESSAGE_SUBTYPES = (None, "file_share")
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def watch(inv: Invocation) -> None:
    info = conversation_info(inv.client, inv.channel)
    if info is None or not info.get("is_member"):
        inv.reply(not_in_channel_to_watch(inv.channel))
        return
    private = bool(info.get("is_private") or info.get("is_im") or info.get("is_mpim"))
    new = inv.service.watch(inv.channel, user_id=inv.user, private=private)
    inv.reply(watch_started(inv.channel, private, new))


def unwatch(inv: Invocation) -> None:
    inv.reply(watch_stopped(inv.channel, inv.service.unwatch(inv.channel)))


def watching(inv: Invocation) -> None:
    watches = inv.service.watched()
    here = any(w.channel_id == inv.channel for w in watches)
    public = [w.channel_id for w in watches if not w.private]
    inv.reply(watching_list(inv.channel, here, public))


def by_a_person(message: dict[str, Any], bot_user_id: str) -> bool:
    """Not a bot, an app or the chair itself."""
    return bool(message.get("user")) and not message.get("bot_id") and (
        message.get("user") != bot_user_id) and message.get("subtype") != "bot_message"


def is_top_level(message: dict[str, Any]) -> bool:
    thread_ts = message.get("thread_ts")
    return not thread_ts or thread_ts == message.get("ts")


def take(chair: Chair, client: WebClient, event: dict[str, Any], bot_user_id: str) -> None:
    """A message event in a channel: new, edited or deleted, for a watched channel."""
    channel = str(event.get("channel") or "")
    subtype = event.get("subtype")
    service = chair.service
    if subtype == "message_changed":
        message = event.get("message") or {}
        if by_a_person(message, bot_user_id) and service.edit_watched_message(
                channel, str(message.get("ts") or ""), str(message.get("text") or "")):
            log.info("watched message edited in %s", channel)
        return
    if subtype == "message_deleted":
        ts = str(event.get("deleted_ts") or (event.get("previous_message") or {}).get("ts") or "")
        if ts and service.drop_watched_message(channel, ts):
            log.info("watched message deleted in %s", channel)
        return
    if subtype not in _NEW_MESSAGE_SUBTYPES or not is_top_level(event):
        return
    if not by_a_person(event, bot_user_id) or service.watching(channel) is None:
        return
    text = str(event.get("text") or "")
    if bot_user_id in _MENTION.findall(text):
        return  # someone asking the chair, answered as a mention, is not a complaint
    ts = str(event.get("ts") or "")
    try:
        url = str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
    except (SlackApiError, KeyError):
        url = ""
    if service.take_watched_message(channel, ts, text, url=url) is not None:
        log.info("complaint taken from watched channel %s", channel)
