"""Watched channels: which messages become complaints, by the message's own time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import DEFAULT_PROMPTS
from bot.prompts import PromptLibrary
from bot.retrieval import Retriever
from bot.service import ChairService
from bot.store.db import Store

STARTED = datetime(2026, 3, 2, 9, 30, 15, 400_000, tzinfo=UTC)
CHANNEL = "C0FEEDBACK"


def service(store: Store) -> ChairService:
    return ChairService(store=store, retriever=Retriever(store), llm=None,
                        prompts=PromptLibrary(DEFAULT_PROMPTS), window_days=90,
                        clock=lambda: STARTED)


def ts(moment: datetime) -> str:
    return f"{moment.timestamp():.6f}"


def test_a_message_posted_before_the_watch_is_not_taken_even_when_its_event_comes_late(
    store: Store,
) -> None:
    chair = service(store)
    assert chair.watch(CHANNEL, user_id="U0ALICE", private=False)
    # the same second as the watch, 0.3 s earlier: its event arrived after the watch began
    early = STARTED - timedelta(milliseconds=300)
    assert chair.take_watched_message(CHANNEL, ts(early), "the app crashes at checkout",
                                      url="") is None
    late = STARTED + timedelta(milliseconds=300)
    taken = chair.take_watched_message(CHANNEL, ts(late), "the courier left it in the rain",
                                       url="")
    assert taken is not None
    rows = store.conn.execute("SELECT id, text FROM complaints").fetchall()
    assert rows == [(f"slack-{CHANNEL}-{ts(late)}", "the courier left it in the rain")]
