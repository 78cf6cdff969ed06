"""Answering a proposal in Slack, and the one place a failure is turned into a reply."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import EmptyChairError
from bot.formatting import format_challenges, format_error, format_proposal_parent
from bot.models import ChairResponse
from bot.slack.chair import chair_of
from bot.slack.dedup import first_delivery
from bot.slack.posting import Answer, NotInChannel, post, quietly
from bot.slack.threads import fetch_thread, strip_mentions, thread_view
from bot.slack.views import GENERIC_FAILURE, INVITE_HINT, mention_hint

log = logging.getLogger(__name__)

MIN_PROPOSAL_WORDS = 3
# Context key: (channel, thread_ts) of the conversation an answer is being written in, so that
# a failure is explained there rather than privately.
REPLY_IN = "empty_chair_reply_in"

Work = Callable[[dict[str, Any], WebClient, BoltContext], None]


def on_error(error: Exception, body: dict[str, Any], client: WebClient,
             context: BoltContext) -> None:
    """The app's one error handler (Bolt's app.error, and every lazy listener through
    `reported`): a project error is shown as written, anything else as a generic apology."""
    if isinstance(error, NotInChannel):
        message = INVITE_HINT
    elif isinstance(error, EmptyChairError):
        message = str(error)
    else:
        log.error("listener failed (%s)", type(error).__name__, exc_info=error)
        message = GENERIC_FAILURE
    where = context.get(REPLY_IN)
    try:
        if where and not isinstance(error, NotInChannel):
            post_failure(client, where[0], where[1], message)
        else:
            reply_privately(body, client, context, message)
    except SlackApiError as exc:
        log.warning("could not tell the user about a failure: %s", exc.response.get("error"))


def reported(work: Work, *, after_acks: bool = False) -> Callable[..., None]:
    """A lazy listener whose exceptions reach on_error: Bolt only logs a lazy listener's
    exception and hands it to no error handler."""

    def lazy(body: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        try:
            chair = chair_of(context)
            if after_acks and chair.foreground is not None:
                chair.foreground.wait_quiet()  # the acks of a burst go out before its answers
            service = chair.service
            if not first_delivery(context, service.claim_event, service.claim_request):
                return
            work(body, client, context)
        except Exception as error:
            on_error(error, body, client, context)

    lazy.__name__ = lazy.__qualname__ = work.__name__  # Bolt names lazy runs after it
    return lazy


def reply_privately(body: dict[str, Any], client: WebClient, context: BoltContext,
                    text: str) -> None:
    """To the person who asked only: the command's response URL, the DM itself, or an
    ephemeral message in the conversation."""
    event = body.get("event") or {}
    if body.get("command") and context.respond is not None:
        context.respond(text=text, response_type="ephemeral")
        return
    channel = (context.channel_id or event.get("channel")
               or (body.get("channel") or {}).get("id", ""))
    user = context.user_id or event.get("user") or (body.get("user") or {}).get("id", "")
    thread_ts = event.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    if event.get("channel_type") == "im":
        post(client, channel, [], text, thread_ts=thread_ts)
    elif channel and user:
        quietly(client.chat_postEphemeral, channel=channel, user=user, text=text,
                thread_ts=thread_ts)


def post_failure(client: WebClient, channel: str, thread_ts: str, message: str) -> None:
    blocks, fallback = format_error(message)
    try:
        post(client, channel, blocks, fallback, thread_ts=thread_ts or None)
    except (SlackApiError, NotInChannel):
        log.warning("could not even post the failure message to %s", channel)


def just_answered(client: WebClient, channel: str, answer_ts: str) -> str:
    """The note for an ask answered a moment ago (or being answered), with a link."""
    if not answer_ts:
        return ("I'm already answering this same question from you; the answer will "
                "appear in the channel in a moment.")
    try:
        link = str(client.chat_getPermalink(channel=channel, message_ts=answer_ts)["permalink"])
        where = f" <{link}|See the answer>."
    except SlackApiError:
        where = " It is in the channel, a little way up."
    return ("I just answered this same question from you a moment ago, so I won't post "
            f"it twice.{where}")


def progress_line(response: ChairResponse) -> str:
    if response.no_signal:
        return "\nNo customer signal found."
    return f"\nFound {len(response.citations)} complaints that bear on this."


def challenge_in_channel(client: WebClient, context: BoltContext, channel: str, user: str,
                         proposal: str, reply: Callable[[str], None]) -> None:
    """`/emptychair <proposal>`: the proposal as a channel message, challenges in its thread."""
    chair = chair_of(context)
    service = chair.service
    earlier = service.claim_ask(channel, user, proposal, window_seconds=chair.duplicate_window)
    if earlier is not None:
        reply(just_answered(client, channel, earlier))
        return
    answered = False
    try:
        blocks, fallback = format_proposal_parent(proposal, user)
        parent_ts = post(client, channel, blocks, fallback)
        service.answered_ask(channel, user, proposal, parent_ts)
        context[REPLY_IN] = (channel, parent_ts)
        response = service.challenge(proposal, audience=channel)
        blocks, fallback = format_challenges(response)
        reply_ts = post(client, channel, blocks, fallback, thread_ts=parent_ts)
        service.record_posted(channel, reply_ts, parent_ts, response)
        answered = True
    finally:
        if not answered:  # a failure explained in the thread may be retried at once
            service.release_ask(channel, user, proposal)


def answer_in_thread(
    client: WebClient, context: BoltContext, channel: str, thread_ts: str, in_thread: bool,
    trigger_ts: str, trigger_text: str, user: str,
) -> None:
    """A mention, the shortcut, a DM or the assistant panel: answer in `thread_ts`. In a thread
    the question is about that thread; otherwise it is the words of the trigger."""
    chair = chair_of(context)
    service = chair.service
    asked, scope = strip_mentions(trigger_text), thread_ts if in_thread else ""
    if not in_thread and len(asked.split()) < MIN_PROPOSAL_WORDS:
        quietly(client.chat_postEphemeral, channel=channel, user=user, text=mention_hint())
        return
    earlier = service.claim_ask(channel, user, asked, window_seconds=chair.duplicate_window,
                                scope=scope, answer_ts=thread_ts)
    if earlier is not None:
        quietly(client.chat_postEphemeral, channel=channel, user=user,
                text=just_answered(client, channel, earlier),
                thread_ts=thread_ts if in_thread else None)
        return
    answered = False
    context[REPLY_IN] = (channel, thread_ts)
    quietly(client.reactions_add, channel=channel, timestamp=trigger_ts, name="eyes")
    quietly(client.assistant_threads_setStatus, channel_id=channel, thread_ts=thread_ts,
            status="is reading what customers said…")
    answer = Answer(client, channel, thread_ts, user_id=user, team_id=context.team_id or "")
    try:
        if in_thread:
            messages = fetch_thread(client, channel, thread_ts)
        else:
            messages = [{"ts": trigger_ts, "text": trigger_text, "user": user}]
        view = thread_view(messages, context.bot_user_id or "", trigger_text, thread_ts)
        if len(view.proposal.split()) < MIN_PROPOSAL_WORDS:
            quietly(client.chat_postEphemeral, channel=channel, user=user, text=mention_hint(),
                    thread_ts=thread_ts)
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
    finally:
        if not answered:  # a failure explained in the thread may be retried at once
            service.release_ask(channel, user, asked, scope=scope)
        quietly(client.reactions_remove, channel=channel, timestamp=trigger_ts, name="eyes")
