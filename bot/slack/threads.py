"""Reading a Slack thread into the proposal under discussion and its context."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

MAX_MESSAGES = 400  # the newest replies of a very long thread are the ones that matter
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def strip_mentions(text: str) -> str:
    return " ".join(_MENTION.sub(" ", text or "").split())


@dataclass(frozen=True)
class ThreadView:
    proposal: str
    context: str
    thread_ts: str


def fetch_thread(client: WebClient, channel: str, thread_ts: str) -> list[dict[str, Any]]:
    """The parent and replies, oldest first; a very long thread keeps its parent and its newest
    MAX_MESSAGES replies."""
    parent: list[dict[str, Any]] = []
    tail: deque[dict[str, Any]] = deque(maxlen=MAX_MESSAGES - 1)
    cursor: str | None = None
    # Pages to the end (replies come oldest first) and keeps a rolling window, so the newest
    # replies are always in it and memory stays bounded however long the thread.
    while True:
        page = client.conversations_replies(
            channel=channel, ts=thread_ts, limit=200, cursor=cursor
        )
        for msg in page.get("messages") or []:
            if not parent:
                parent.append(msg)
            elif msg.get("ts") != parent[0].get("ts"):  # later pages may repeat the parent
                tail.append(msg)
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    messages = parent + list(tail)
    return messages


def thread_view(
    messages: list[dict[str, Any]], bot_user_id: str, mention_text: str, thread_ts: str
) -> ThreadView:
    """The proposal is the thread's first message (or the mention itself, outside a thread);
    the rest of the thread, the bot's own earlier answers included, is context."""
    own_words = strip_mentions(mention_text)
    parent = messages[0] if messages else None
    parent_text = strip_mentions(parent.get("text", "")) if parent else ""
    if parent is None or not parent_text or parent.get("ts") == thread_ts and not messages[1:]:
        proposal = own_words or parent_text
    else:
        proposal = parent_text
    lines = []
    for msg in messages[1:]:
        text = strip_mentions(msg.get("text", ""))
        if not text:
            continue
        who = "empty chair" if msg.get("user") == bot_user_id or msg.get("bot_id") else "teammate"
        lines.append(f"{who}: {text}")
    if own_words and own_words != proposal and not any(own_words in line for line in lines):
        lines.append(f"teammate: {own_words}")
    return ThreadView(proposal=proposal, context="\n".join(lines), thread_ts=thread_ts)
