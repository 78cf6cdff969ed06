"""Block Kit and replies of the Slack side: help, hints, the complaint modal, watch replies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from bot.formatting import ACTION_VIEW_COMPLAINT, escape, safe
from bot.models import Complaint

Block = dict[str, Any]

BOT_NAME = "Empty Chair"
INVITE_HINT = (
    f"I can't post in this channel yet. Invite me with `/invite @{BOT_NAME}` and try again."
)
GENERIC_FAILURE = "Something went wrong on my side while answering. Please try again in a minute."
CITATION_ACTION = ACTION_VIEW_COMPLAINT  # built by formatting.view_button
CITATION_ACTION_PATTERN = re.compile(rf"^{CITATION_ACTION}(?::.*)?$")
_ACTION_ID_MAX = 255
_VALUE_MAX = 2000
_MODAL_TITLE_MAX = 24
_SECTION_MAX = 3000
_MODAL_TEXT_SECTIONS = 20  # a modal holds 100 blocks; a long letter is cut well before that
_LINK = re.compile(r"https?://[^\s<>|]{1,2000}")

SUGGESTED_PROMPTS: tuple[tuple[str, str], ...] = (
    ("Challenge a proposal", "Cut the free-returns window from 30 to 14 days"),
    ("Check a support change", "Close the phone line on Saturdays"),
    ("What can you do?", "help"),
)


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:_SECTION_MAX]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:2000]}]}


def _chunks(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters, cut at whitespace where possible."""
    out: list[str] = []
    rest = text
    while rest:
        if len(rest) <= size:
            out.append(rest)
            break
        cut = rest.rfind(" ", 0, size)
        cut = cut if cut > size // 2 else size
        out.append(rest[:cut])
        rest = rest[cut:].lstrip()
    return out


def _modal(title: str, blocks: list[Block]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "chair_complaint",
        "title": {"type": "plain_text", "text": title[:_MODAL_TITLE_MAX]},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": blocks,
    }


def complaint_modal(complaint: Complaint) -> dict[str, Any]:
    """The full redacted complaint and its source link (views.open)."""
    facts = " · ".join(
        part for part in (
            f"`{safe(complaint.id, 80)}`",
            complaint.created_at.date().isoformat(),
            safe(complaint.theme, 60),
            safe(complaint.sub_theme, 80),
            safe(complaint.channel, 40),
        ) if part
    )
    # Complaint text is untrusted: neutralised like every quote, then cut into sections.
    body = safe(complaint.text) or "_(no text)_"
    blocks: list[Block] = [_context(facts)]
    pieces = _chunks(body, _SECTION_MAX - 100)
    blocks += [_section(p) for p in pieces[:_MODAL_TEXT_SECTIONS]]
    if len(pieces) > _MODAL_TEXT_SECTIONS:
        blocks.append(_context("… the rest is cut here; the source has the full text."))
    if complaint.url and _LINK.fullmatch(complaint.url):
        blocks.append(_section(f"<{complaint.url}|Open the source>"))
    elif complaint.url:
        blocks.append(_context(f"Source: {safe(complaint.url, 300)}"))
    return _modal("Complaint", blocks)


def missing_complaint_modal(complaint_id: str) -> dict[str, Any]:
    """Shown for an id that is gone, or kept to another conversation (the two read the same)."""
    return _modal("Complaint", [_section(
        f"Complaint `{safe(complaint_id, 80)}` is not available here: it was deleted, or it "
        "may only be read in the conversation it was logged in."
    )])


def help_message(commands: Sequence[tuple[str, str]], command: str
                 ) -> tuple[list[Block], str]:
    """Help: each (usage, what it does) of the command table, then the other ways in."""
    lines = "\n".join(f"• `{escape(f'{command} {usage}'.strip())}` — {escape(what)}"
                      for usage, what in commands)
    others = (
        f"Mention @{BOT_NAME} in a thread to challenge the proposal discussed there (slash "
        "commands cannot run inside threads).",
        "Use the message shortcut *Ask the empty chair* (⋯ on any message) to challenge it.",
        f"Message {BOT_NAME} directly, or open it in the assistant panel: the message is the "
        "proposal (or `help`, `log …`).",
    )
    footer = "Every challenge cites real, redacted complaints. No complaint, no challenge."
    title = f"🪑 {BOT_NAME} — the customer's voice in your meetings"
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        _section(lines),
        _section("\n".join(f"• {escape(line)}" for line in others)),
        _context(escape(footer)),
    ]
    fallback = "\n".join(
        [f"{BOT_NAME} — the customer's voice in your meetings."]
        + [f"{command} {usage}: {what}".replace("  ", " ") for usage, what in commands]
        + [line.replace("*", "") for line in others]
    )
    return blocks, fallback


def mention_hint() -> str:
    """For a bare mention with no proposal: short, and only to the person who mentioned."""
    return (f"Tell me the proposal after the mention, e.g. `@{BOT_NAME} cut the free-returns "
            "window to 14 days`, or mention me in the thread that discusses it. "
            "`/emptychair help` lists everything I do.")


def unknown_command(word: str) -> str:
    return f"I didn't understand `{safe(word, 40)}`. "


def channel_only(command: str, name: str) -> str:
    return f"`{command} {name}` works in a channel, not in a direct message."


def not_in_channel_to_watch(channel: str) -> str:
    return (f"I'm not a member of <#{channel}>, so I can't read its messages. Invite me with "
            f"`/invite @{BOT_NAME}` and run `/emptychair watch` again.")


def watch_started(channel: str, private: bool, new: bool) -> str:
    where = ("only in this channel, because it is private" if private
             else "in any channel, because this channel is public")
    first = (f"From now on, every new top-level message in <#{channel}> becomes a customer "
             f"complaint (redacted, linked back to the message)." if new
             else f"I'm already watching <#{channel}>.")
    return (f"{first} They can be quoted {where}. Edits update a complaint and deletions remove "
            "it; replies in threads, bots and my own messages are left out. "
            "`/emptychair unwatch` stops it.")


def watch_stopped(channel: str, was_watched: bool) -> str:
    if not was_watched:
        return f"I wasn't watching <#{channel}>."
    return (f"I've stopped watching <#{channel}>. The complaints already taken from it are "
            "kept.")


def watching_list(channel: str, here: bool, public_channels: Sequence[str]) -> str:
    head = (f"I'm watching this channel (<#{channel}>)." if here
            else "I'm not watching this channel.")
    others = [c for c in public_channels if c != channel]
    if not others:
        return head + " No other public channel is watched."
    return head + " Also watched: " + ", ".join(f"<#{c}>" for c in others) + "."
