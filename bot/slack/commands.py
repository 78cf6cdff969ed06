"""The /emptychair command table: each subcommand once, with its help line, handler and access."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.slack import briefs, intake
from bot.slack.answers import MIN_PROPOSAL_WORDS, answer_in_thread, challenge_in_channel
from bot.slack.chair import Invocation
from bot.slack.posting import is_public_channel
from bot.slack.views import channel_only, help_message, unknown_command

COMMAND = "/emptychair"


class Who(enum.Enum):
    """Who may run a subcommand. The dispatcher works out `Invocation.privileged` for
    CREATOR_OR_ADMIN; the service then refuses anyone else (it knows who created what)."""

    ANYONE = "anyone"
    CREATOR_OR_ADMIN = "its creator, workspace admins and owners, and the bot's admins"


@dataclass(frozen=True)
class Command:
    name: str  # the first word after /emptychair; "" for the proposal itself
    usage: str  # as shown in help after /emptychair
    help: str
    run: Callable[[Invocation], None]
    who: Who = Who.ANYONE
    in_dm: bool = True  # False: it is about a channel, so a DM gets an explanation


def propose(inv: Invocation) -> None:
    if inv.in_dm:
        answer_in_thread(inv.client, inv.context, inv.channel, inv.thread_ts, False,
                         inv.message_ts, inv.args, inv.user)
    else:
        challenge_in_channel(inv.client, inv.context, inv.channel, inv.user, inv.args,
                             inv.reply)


def show_help(inv: Invocation) -> None:
    blocks, fallback = help_message(help_lines(), COMMAND)
    inv.reply(fallback, blocks)


def log_complaint(inv: Invocation) -> None:
    private = inv.in_dm or not is_public_channel(inv.client, inv.channel)
    complaint, added = inv.service.log_complaint(inv.args, user_id=inv.user,
                                                 channel_id=inv.channel, private=private)
    note = "Logged" if added else "I already had this one"
    inv.reply(f"{note} as complaint `{complaint.id}`. Thank you for bringing the customer in.")


# To add a subcommand: add a row here (its handler takes an Invocation and replies with
# inv.reply), add what it needs to ChairService, and add a test through the sandbox (see
# tests/test_slack_commands.py). Help, dispatch and the manifest's usage hint follow the table;
# a test fails until manifest.json's usage_hint is updated to commands.usage_hint().
COMMANDS: tuple[Command, ...] = (
    Command("", "<proposal>", "challenge a proposal; the challenges arrive in a thread", propose),
    Command("brief", "brief [days]", "this channel's customer brief, now", briefs.brief),
    Command("log", "log <complaint>", "record a customer complaint you heard", log_complaint),
    Command("schedule", "schedule weekdays 09:45 [Europe/Berlin]",
            'post a brief before a recurring meeting (also: mon,wed 16:00, or cron '
            '"45 9 * * 1-5"; timezone optional)', briefs.schedule),
    Command("calendar", "calendar <ics-url> [minutes]",
            "post a brief that many minutes (default 15) before each event of a calendar feed",
            briefs.calendar),
    Command("schedules", "schedules", "list this channel's schedules", briefs.schedules),
    Command("unschedule", "unschedule <id>",
            "remove a schedule (its creator or an admin)", briefs.unschedule,
            who=Who.CREATOR_OR_ADMIN),
    Command("watch", "watch",
            "make new messages in this channel customer complaints (a feedback channel)",
            intake.watch, in_dm=False),
    Command("unwatch", "unwatch", "stop taking complaints from this channel", intake.unwatch,
            in_dm=False),
    Command("watching", "watching", "which channels are feedback channels", intake.watching,
            in_dm=False),
    Command("help", "help", "this message", show_help),
)
_BY_NAME = {c.name: c for c in COMMANDS if c.name}
_PROPOSAL = next(c for c in COMMANDS if not c.name)


def help_lines() -> list[tuple[str, str]]:
    return [(c.usage, c.help) for c in COMMANDS]


def usage_hint() -> str:
    """The slash command's usage hint in manifest.json."""
    return " | ".join(c.usage if not c.name else c.name for c in COMMANDS)


def dispatch(inv: Invocation, text: str) -> None:
    """Run `text` (what follows /emptychair, or a DM) as the table says."""
    words = " ".join(text.split())
    first, _, rest = words.partition(" ")
    command = _BY_NAME.get(first.casefold())
    if not words:
        show_help(inv)
    elif command is not None:
        if inv.in_dm and not command.in_dm:
            inv.reply(channel_only(COMMAND, command.name))
            return
        privileged = command.who is Who.CREATOR_OR_ADMIN and briefs.is_privileged(
            inv.chair, inv.client, inv.user)
        command.run(replace(inv, args=rest, privileged=privileged))
    elif len(words.split()) < MIN_PROPOSAL_WORDS:
        blocks, fallback = help_message(help_lines(), COMMAND)
        inv.reply(unknown_command(first) + fallback, blocks)
    else:
        _PROPOSAL.run(replace(inv, args=words))
