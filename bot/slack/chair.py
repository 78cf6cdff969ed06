"""What every Slack listener needs (the service and a few settings), carried in Bolt's context."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.foreground import Foreground
from bot.service import ChairService

_KEY = "empty_chair"


@dataclass(frozen=True)
class Chair:
    service: ChairService
    default_tz: str = "UTC"
    duplicate_window: float = 0.0  # seconds in which a user's identical ask is answered once
    on_schedules_changed: Callable[[], None] | None = None
    fetch_feed: Callable[[str, float], str] | None = None  # None: the calendar's safe default
    max_calendars: int = 3
    bot_admins: frozenset[str] = field(default_factory=frozenset)
    foreground: Foreground | None = None  # requests being acked; answers start after them

    def __deepcopy__(self, memo: dict[int, Any]) -> Chair:
        # Bolt deep-copies context values into each lazy listener's request. These are shared,
        # thread-safe objects (the service opens one connection per thread), never per-request
        # state, so the copy is the object itself.
        return self

    def schedules_changed(self) -> None:
        if self.on_schedules_changed is not None:
            self.on_schedules_changed()


class Reply(Protocol):
    def __call__(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None: ...


@dataclass(frozen=True)
class Invocation:
    """One `/emptychair …` (or the same words in a DM or the assistant panel)."""

    chair: Chair
    client: WebClient
    context: BoltContext
    channel: str
    user: str
    args: str  # the words after the subcommand (the whole text for a proposal)
    reply: Reply  # to the person who asked only
    in_dm: bool = False
    thread_ts: str = ""  # in a DM: the thread an answer goes in
    message_ts: str = ""  # in a DM: the message that asked
    privileged: bool = False  # a workspace admin or owner, or a bot admin

    @property
    def service(self) -> ChairService:
        return self.chair.service


def chair_of(context: BoltContext) -> Chair:
    chair = context.get(_KEY)
    if not isinstance(chair, Chair):
        raise RuntimeError("the Chair middleware did not run for this request")
    return chair


def attach(chair: Chair) -> Callable[..., Any]:
    """Global middleware putting `chair` in every request's context."""

    def middleware(context: BoltContext, next: Callable[[], Any]) -> Any:  # noqa: A002
        context[_KEY] = chair
        return next()

    return middleware
