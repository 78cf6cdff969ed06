"""A watched feedback channel end to end: post, edit, delete, bots, the chair, private channels."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.stack import SandboxStack
from tests.test_slack_app import eventually, start_stack

FEEDBACK = "C0FEEDBACK"
SECRET = "C0VIP"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = start_stack(tmp_path)
    s.emulator.add_channel(SECRET, "vip-feedback", is_private=True,
                           members=["U0ALICE", "U0BOB"])
    yield s
    s.stop()


def command(stack: SandboxStack, text: str, channel: str) -> str:
    key = f"w{uuid.uuid4().hex}"
    url = stack.emulator.response_url_for(key)
    stack.driver.slash_command(text, channel=channel, user="U0ALICE", response_url=url)
    posts = eventually(lambda: stack.emulator.response_posts(key))
    assert posts, f"no reply to {text!r}"
    return str(posts[-1]["text"])


def rows(stack: SandboxStack) -> list[tuple]:
    return list(stack.components.store.conn.execute(
        "SELECT id, text, channel, source_ref, url, visible_in FROM complaints "
        # answers may run in any order; a message's id carries its ts, which orders them
        "WHERE source = 'slack' ORDER BY created_at, id"))


def test_a_watched_channel_turns_posts_into_complaints_edits_and_deletes_follow(
    stack: SandboxStack,
) -> None:
    driver = stack.driver
    before = driver.user_says(FEEDBACK, "U0BOB", "Customer: the app crashes at checkout",
                              mention=False)
    assert "From now on" in command(stack, "watch", FEEDBACK)
    assert "already watching" in command(stack, "watch", FEEDBACK)
    post = driver.user_says(FEEDBACK, "U0BOB", "Customer jo@example.com says the courier left "
                            "the parcel in the rain", mention=False)
    assert post.ts
    taken = eventually(lambda: rows(stack))
    assert len(taken) == 1  # the message from before the watch is not taken
    cid, text, channel, source_ref, url, visible_in = taken[0]
    assert cid == f"slack-{FEEDBACK}-{post.ts}"
    assert "jo@example.com" not in text and "courier left the parcel in the rain" in text
    assert (channel, source_ref, visible_in) == ("slack", FEEDBACK, "")
    assert url.endswith(f"/archives/{FEEDBACK}/p{post.ts.replace('.', '')}")
    assert before.ts and not any(before.ts in r[0] for r in rows(stack))

    driver.user_edits(FEEDBACK, post.ts, "Customer says the courier threw the parcel over "
                      "the fence")
    assert eventually(lambda: "threw the parcel" in rows(stack)[0][1])
    searched = stack.components.store.conn.execute(
        "SELECT count(*) FROM complaints_fts WHERE complaints_fts MATCH 'fence'").fetchone()
    assert searched == (1,)

    driver.user_deletes(FEEDBACK, post.ts)
    assert eventually(lambda: rows(stack) == [])


def test_bots_replies_attachments_and_the_chair_are_left_out(stack: SandboxStack) -> None:
    emu, driver = stack.emulator, stack.driver
    command(stack, "watch", FEEDBACK)
    driver.bot_posts(FEEDBACK, "Zapier: new survey response, the checkout is slow")
    # The chair's own message, as Slack delivers it to an app subscribed to message.channels.
    chair_ts = emu.post_user_message(FEEDBACK, "U0BOT", "The chair speaks about refunds")
    driver.event({"type": "message", "user": "U0BOT", "bot_id": "B0BOT", "text": "The chair "
                  "speaks about refunds", "ts": chair_ts, "channel": FEEDBACK,
                  "channel_type": "channel", "event_ts": chair_ts})
    parent = driver.user_says(FEEDBACK, "U0BOB", "Customer says refunds take six weeks now",
                              mention=False)
    driver.user_says(FEEDBACK, "U0CAROL", "Same from another customer in the thread",
                     thread_ts=parent.ts, mention=False)
    ts = emu.post_user_message(FEEDBACK, "U0CAROL", "See the attached survey")
    driver.event({"type": "message", "user": "U0CAROL", "text": "See the attached survey",
                  "ts": ts, "channel": FEEDBACK, "channel_type": "channel", "event_ts": ts,
                  "attachments": [{"text": "Secret survey body about the checkout"}]})
    taken = eventually(lambda: len(rows(stack)) >= 2 and rows(stack))
    time.sleep(0.5)  # any (wrong) extra complaint has had time to arrive
    texts = [r[1] for r in rows(stack)]
    assert texts == ["Customer says refunds take six weeks now", "See the attached survey"], taken


def test_a_private_channel_complaint_is_quoted_only_there(stack: SandboxStack) -> None:
    emu, driver = stack.emulator, stack.driver
    reply = command(stack, "watch", SECRET)
    assert "only in this channel" in reply
    driver.user_says(SECRET, "U0BOB", "Our biggest customer says the bulk refund portal is "
                     "broken and the refund never arrived", mention=False)
    taken = eventually(lambda: rows(stack))
    assert taken[0][5] == SECRET
    for channel in ("C0MEET", SECRET):
        driver.slash_command("Change the bulk refund portal for big customers",
                             channel=channel)

    def answers(channel: str) -> list[dict]:
        return [m for m in emu.messages(channel) if m.get("bot_id") and m.get("thread_ts")
                and m.get("thread_ts") != m.get("ts")]

    assert eventually(lambda: answers("C0MEET") and answers(SECRET))
    meet, secret = json.dumps(answers("C0MEET")), json.dumps(answers(SECRET))
    assert taken[0][0] not in meet and "never arrived" not in meet
    assert taken[0][0] in secret and "never arrived" in secret


def test_watch_says_so_when_the_bot_is_not_in_the_channel(stack: SandboxStack) -> None:
    for channel in ("C0RANDOM", "C0PRIVATE"):
        reply = command(stack, "watch", channel)
        assert "I'm not a member" in reply and "/invite @Empty Chair" in reply
    assert "I'm not watching this channel" in command(stack, "watching", "C0MEET")
    command(stack, "watch", FEEDBACK)
    command(stack, "watch", SECRET)
    listing = command(stack, "watching", "C0MEET")
    assert f"<#{FEEDBACK}>" in listing and SECRET not in listing  # private ones stay private
    assert "stopped watching" in command(stack, "unwatch", FEEDBACK)
    assert "wasn't watching" in command(stack, "unwatch", FEEDBACK)
    stack.driver.user_says(FEEDBACK, "U0BOB", "Customer says the app logs them out", mention=False)
    time.sleep(0.5)
    assert rows(stack) == []
