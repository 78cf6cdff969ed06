"""Thin Bolt listeners: ack at once, then parse → service → format → post in a lazy listener."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Assistant, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.formatting import (
    ACTION_ADDRESSED,
    ACTION_EVIDENCE,
    ACTION_NOT_RELEVANT,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    evidence_modal,
    format_home,
    format_vote_ack,
)
from bot.slack import intake
from bot.slack.answers import answer_in_thread, on_error, reported
from bot.slack.chair import Chair, Invocation, attach, chair_of
from bot.slack.commands import COMMAND, dispatch
from bot.slack.posting import post, quietly
from bot.slack.threads import strip_mentions
from bot.slack.views import (
    CITATION_ACTION_PATTERN,
    SUGGESTED_PROMPTS,
    complaint_modal,
    missing_complaint_modal,
)

log = logging.getLogger(__name__)

SHORTCUT = "ask_empty_chair"
# Each vote button's action id and the vote it records (the store's word for it).
VOTES = {ACTION_ADDRESSED: "addressed", ACTION_NOT_RELEVANT: "not_relevant",
         ACTION_VOTE_UP: "up", ACTION_VOTE_DOWN: "down"}
VOTE_ACTIONS = re.compile("^(?:" + "|".join(map(re.escape, VOTES)) + ")$")
STALE_BUTTON = ("That button is no longer valid: it does not match a challenge on this message. "
                "Ask again for a fresh answer.")
# Button values are the challenge's position on its message, 1-based.
_BUTTON_VALUE = re.compile(r"[1-9][0-9]{0,2}")
_TITLE_CHARS = 60


def ack_now(ack: Ack) -> None:
    ack()


# ----------------------------------------------------------------------------- slash command
def run_command(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    respond = context.respond

    def reply(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        if respond is not None:
            respond(text=text, blocks=blocks, response_type="ephemeral")

    inv = Invocation(chair=chair_of(context), client=client, context=context,
                     channel=body.get("channel_id", ""), user=body.get("user_id", ""),
                     args="", reply=reply)
    dispatch(inv, body.get("text") or "")


# ----------------------------------------------------------------------------- mention, shortcut
def on_mention(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    event = body.get("event") or {}
    if event.get("bot_id") or event.get("subtype"):
        return  # other bots and edits never get an answer
    channel, ts = event.get("channel", ""), event.get("ts", "")
    service = chair_of(context).service
    # One message is one question, whatever event ids it is delivered under.
    if not service.claim_event(f"mention:{channel}:{ts}"):
        log.info("mention %s delivered again under a new event id; ignored", ts)
        return
    thread_ts = event.get("thread_ts") or ts
    answer_in_thread(client, context, channel, thread_ts, bool(event.get("thread_ts")), ts,
                     event.get("text", ""), event.get("user", ""))


def on_shortcut(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    message = body.get("message") or {}
    channel = (body.get("channel") or {}).get("id", "")
    user = (body.get("user") or {}).get("id", "")
    ts = message.get("ts", "")
    thread_ts = message.get("thread_ts") or ts
    in_thread = bool(message.get("thread_ts")) or bool(message.get("reply_count"))
    answer_in_thread(client, context, channel, thread_ts, in_thread, ts,
                     strip_mentions(message.get("text", "")), user)


# ----------------------------------------------------------------------------- buttons
def on_vote(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    action = (body.get("actions") or [{}])[0]
    kind = VOTES.get(action.get("action_id", ""))
    channel = (body.get("channel") or {}).get("id", "")
    user = (body.get("user") or {}).get("id", "")
    message = body.get("message") or body.get("container") or {}
    message_ts = message.get("ts") or message.get("message_ts", "")
    if kind is None or not channel or not message_ts:
        return
    value = action.get("value")
    if not isinstance(value, str) or not _BUTTON_VALUE.fullmatch(value):
        text = STALE_BUTTON
    else:
        try:
            chair_of(context).service.vote(channel, message_ts, int(value), user, kind)
            text = format_vote_ack(kind)
        except ValueError:
            text = "I couldn't record that click; please try again."
    quietly(client.chat_postEphemeral, channel=channel, user=user, text=text,
            thread_ts=message.get("thread_ts"))


def on_view_complaint(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """A citation's "View": the full redacted complaint, if this conversation may read it."""
    action = (body.get("actions") or [{}])[0]
    complaint_id = str(action.get("value") or "")
    # A button in App Home or a modal has no conversation: only complaints quotable anywhere.
    audience = (body.get("channel") or {}).get("id", "")
    found = chair_of(context).service.complaint(complaint_id, audience) if complaint_id else None
    view = complaint_modal(found) if found else missing_complaint_modal(complaint_id)
    client.views_open(trigger_id=body.get("trigger_id", ""), view=view)


def on_evidence(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    """"Full evidence": every fact and citation of the answer that message holds."""
    channel = (body.get("channel") or {}).get("id", "")
    message = body.get("message") or body.get("container") or {}
    message_ts = message.get("ts") or message.get("message_ts", "")
    found = chair_of(context).service.posted_answer(channel, message_ts) if message_ts else None
    if found is None:
        quietly(client.chat_postEphemeral, channel=channel,
                user=(body.get("user") or {}).get("id", ""), text=STALE_BUTTON)
        return
    client.views_open(trigger_id=body.get("trigger_id", ""), view=evidence_modal(found))


# ----------------------------------------------------------------------------- App Home
def on_home(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    event = body.get("event") or {}
    user = event.get("user", "")
    if event.get("tab", "home") != "home" or not user:
        return
    channels: list[str] = []
    try:
        page = client.users_conversations(user=user, types="public_channel,private_channel",
                                          limit=200)
        channels = [c["id"] for c in page.get("channels") or []]
    except SlackApiError as exc:
        log.info("users.conversations failed: %s", exc.response.get("error"))
    service = chair_of(context).service
    view = format_home(service.home_summary(), service.open_challenges(channels))
    quietly(client.views_publish, user_id=user, view=view)


# ----------------------------------------------------------------------------- messages
def wanted_message(body: dict[str, Any]) -> bool:
    """Cheap test on the ack path: a person's DM, or anything a watched channel may need."""
    event = body.get("event") or {}
    kind = event.get("channel_type")
    if kind == "im":
        return not event.get("subtype") and not event.get("bot_id") and not event.get(
            "thread_ts")
    return kind in ("channel", "group") and event.get("subtype") in (
        None, "file_share", "message_changed", "message_deleted")


def on_message(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    event = body.get("event") or {}
    chair = chair_of(context)
    if event.get("channel_type") == "im":
        dm(chair, client, context, event, thread_ts=str(event.get("ts") or ""))
    else:
        intake.take(chair, client, event, context.bot_user_id or "")


def dm(chair: Chair, client: WebClient, context: BoltContext, event: dict[str, Any], *,
       thread_ts: str) -> None:
    """A DM (or an assistant thread) works like /emptychair: help, log …, or a proposal, which
    is answered in `thread_ts`."""
    channel = str(event.get("channel") or "")
    # In the assistant panel replies stay in its thread; a plain DM gets them in the DM itself.
    reply_ts = thread_ts if event.get("thread_ts") else None

    def reply(text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        post(client, channel, blocks or [], text, thread_ts=reply_ts)

    inv = Invocation(chair=chair, client=client, context=context, channel=channel,
                     user=str(event.get("user") or ""), args="", reply=reply, in_dm=True,
                     thread_ts=thread_ts, message_ts=str(event.get("ts") or ""))
    dispatch(inv, strip_mentions(str(event.get("text") or "")))


# ----------------------------------------------------------------------------- assistant panel
def on_assistant_started(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    thread = (body.get("event") or {}).get("assistant_thread") or {}
    client.assistant_threads_setSuggestedPrompts(
        channel_id=thread.get("channel_id", ""), thread_ts=thread.get("thread_ts", ""),
        title="Ask about a proposal, as your customers would",
        prompts=[{"title": title, "message": message} for title, message in SUGGESTED_PROMPTS],
    )


def on_assistant_message(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
    event = body.get("event") or {}
    thread_ts = str(event.get("thread_ts") or "")
    text = strip_mentions(str(event.get("text") or ""))
    quietly(client.assistant_threads_setTitle, channel_id=event.get("channel", ""),
            thread_ts=thread_ts, title=text[:_TITLE_CHARS] or "Empty Chair")
    dm(chair_of(context), client, context, event, thread_ts=thread_ts)


def ignore_context_change() -> None:
    """The proposal is in the message itself; which channel the user is looking at is not
    needed (Bolt's default would store it through chat.update on our messages)."""


def ignore(ack: Ack) -> None:
    """Messages nobody asked us about; listening avoids Bolt's unhandled-request warnings."""
    ack()


def lazily(app_register: Callable[..., Any], work: Callable[..., None],
           answers: bool = False) -> None:
    """`answers`: the listener searches and writes an answer, so it lets a burst's acks out
    first; clicks and views are quick and keep their order."""
    app_register(ack=ack_now, lazy=[reported(work, after_acks=answers)])


def register(app: App, chair: Chair) -> None:
    """Attach every listener and the one error handler to `app`."""
    app.use(attach(chair))
    app.error(on_error)
    assistant = Assistant(logger=log)
    assistant.thread_started(lazy=[reported(on_assistant_started)])(ack_now)
    assistant.user_message(lazy=[reported(on_assistant_message, after_acks=True)])(ack_now)
    assistant.thread_context_changed(ignore_context_change)
    app.assistant(assistant)
    lazily(app.command(COMMAND), run_command, answers=True)
    lazily(app.event("app_mention"), on_mention, answers=True)
    lazily(app.shortcut(SHORTCUT), on_shortcut, answers=True)
    lazily(app.action(VOTE_ACTIONS), on_vote)
    lazily(app.action(CITATION_ACTION_PATTERN), on_view_complaint)
    lazily(app.action(ACTION_EVIDENCE), on_evidence)
    lazily(app.event("app_home_opened"), on_home)
    lazily(app.event("message", matchers=[wanted_message]), on_message, answers=True)
    app.event("message")(ignore)

