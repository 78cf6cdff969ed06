"""Briefs in Slack: post one (parent + chart in its thread) and the schedule subcommands."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.calendar_feed import AllowList, FeedFetcher
from bot.config import Settings
from bot.errors import EmptyChairError
from bot.formatting import format_brief, safe
from bot.service import ChairService
from bot.slack.posting import NotInChannel, post

log = logging.getLogger(__name__)

INVITE_HINT = "I can't post in this channel yet. Invite me with `/invite @Empty Chair`."


def post_brief(client: WebClient, service: ChairService, channel_id: str,
               days: int | None = None) -> str:
    """Post the channel's brief as a thread parent and its trend chart in the thread."""
    brief = service.brief(channel_id, days=days)
    blocks, text = format_brief(brief)
    parent_ts = post(client, channel_id, blocks, text)
    try:
        client.files_upload_v2(
            channel=channel_id, thread_ts=parent_ts, content=service.brief_chart(brief),
            filename="customer-brief.png", title="Complaints per day, top themes",
            initial_comment="Complaints per day for the top themes of this period.",
        )
    except SlackApiError as exc:
        # The brief itself is what matters; a chart that fails to upload is only logged.
        log.warning("chart upload failed: %s", exc.response.get("error"))
    if brief.open_challenges:
        lines = "\n".join(f"• {safe(q, 300)}" for q in brief.open_challenges)
        text = f"*Still open from earlier discussions:*\n{lines}"
        section = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
        post(client, channel_id, [section], "Still open from earlier discussions",
             thread_ts=parent_ts)
    service.record_brief(brief, parent_ts)
    return parent_ts


def user_timezone(client: WebClient, user_id: str, default: str) -> str:
    try:
        tz = (client.users_info(user=user_id).get("user") or {}).get("tz")
    except SlackApiError:
        tz = None
    return str(tz) if tz else default


def is_workspace_admin(client: WebClient, user_id: str) -> bool:
    """users.info says the user is a workspace admin or owner; False when it cannot tell."""
    try:
        user = client.users_info(user=user_id).get("user") or {}
    except SlackApiError as exc:
        log.info("users.info failed, treating the user as a member: %s",
                 exc.response.get("error"))
        return False
    return any(bool(user.get(flag)) for flag in ("is_admin", "is_owner", "is_primary_owner"))


def brief_commands(
    service: ChairService, default_tz: str, on_change: Callable[[], None] | None = None,
    *, settings: Settings | None = None,
) -> dict[str, Callable[..., None]]:
    """Handlers for `/emptychair brief|schedule|schedules|unschedule|calendar`.

    `settings` supplies the calendar allow-list and limit and the bot's own admins (none without).
    """
    fetch_feed = FeedFetcher(AllowList.parse(settings.calendar_allow_hosts if settings else ""))
    max_calendars = settings.max_calendars_per_channel if settings else 3
    bot_admins = settings.admin_user_ids if settings else frozenset()

    def changed() -> None:
        if on_change is not None:
            on_change()

    def brief(body: dict[str, Any], client: WebClient, respond: Respond, args: str) -> None:
        days = None
        if args.strip():
            if not args.strip().isdigit() or not 1 <= int(args) <= 365:
                respond(text="Usage: `/emptychair brief [days]`, e.g. `/emptychair brief 14`.",
                        response_type="ephemeral")
                return
            days = int(args)
        try:
            post_brief(client, service, body["channel_id"], days)
        except NotInChannel:
            respond(text=INVITE_HINT, response_type="ephemeral")

    def schedule(body: dict[str, Any], client: WebClient, respond: Respond, args: str) -> None:
        tz = user_timezone(client, body.get("user_id", ""), default_tz)
        sch, text, runs = service.add_schedule(body["channel_id"], args,
                                               user_id=body.get("user_id", ""), default_tz=tz)
        changed()
        upcoming = ", ".join(r.strftime("%a %d %b %H:%M %Z") for r in runs) or "none"
        respond(text=f"Scheduled brief #{sch.id}: {text}. Next: {upcoming}. "
                f"`/emptychair unschedule {sch.id}` to stop it.", response_type="ephemeral")

    def schedules(body: dict[str, Any], client: WebClient, respond: Respond, args: str) -> None:
        rows = service.list_schedules(body["channel_id"])
        if not rows:
            respond(text="No briefs are scheduled here. Try `/emptychair schedule weekdays "
                    "09:45`.", response_type="ephemeral")
            return
        lines = [
            f"#{sch.id} · {text}" + (f" · next {nxt.strftime('%a %d %b %H:%M %Z')}" if nxt else "")
            for sch, text, nxt in rows
        ]
        respond(text="Scheduled briefs in this channel:\n" + "\n".join(lines),
                response_type="ephemeral")

    def unschedule(body: dict[str, Any], client: WebClient, respond: Respond, args: str) -> None:
        ident = args.strip().lstrip("#")
        if not ident.isdigit():
            respond(text="Usage: `/emptychair unschedule <id>` (see `/emptychair schedules`).",
                    response_type="ephemeral")
            return
        user = body.get("user_id", "")
        privileged = user in bot_admins or is_workspace_admin(client, user)
        # Refused (a ScheduleError, shown ephemerally) unless the user may remove it.
        if service.remove_schedule(body["channel_id"], int(ident), user_id=user,
                                   privileged=privileged):
            changed()
            respond(text=f"Removed scheduled brief #{ident}.", response_type="ephemeral")
        else:
            respond(text=f"There is no scheduled brief #{ident} in this channel.",
                    response_type="ephemeral")

    def calendar(body: dict[str, Any], client: WebClient, respond: Respond, args: str) -> None:
        parts = args.split()
        if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
            raise EmptyChairError("Usage: `/emptychair calendar <ics-url> [minutes-before]`, "
                                  "e.g. `/emptychair calendar https://…/team.ics 15`.")
        minutes = int(parts[1]) if len(parts) == 2 else 15
        tz = user_timezone(client, body.get("user_id", ""), default_tz)
        sch = service.add_calendar(body["channel_id"], parts[0].strip("<>").split("|")[0], minutes,
                                   user_id=body.get("user_id", ""), default_tz=tz,
                                   fetch=fetch_feed, max_per_channel=max_calendars)
        changed()
        respond(text=f"Brief #{sch.id} will be posted {minutes} minutes before each event of "
                "that calendar.", response_type="ephemeral")

    return {"brief": brief, "schedule": schedule, "schedules": schedules,
            "unschedule": unschedule, "calendar": calendar}
