"""Composition root: the only place that builds concrete objects and wires them together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.retrieval import Retriever
from bot.store.db import Store

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.embedding import Embedder
    from bot.llm import LLMClient
    from bot.models import Schedule
    from bot.scheduler import BriefScheduler
    from bot.service import ChairService

log = logging.getLogger(__name__)


def build_store(settings: Settings, db: Path | None = None, *, create: bool = True) -> Store:
    """The database; `create=False` (commands that only read) refuses a path with no file."""
    return Store(db or settings.db_path, create=create)


def build_embedder(settings: Settings) -> Embedder | None:
    if not settings.semantic:
        return None
    from bot.embedding import load_embedder

    return load_embedder()


def build_retriever(settings: Settings, store: Store) -> Retriever:
    return Retriever(store, build_embedder(settings), window_days=settings.window_days)


def build_llm(settings: Settings) -> LLMClient | None:
    from bot.llm import build_llm as make

    return make(settings)


@dataclass
class Components:
    settings: Settings
    store: Store
    retriever: Retriever
    service: ChairService


def build_components(
    settings: Settings, db: Path | None = None, *, create: bool = True
) -> Components:
    from bot.prompts import PromptLibrary
    from bot.service import ChairService

    store = build_store(settings, db, create=create)
    retriever = build_retriever(settings, store)
    service = ChairService(
        store=store,
        retriever=retriever,
        llm=build_llm(settings),
        prompts=PromptLibrary(settings.prompts_dir),
        window_days=settings.window_days,
        token_budget=settings.prompt_token_budget,
    )
    return Components(settings, store, retriever, service)


def build_slack_app(
    components: Components,
    client: WebClient | None = None,
    on_schedules_changed: Callable[[], None] | None = None,
) -> App:
    """The Bolt app with every listener, talking to Slack (or the sandbox, via the base URL)."""
    from bot.slack.app import build_bolt_app

    return build_bolt_app(components.settings, components.service, client,
                          on_schedules_changed=on_schedules_changed)


def build_scheduler(
    components: Components, client: WebClient, clock: Callable[[], datetime] | None = None
) -> BriefScheduler:
    """Scheduled briefs, posted through `client` (Slack's or the sandbox's)."""
    from bot.calendar_feed import AllowList, CalendarCache, FeedFetcher
    from bot.scheduler import BriefScheduler
    from bot.slack.briefs import post_brief

    def post(schedule: Schedule, occurrence: datetime) -> str:
        return post_brief(client, components.service, schedule.channel_id)

    feeds = FeedFetcher(AllowList.parse(components.settings.calendar_allow_hosts))
    return BriefScheduler(components.store, post, clock=clock,
                          timezone=components.settings.timezone,
                          calendars=CalendarCache(feeds, clock=clock))


def health(components: Components) -> dict[str, object]:
    """What /healthz reports: the store answers and how fresh it is."""
    from bot.store.complaints import ComplaintStore

    complaints = ComplaintStore(components.store)
    newest = complaints.newest()
    return {"complaints": complaints.count(), "newest": newest.isoformat() if newest else None}
