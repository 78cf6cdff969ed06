"""Slack messages (text and Block Kit) as readable plain terminal text, for the sandbox REPL."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

RULE = "─" * 40
REPLY_INDENT = "    "
BODY_INDENT = "  "

_LINK = re.compile(r"<([^<>]+)>")


def plain(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn → plain text: mentions, channel links, URLs and entities made readable."""
    names = names or {}

    def link(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            uid = target[1:]
            return "@" + (names.get(uid) or label or uid)
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:]) or target[1:])
        if target.startswith("!"):
            special = target[1:].split("^", 1)[0]
            if special in ("here", "channel", "everyone"):
                return "@" + special
            return label or special
        return f"{label} ({target})" if label and label != target else target

    return html.unescape(_LINK.sub(link, text or ""))


def _text_of(obj: Any, names: Mapping[str, str] | None) -> str:
    """A Block Kit text object (plain_text or mrkdwn) or a bare string."""
    if isinstance(obj, dict):
        return plain(str(obj.get("text") or ""), names)
    return plain(str(obj or ""), names)


def _element(el: Mapping[str, Any], names: Mapping[str, str] | None) -> str:
    """An interactive or context element, the way it would look in a terminal."""
    kind = el.get("type")
    if kind == "button":
        return f"[{_text_of(el.get('text'), names)}]"
    if kind in ("image",):
        return f"[image: {el.get('alt_text') or el.get('image_url') or ''}]"
    if kind in ("plain_text", "mrkdwn"):
        return plain(str(el.get("text") or ""), names)
    if kind == "overflow":
        return "[…]"
    if kind and "select" in str(kind):
        label = el.get("placeholder") or (el.get("initial_option") or {}).get("text")
        return f"[{_text_of(label, names) or 'choose'} ▾]"
    if kind in ("datepicker", "timepicker", "datetimepicker"):
        return f"[{el.get('initial_date') or el.get('initial_time') or kind}]"
    if kind in ("checkboxes", "radio_buttons"):
        return " ".join(f"( ) {_text_of(o.get('text'), names)}" for o in el.get("options") or [])
    if kind == "plain_text_input":
        return "[________]"
    return f"[{kind}]"


def _rich_inline(elements: Iterable[Mapping[str, Any]], names: Mapping[str, str] | None) -> str:
    out = []
    for el in elements:
        kind = el.get("type")
        if kind == "text":
            out.append(str(el.get("text") or ""))
        elif kind == "link":
            url, label = str(el.get("url") or ""), el.get("text")
            out.append(f"{label} ({url})" if label and label != url else url)
        elif kind == "user":
            uid = str(el.get("user_id") or "")
            out.append("@" + ((names or {}).get(uid) or uid))
        elif kind == "channel":
            out.append("#" + str(el.get("channel_id") or ""))
        elif kind == "emoji":
            out.append(f":{el.get('name')}:")
        elif kind == "broadcast":
            out.append("@" + str(el.get("range") or "here"))
        elif kind == "usergroup":
            out.append("@" + str(el.get("usergroup_id") or ""))
        elif kind == "date":
            out.append(str(el.get("fallback") or el.get("timestamp") or ""))
    return "".join(out)


def _rich_text(block: Mapping[str, Any], names: Mapping[str, str] | None) -> list[str]:
    lines: list[str] = []
    for part in block.get("elements") or []:
        kind = part.get("type")
        if kind == "rich_text_section":
            lines.extend(_rich_inline(part.get("elements") or [], names).split("\n"))
        elif kind == "rich_text_list":
            indent = "  " * int(part.get("indent") or 0)
            for i, item in enumerate(part.get("elements") or [], start=1):
                mark = f"{i}." if part.get("style") == "ordered" else "•"
                lines.append(f"{indent}{mark} {_rich_inline(item.get('elements') or [], names)}")
        elif kind == "rich_text_quote":
            text = _rich_inline(part.get("elements") or [], names)
            lines.extend(f"> {line}" for line in text.split("\n"))
        elif kind == "rich_text_preformatted":
            lines.append("```")
            lines.extend(_rich_inline(part.get("elements") or [], names).split("\n"))
            lines.append("```")
    return lines


def render_blocks(blocks: Iterable[Mapping[str, Any]],
                  names: Mapping[str, str] | None = None) -> list[str]:
    """Block Kit blocks → lines of plain text."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"# {_text_of(block.get('text'), names)}")
        elif kind == "section":
            body = _text_of(block.get("text"), names).split("\n") if block.get("text") else []
            for field in block.get("fields") or []:
                body.extend(f"  {line}" for line in _text_of(field, names).split("\n"))
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                shown = _element(accessory, names)
                if body:
                    body[-1] = f"{body[-1]}  {shown}"
                else:
                    body.append(shown)
            lines.extend(body)
        elif kind == "context":
            parts = [_element(el, names) for el in block.get("elements") or []]
            lines.append("  " + " · ".join(p for p in parts if p))
        elif kind == "actions":
            lines.append(" ".join(_element(el, names) for el in block.get("elements") or []))
        elif kind == "divider":
            lines.append(RULE)
        elif kind == "image":
            label = _text_of(block.get("title"), names) or block.get("alt_text") or ""
            lines.append(f"[image: {label}]")
        elif kind == "rich_text":
            lines.extend(_rich_text(block, names))
        elif kind == "markdown":
            lines.extend(str(block.get("text") or "").split("\n"))
        elif kind == "input":
            lines.append(f"{_text_of(block.get('label'), names)}: "
                         f"{_element(block.get('element') or {}, names)}")
        elif kind in ("file", "video"):
            lines.append(f"[{kind}: {_text_of(block.get('title'), names) or ''}]")
        else:
            lines.append(f"[{kind} block]")
    return lines


def _author(msg: Mapping[str, Any], names: Mapping[str, str] | None) -> str:
    names = names or {}
    if msg.get("bot_id"):
        bot_name = (msg.get("bot_profile") or {}).get("name") or names.get(str(msg.get("user")))
        return f"{bot_name or msg.get('bot_id')} [bot]"
    user = str(msg.get("user") or "")
    return names.get(user) or user or "someone"


def render_message(msg: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One message as terminal text: author line, then the body indented; thread replies are
    indented once more. Buttons show as [Label]; blocks win over the fallback text, as in
    Slack, except for streamed messages, whose text is the answer itself."""
    is_reply = bool(msg.get("thread_ts")) and msg.get("thread_ts") != msg.get("ts")
    ephemeral = msg.get("ephemeral") or ("message_ts" in msg and "ts" not in msg)
    head = _author(msg, names)
    if ephemeral:
        recipient = str(msg.get("user") or "")
        # Ephemeral entries carry the recipient, not the author: only the bot sends them here.
        head = f"emptychair [bot] (only visible to {(names or {}).get(recipient) or recipient})"
    if msg.get("is_streaming"):
        head += " (typing…)"
    if msg.get("edited"):
        head += " (edited)"

    body: list[str] = []
    blocks = msg.get("blocks") or []
    text = str(msg.get("text") or "")
    if text and (not blocks or msg.get("streamed")):
        body.extend(plain(text, names).split("\n"))
    if blocks:
        body.extend(render_blocks(blocks, names))
    for f in msg.get("files") or []:
        title = f.get("title") or ""
        name = f.get("name") or ""
        body.append(f"[file: {name}{' — ' + title if title and title != name else ''}]")
    for a in msg.get("attachments") or []:
        body.extend(plain(str(a.get("text") or a.get("fallback") or ""), names).split("\n"))
    if msg.get("reply_count") and not is_reply:
        body.append(f"({msg['reply_count']} repl{'y' if msg['reply_count'] == 1 else 'ies'})")
    reactions = msg.get("reactions") or []
    if reactions:
        body.append("  ".join(f":{r.get('name')}: {r.get('count', 1)}" for r in reactions))

    lines = [f"{'↳ ' if is_reply else ''}{head}"]
    lines.extend(f"{BODY_INDENT}{line}" if line else "" for line in body)
    if is_reply:
        lines = [f"{REPLY_INDENT}{line}" if line else "" for line in lines]
    return "\n".join(lines)


def render_thread(messages: Iterable[Mapping[str, Any]],
                  names: Mapping[str, str] | None = None) -> str:
    """A parent and its replies (e.g. conversations.replies' messages), blank-line separated."""
    return "\n\n".join(render_message(m, names) for m in messages)
