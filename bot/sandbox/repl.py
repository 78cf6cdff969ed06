"""`emptychair sandbox` and `demo`: a person (or a script) talks to the real bot locally."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sandbox.render import render_message
from bot.sandbox.stack import SandboxStack

CHANNEL = "C0MEET"
NAMES = {"U0ALICE": "alice", "U0BOB": "bob", "U0CAROL": "carol", "U0BOT": "emptychair"}
HELP = """\
You are alice in #meeting. Type:
  /emptychair <text>       a slash command (try: /emptychair Cut the free-returns window to 14 days)
  @emptychair <text>       mention the bot (in the current thread, if you are in one)
  <anything else>          a message from you (in the current thread, if you are in one)
  :thread                  enter the thread of the latest message  · :top  leave the thread
  :click N ACTION          click a button of challenge N on the bot's latest answer
                           (ACTION: addressed, not_relevant, up, down)
  :as bob|carol            speak as someone else      · :help  · :quit
"""
ACTIONS = {"addressed": "chair_addressed", "not_relevant": "chair_not_relevant",
           "up": "chair_vote_up", "down": "chair_vote_down"}


@dataclass
class Transcript:
    """Prints what changed in the channel since the last look, rendered like Slack would."""

    stack: SandboxStack
    out: Callable[[str], None] = print
    seen: dict[str, str] = field(default_factory=dict)
    ephemerals_seen: int = 0

    def settle(self, timeout: float = 60.0, quiet: float = 0.6) -> None:
        """Wait until the bot has stopped calling Slack (it works in the background)."""
        emu = self.stack.emulator
        deadline = time.time() + timeout
        last = -1
        stable_since = time.time()
        while time.time() < deadline:
            count = len(emu.calls)
            streaming = any(m.get("is_streaming") for m in emu.messages(CHANNEL))
            if count != last or streaming:
                last, stable_since = count, time.time()
            elif time.time() - stable_since >= quiet:
                return
            time.sleep(0.05)

    def flush(self) -> None:
        emu = self.stack.emulator
        for msg in emu.messages(CHANNEL):
            rendered = render_message(msg, NAMES)
            key = str(msg.get("ts"))
            if self.seen.get(key) != rendered:
                self.seen[key] = rendered
                self.out(rendered + "\n")
        ephemerals = emu.ephemerals
        for eph in ephemerals[self.ephemerals_seen:]:
            self.out(render_message({**eph, "ephemeral": True}, NAMES) + "\n")
        self.ephemerals_seen = len(ephemerals)


@dataclass
class Conversation:
    """One person's view of #meeting: what they type becomes signed requests to the real app."""

    stack: SandboxStack
    transcript: Transcript
    user: str = "U0ALICE"
    thread_ts: str | None = None

    def say(self, line: str) -> bool:
        """Handle one typed line; False to quit."""
        line = line.strip()
        emu, driver = self.stack.emulator, self.stack.driver
        if not line:
            return True
        if line in (":quit", ":q", "exit"):
            return False
        if line == ":help":
            self.transcript.out(HELP)
            return True
        if line == ":top":
            self.thread_ts = None
            return True
        if line == ":thread":
            parents = [m for m in emu.messages(CHANNEL) if not m.get("thread_ts")
                       or m.get("thread_ts") == m.get("ts")]
            self.thread_ts = str(parents[-1]["ts"]) if parents else None
            self.transcript.out(f"(in the thread of {self.thread_ts})\n")
            return True
        if line.startswith(":as "):
            who = "U0" + line[4:].strip().upper()
            if who in NAMES:
                self.user = who
            return True
        if line.startswith(":click"):
            self.click(line.split()[1:])
        elif line.startswith("/emptychair"):
            driver.slash_command(line[len("/emptychair"):].strip(), channel=CHANNEL,
                                 user=self.user,
                                 response_url=emu.response_url_for(
                                     f"r{time.time()}", channel=CHANNEL, user=self.user))
        elif line.startswith("@emptychair"):
            driver.user_says(CHANNEL, self.user, "<@U0BOT> " + line[len("@emptychair"):].strip(),
                             thread_ts=self.thread_ts)
        else:
            emu.post_user_message(CHANNEL, self.user, line, thread_ts=self.thread_ts)
        self.transcript.settle()
        self.transcript.flush()
        return True

    def click(self, args: list[str]) -> None:
        if len(args) != 2 or args[1] not in ACTIONS or not args[0].isdigit():
            self.transcript.out("usage: :click N addressed|not_relevant|up|down\n")
            return
        answers = [m for m in self.stack.emulator.messages(CHANNEL)
                   if m.get("bot_id") and any(b.get("type") == "actions"
                                              for b in m.get("blocks") or [])]
        if not answers:
            self.transcript.out("(no answer with buttons yet)\n")
            return
        last = answers[-1]
        self.stack.driver.block_action(ACTIONS[args[1]], args[0], CHANNEL, str(last["ts"]),
                                       user=self.user, thread_ts=last.get("thread_ts"))


DEMO_SCRIPT: list[tuple[str, str]] = [
    ("alice", "/emptychair Cut the free-returns window from 30 to 14 days"),
    ("alice", ":click 1 addressed"),
    ("bob", ":top"),
    ("bob", "Proposal: staff the phone line only on weekdays from next month, to cut costs."),
    ("bob", ":thread"),
    ("carol", "Saves about 20% of support cost."),
    ("alice", "@emptychair what would our customers ask about this?"),
    ("alice", ":top"),
    ("alice", "/emptychair log Customer says the courier left the parcel in the rain again"),
    ("alice", "/emptychair Rename the tabs of the internal finance spreadsheet"),
]


def run_demo(stack: SandboxStack, out: Callable[[str], None] = print) -> None:
    transcript = Transcript(stack, out)
    convo = Conversation(stack, transcript)
    for who, line in DEMO_SCRIPT:
        convo.user = "U0" + who.upper()
        if not line.startswith(":"):
            out(f"{who}> {line}\n")
        convo.say(line)


def run_repl(stack: SandboxStack, read: Callable[[str], str] = input,
             out: Callable[[str], None] = print) -> None:
    transcript = Transcript(stack, out)
    convo = Conversation(stack, transcript)
    out(HELP)
    while True:
        prompt = f"{NAMES[convo.user]}{' (thread)' if convo.thread_ts else ''}> "
        try:
            line = read(prompt)
        except (EOFError, KeyboardInterrupt):
            out("")
            return
        if not convo.say(line):
            return
