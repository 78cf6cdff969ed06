"""Thin Bolt listeners: ack at once, then parse → service → format → post in a lazy listener."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import EmptyChairError
from bot.formatting import (
    format_challenges,
    format_error,
    format_help,
    format_home,
    format_proposal_parent,
    format_vote_ack,
)
from bot.models import ChairResponse
from bot.service import ChairService
from bot.slack.posting import Answer, NotInChannel, post, quietly
from bot.slack.threads import fetch_thread, strip_mentions, thread_view

log = logging.getLogger(__name__)

COMMAND = "/emptychair"
SHORTCUT = "ask_empty_chair"
VOTE_ACTIONS = re.compile(r"^chair_(addressed|not_relevant|vote_up|vote_down)$")
_VOTE_KIND = {"addressed": "addressed", "not_relevant": "not_relevant", "vote_up": "up",
              "vote_down": "down"}
SUBCOMMANDS = ("help", "log", "brief", "schedule", "schedules", "unschedule", "calendar")
MIN_PROPOSAL_WORDS = 3
INVITE_HINT = (
    "I can't post in this channel yet. Invite me with `/invite @Empty Chair` and try again."
)
GENERIC_FAILURE = "Something went wrong on my side while answering. Please try again in a minute."
STALE_BUTTON = ("That button is no longer valid: it does not match a challenge on this message. "
                "Ask again for a fresh answer.")
# Button values are the challenge's position on its message, 1-based.
_BUTTON_VALUE = re.compile(r"[1-9][0-9]{0,2}")


def ack_now(ack: Ack) -> None:
    ack()


def register(app: App, service: ChairService, extra: dict[str, Callable[..., None]] | None = None,
             *, duplicate_window: float = 0.0) -> None:
    """Attach every listener to `app`. `extra` maps brief/schedule subcommands to handlers;
    the same user's identical proposal in a channel within `duplicate_window` seconds is
    answered once."""
    extra = extra or {}

    def just_answered(client: WebClient, channel: str, answer_ts: str) -> str:
        """The note for an ask answered a moment ago (or being answered), with a link."""
        if not answer_ts:
            return ("I'm already answering this same question from you; the answer will "
                    "appear in the channel in a moment.")
        try:
            link = str(client.chat_getPermalink(channel=channel,
                                                message_ts=answer_ts)["permalink"])
            where = f" <{link}|See the answer>."
        except SlackApiError:
            where = " It is in the channel, a little way up."
        return ("I just answered this same question from you a moment ago, so I won't post "
                f"it twice.{where}")

    def run_command(body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        text = " ".join((body.get("text") or "").split())
        channel, user = body.get("channel_id", ""), body.get("user_id", "")
        sub, _, rest = text.partition(" ")
        sub_l = sub.casefold()
        try:
            if not text or sub_l == "help":
                blocks, fallback = format_help()
                respond(blocks=blocks, text=fallback, response_type="ephemeral")
            elif sub_l == "log":
                complaint, added = service.log_complaint(
                    rest, user_id=user, channel_id=channel,
                    private=not is_public_channel(client, channel))
                note = "Logged" if added else "I already had this one"
                respond(text=f"{note} as complaint `{complaint.id}`. Thank you for bringing the "
                        "customer in.", response_type="ephemeral")
            elif sub_l in SUBCOMMANDS:
                handler = extra.get(sub_l)
                if handler is None:
                    respond(text=f"`{COMMAND} {sub_l}` is not available in this installation.",
                            response_type="ephemeral")
                else:
                    handler(body=body, client=client, respond=respond, args=rest)
            elif len(text.split()) < MIN_PROPOSAL_WORDS:
                blocks, fallback = format_help()
                respond(blocks=blocks, text=f"I didn't understand `{sub[:40]}`. " + fallback,
                        response_type="ephemeral")
            else:
                challenge_in_channel(client, respond, channel, user, text)
        except EmptyChairError as exc:
            respond(text=str(exc), response_type="ephemeral")
        except Exception:
            log.exception("slash command failed")
            respond(text=GENERIC_FAILURE, response_type="ephemeral")

    def challenge_in_channel(
        client: WebClient, respond: Respond, channel: str, user: str, proposal: str
    ) -> None:
        earlier = service.claim_ask(channel, user, proposal, window_seconds=duplicate_window)
        if earlier is not None:
            respond(text=just_answered(client, channel, earlier), response_type="ephemeral")
            return
        answered = False
        blocks, fallback = format_proposal_parent(proposal, user)
        try:
            parent_ts = post(client, channel, blocks, fallback)
        except NotInChannel:
            service.release_ask(channel, user, proposal)
            respond(text=INVITE_HINT, response_type="ephemeral")
            return
        except Exception:
            service.release_ask(channel, user, proposal)
            raise
        service.answered_ask(channel, user, proposal, parent_ts)
        try:
            response = service.challenge(proposal, audience=channel)
            blocks, fallback = format_challenges(response)
            reply_ts = post(client, channel, blocks, fallback, thread_ts=parent_ts)
            service.record_posted(channel, reply_ts, parent_ts, response)
            answered = True
        except EmptyChairError as exc:
            post_failure(client, channel, parent_ts, str(exc))
        except Exception:
            log.exception("challenge failed")
            post_failure(client, channel, parent_ts, GENERIC_FAILURE)
        finally:
            if not answered:  # a failure explained in the thread may be retried at once
                service.release_ask(channel, user, proposal)

    def answer_in_thread(
        client: WebClient, context: BoltContext, channel: str, thread_ts: str, in_thread: bool,
        trigger_ts: str, trigger_text: str, user: str,
    ) -> None:
        # In a thread the question is about that thread; at the top level it is the words.
        asked, scope = strip_mentions(trigger_text), thread_ts if in_thread else ""
        earlier = service.claim_ask(channel, user, asked, window_seconds=duplicate_window,
                                    scope=scope, answer_ts=thread_ts)
        if earlier is not None:
            quietly(client.chat_postEphemeral, channel=channel, user=user,
                    text=just_answered(client, channel, earlier),
                    thread_ts=thread_ts if in_thread else None)
            return
        answered = False
        quietly(client.reactions_add, channel=channel, timestamp=trigger_ts, name="eyes")
        quietly(client.assistant_threads_setStatus, channel_id=channel, thread_ts=thread_ts,
                status="is reading what customers said…")
        answer = Answer(client, channel, thread_ts, user_id=user,
                        team_id=context.team_id or "")
        try:
            if in_thread:
                messages = fetch_thread(client, channel, thread_ts)
            else:
                messages = [{"ts": trigger_ts, "text": trigger_text, "user": user}]
            view = thread_view(messages, context.bot_user_id or "", trigger_text, thread_ts)
            if len(view.proposal.split()) < MIN_PROPOSAL_WORDS:
                blocks, fallback = format_help()
                post(client, channel, blocks, fallback, thread_ts=thread_ts)
                answered = True
                return
            answer.start("_Reading what customers said about this…_")
            response = service.challenge(view.proposal, view.context, audience=channel)
            answer.progress(progress_line(response))
            blocks, fallback = format_challenges(response)
            reply_ts = answer.finish(blocks, fallback)
            service.record_posted(channel, reply_ts, thread_ts, response)
            quietly(client.reactions_add, channel=channel, timestamp=trigger_ts,
                    name="white_check_mark")
            answered = True
        except NotInChannel:
            quietly(client.chat_postEphemeral, channel=channel, user=user, text=INVITE_HINT)
        except EmptyChairError as exc:
            post_failure(client, channel, thread_ts, str(exc))
        except Exception:
            log.exception("thread answer failed")
            post_failure(client, channel, thread_ts, GENERIC_FAILURE)
        finally:
            if not answered:  # a failure explained in the thread may be retried at once
                service.release_ask(channel, user, asked, scope=scope)
            quietly(client.reactions_remove, channel=channel, timestamp=trigger_ts, name="eyes")

    def on_mention(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        event = body.get("event") or {}
        if event.get("bot_id") or event.get("subtype"):
            return  # other bots and edits never get an answer
        channel, ts = event.get("channel", ""), event.get("ts", "")
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

    def on_vote(body: dict[str, Any], client: WebClient) -> None:
        action = (body.get("actions") or [{}])[0]
        match = VOTE_ACTIONS.match(action.get("action_id", ""))
        channel = (body.get("channel") or {}).get("id", "")
        user = (body.get("user") or {}).get("id", "")
        message = body.get("message") or body.get("container") or {}
        message_ts = message.get("ts") or message.get("message_ts", "")
        if match is None or not channel or not message_ts:
            return
        kind = _VOTE_KIND[match.group(1)]
        value = action.get("value")
        try:
            if not isinstance(value, str) or not _BUTTON_VALUE.fullmatch(value):
                text = STALE_BUTTON
            else:
                service.vote(channel, message_ts, int(value), user, kind)
                text = format_vote_ack(kind)
        except EmptyChairError as exc:
            text = str(exc)
        except ValueError:
            text = "I couldn't record that click; please try again."
        quietly(client.chat_postEphemeral, channel=channel, user=user, text=text,
                thread_ts=message.get("thread_ts"))

    def on_home(event: dict[str, Any], client: WebClient) -> None:
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
        view = format_home(service.home_summary(), service.open_challenges(channels))
        quietly(client.views_publish, user_id=user, view=view)

    app.command(COMMAND)(ack=ack_now, lazy=[run_command])
    app.event("app_mention")(ack=ack_now, lazy=[on_mention])
    app.shortcut(SHORTCUT)(ack=ack_now, lazy=[on_shortcut])
    app.action(VOTE_ACTIONS)(ack=ack_now, lazy=[on_vote])
    app.event("app_home_opened")(ack=ack_now, lazy=[on_home])

    @app.event("message")
    def ignore_messages() -> None:
        """Channel chatter is not for us; listening avoids Bolt's unhandled-request warnings."""


def is_public_channel(client: WebClient, channel: str) -> bool:
    """True only for a public channel; when Slack cannot say, the conversation counts as private
    (a complaint kept to one conversation is the safe mistake)."""
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except (SlackApiError, KeyError, TypeError):
        return False
    return not (info.get("is_private") or info.get("is_im") or info.get("is_mpim"))


def progress_line(response: ChairResponse) -> str:
    if response.no_signal:
        return "\nNo customer signal found."
    return f"\nFound {len(response.citations)} complaints that bear on this."


def post_failure(client: WebClient, channel: str, thread_ts: str, message: str) -> None:
    blocks, fallback = format_error(message)
    try:
        post(client, channel, blocks, fallback, thread_ts=thread_ts)
    except (SlackApiError, NotInChannel):
        log.warning("could not even post the failure message to %s", channel)
