"""Briefs in Slack: post one (parent + chart in its thread) and the schedule subcommands."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import EmptyChairError
from bot.formatting import format_brief, safe
from bot.service import ChairService
from bot.slack.chair import Chair, Invocation
from bot.slack.posting import post

log = logging.getLogger(__name__)

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


def is_privileged(chair: Chair, client: WebClient, user_id: str) -> bool:
    """A bot admin (settings), or a workspace admin or owner (users.info)."""
    return user_id in chair.bot_admins or is_workspace_admin(client, user_id)


# Subcommand handlers: the command table in bot/slack/commands.py names them.
def brief(inv: Invocation) -> None:
    days = None
    if inv.args.strip():
        if not inv.args.strip().isdigit() or not 1 <= int(inv.args) <= 365:
            inv.reply("Usage: `/emptychair brief [days]`, e.g. `/emptychair brief 14`.")
            return
        days = int(inv.args)
    post_brief(inv.client, inv.service, inv.channel, days)


def schedule(inv: Invocation) -> None:
    tz = user_timezone(inv.client, inv.user, inv.chair.default_tz)
    sch, text, runs = inv.service.add_schedule(inv.channel, inv.args, user_id=inv.user,
                                               default_tz=tz)
    inv.chair.schedules_changed()
    upcoming = ", ".join(r.strftime("%a %d %b %H:%M %Z") for r in runs) or "none"
    inv.reply(f"Scheduled brief #{sch.id}: {text}. Next: {upcoming}. "
              f"`/emptychair unschedule {sch.id}` to stop it.")


def schedules(inv: Invocation) -> None:
    rows = inv.service.list_schedules(inv.channel)
    if not rows:
        inv.reply("No briefs are scheduled here. Try `/emptychair schedule weekdays 09:45`.")
        return
    lines = [
        f"#{sch.id} · {text}" + (f" · next {nxt.strftime('%a %d %b %H:%M %Z')}" if nxt else "")
        for sch, text, nxt in rows
    ]
    inv.reply("Scheduled briefs in this channel:\n" + "\n".join(lines))


def unschedule(inv: Invocation) -> None:
    ident = inv.args.strip().lstrip("#")
    if not ident.isdigit():
        inv.reply("Usage: `/emptychair unschedule <id>` (see `/emptychair schedules`).")
        return
    # Refused (a ScheduleError, shown to the user) unless the user may remove it.
    if inv.service.remove_schedule(inv.channel, int(ident), user_id=inv.user,
                                   privileged=inv.privileged):
        inv.chair.schedules_changed()
        inv.reply(f"Removed scheduled brief #{ident}.")
    else:
        inv.reply(f"There is no scheduled brief #{ident} in this channel.")


def calendar(inv: Invocation) -> None:
    parts = inv.args.split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise EmptyChairError("Usage: `/emptychair calendar <ics-url> [minutes-before]`, "
                              "e.g. `/emptychair calendar https://…/team.ics 15`.")
    minutes = int(parts[1]) if len(parts) == 2 else 15
    tz = user_timezone(inv.client, inv.user, inv.chair.default_tz)
    sch = inv.service.add_calendar(inv.channel, parts[0].strip("<>").split("|")[0], minutes,
                                   user_id=inv.user, default_tz=tz,
                                   fetch=inv.chair.fetch_feed,
                                   max_per_channel=inv.chair.max_calendars)
    inv.chair.schedules_changed()
    inv.reply(f"Brief #{sch.id} will be posted {minutes} minutes before each event of that "
              "calendar.")
