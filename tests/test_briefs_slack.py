"""Briefs through Slack: schedule with /emptychair, advance the clock, see the brief posted once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_scheduler
from bot.sandbox.stack import SandboxStack
from bot.schedule_spec import next_runs
from bot.slack.app import build_web_client
from bot.store.complaints import ComplaintStore
from tests.conftest import complaint

CHANNEL = "C0MEET"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = SandboxStack(tmp_path / "bot.db").start()
    now = datetime.now(UTC)
    rows = [complaint(f"D{i}", f"Parcel {i} arrived a week late again.", theme="delivery",
                      days_ago=0.2 + i * 0.3, now=now) for i in range(12)]
    rows += [complaint(f"R{i}", f"My refund number {i} took five weeks.", theme="refunds",
                       days_ago=8 + i, now=now) for i in range(4)]
    rows += [complaint("Q1", "The return window is too short, write me at jo@example.com",
                       theme="returns", days_ago=1, now=now)]
    ComplaintStore(s.components.store).add_many(rows)
    yield s
    s.stop()


def ephemeral(stack: SandboxStack, key: str, text: str) -> dict:
    url = stack.emulator.response_url_for(key)
    stack.driver.slash_command(text, channel=CHANNEL, user="U0ALICE", response_url=url)
    deadline = time.time() + 10
    while time.time() < deadline:
        posts = stack.emulator.response_posts(key)
        if posts:
            return posts[-1]
        time.sleep(0.05)
    raise AssertionError(f"no ephemeral answer to {text!r}: {stack.emulator.calls}")


def test_schedule_then_time_advances_posts_the_brief_once(stack: SandboxStack) -> None:
    emu = stack.emulator
    # An open challenge in the channel, so the brief has one to carry.
    stack.driver.slash_command("Cut the free returns window to 14 days", channel=CHANNEL)
    emu.wait_for("chat.postMessage", 2, timeout=10)
    time.sleep(0.3)

    answer = ephemeral(stack, "sched", "schedule weekdays 09:45")
    assert answer["text"].startswith("Scheduled brief #1: weekdays at 09:45 (Europe/Berlin)")
    listing = ephemeral(stack, "list", "schedules")
    assert "#1 · weekdays at 09:45 (Europe/Berlin) · next" in listing["text"]

    occurrence = next_runs("45 9 * * mon-fri", "Europe/Berlin", datetime.now(UTC), 1)[0]
    client = build_web_client(stack.components.settings)
    scheduler = build_scheduler(stack.components, client)
    before = len(emu.calls_to("chat.postMessage"))
    fired = scheduler.run_due(now=occurrence + timedelta(minutes=1))
    assert [sid for sid, _ in fired] == [1]
    # A second look at the same moment (a restart, another process) posts nothing more.
    again = build_scheduler(stack.components, client)
    assert again.run_due(now=occurrence + timedelta(minutes=2)) == []

    posts = emu.calls_to("chat.postMessage")[before:]
    parent, open_list = posts[0].params, posts[1].params
    assert "thread_ts" not in parent
    brief_text = json.dumps(parent["blocks"], ensure_ascii=False)
    assert "delivery" in brief_text and "jo@example.com" not in brief_text
    parent_ts = [m for m in emu.messages(CHANNEL) if m.get("blocks") == parent["blocks"]][0]["ts"]
    assert open_list["thread_ts"] == parent_ts
    assert "Still open from earlier discussions" in json.dumps(open_list["blocks"])
    # files_upload_v2: the three-step external upload, into the brief's thread, a real PNG.
    methods = [c.method for c in emu.calls]
    i = methods.index("files.getUploadURLExternal")
    assert methods[i:i + 3] == ["files.getUploadURLExternal", "upload",
                                "files.completeUploadExternal"]
    complete = emu.calls_to("files.completeUploadExternal")[0].params
    assert complete["channel_id"] == CHANNEL and complete["thread_ts"] == parent_ts
    (uploaded,) = emu.files.values()
    assert uploaded.content.startswith(PNG_MAGIC)
    rows = list(stack.components.store.conn.execute(
        "SELECT schedule_id, posted_ts FROM brief_runs"))
    assert rows == [(1, parent_ts)]

    removed = ephemeral(stack, "rm", "unschedule 1")
    assert removed["text"] == "Removed scheduled brief #1."


def test_brief_now_and_bad_schedules(stack: SandboxStack) -> None:
    emu = stack.emulator
    stack.driver.slash_command("brief", channel=CHANNEL)
    emu.wait_for("files.completeUploadExternal", 1, timeout=15)
    parent = emu.calls_to("chat.postMessage")[0].params
    assert "Customer brief" in json.dumps(parent["blocks"], ensure_ascii=False)
    deadline = time.time() + 10
    brief_rows: list[tuple[str]] = []
    while not brief_rows and time.time() < deadline:  # recorded right after the posts
        brief_rows = list(stack.components.store.conn.execute("SELECT channel_id FROM briefs"))
        time.sleep(0.05)
    assert brief_rows == [(CHANNEL,)]

    bad = ephemeral(stack, "bad", "schedule someday 25:00")
    assert "Example: weekdays 09:45" in bad["text"]  # the error carries an example
    bad_cron = ephemeral(stack, "badcron", 'schedule cron "61 9 * * 1-5"')
    assert bad_cron["response_type"] == "ephemeral"
    assert list(stack.components.store.conn.execute("SELECT count(*) FROM schedules")) == [(0,)]
