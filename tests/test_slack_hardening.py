"""Hardening of the HTTP front door, replays, button values and seen-event pruning (issue 11)."""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from bot.sandbox.driver import FORM, JSON, sign
from bot.sandbox.stack import SIGNING_SECRET, SandboxStack
from bot.store.complaints import to_iso
from bot.store.events import EventLog
from bot.store.feedback import FeedbackStore
from tests.test_slack_app import CHANNEL, PROPOSAL, eventually, start_stack, thread_replies


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = start_stack(tmp_path, EMPTYCHAIR_MAX_BODY_BYTES=64 * 1024)
    yield s
    s.stop()


def raw_post(url: str, headers: dict[str, str], body: bytes | Iterable[bytes] = b"",
             *, chunked: bool = False) -> tuple[int, str]:
    """POST with exactly these headers. With `chunked`, `body` is sent as it is given: the
    caller frames it (see chunk()), so it can stop short of a terminating chunk."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest("POST", parts.path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value.encode("utf-8"))  # raw bytes: odd values pass as sent
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        elif isinstance(body, bytes) and "Content-Length" not in headers:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        for part in [body] if isinstance(body, bytes) else body:
            conn.send(part)
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def signed_headers(body: bytes, content_type: str = FORM, ts: str | None = None
                   ) -> dict[str, str]:
    ts = ts or str(int(time.time()))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, body)}


def command_body(text: str = PROPOSAL, user: str = "U0ALICE", response_url: str = "") -> bytes:
    return urlencode({"command": "/emptychair", "text": text, "channel_id": CHANNEL,
                      "user_id": user, "team_id": "T0001", "response_url": response_url,
                      "trigger_id": "1.2.abc"}).encode()


def parents(stack: SandboxStack) -> list[dict]:
    return [m for m in stack.emulator.messages(CHANNEL)
            if m.get("bot_id") and m.get("thread_ts") in (None, m.get("ts"))]


# ----------------------------------------------------------------------------- 1. the front door


def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(stack: SandboxStack) -> None:
    """Only the headers are sent: a server that waited for the announced body would hang."""
    body_len = 100 * 1024 * 1024
    status, _ = raw_post(stack.http.url, {"Content-Type": JSON, "Content-Length": str(body_len),
                                          "X-Slack-Request-Timestamp": str(int(time.time())),
                                          "X-Slack-Signature": "v0=" + "0" * 64})
    assert status == 413
    assert stack.driver.slash_command("help").status == 200  # the server is still serving


def test_a_chunked_body_is_read_up_to_the_limit_and_no_further(stack: SandboxStack) -> None:
    """The limit is 64 KiB: eight 8 KiB chunks are read, and the size line of a ninth is
    answered with 413 before its data is sent (so the client can read the answer)."""
    big = b"x" * 8192
    headers = signed_headers(big * 9, JSON)
    assert raw_post(stack.http.url, headers, [chunk(big)] * 8 + [b"1\r\n"], chunked=True
                    )[0] == 413
    assert raw_post(stack.http.url, headers, [b"%x\r\n" % (100 * 1024 * 1024)], chunked=True
                    )[0] == 413
    # A signed chunked command within the limit is served like any other.
    url = stack.emulator.response_url_for("chunked", channel=CHANNEL, user="U0ALICE")
    body = command_body("help", response_url=url)
    status, _ = raw_post(stack.http.url, signed_headers(body),
                         [chunk(body[:10]), chunk(body[10:]), b"0\r\n\r\n"], chunked=True)
    assert status == 200
    assert stack.emulator.wait_for("response_url", 1)[0].params["response_type"] == "ephemeral"


@pytest.mark.parametrize("timestamp", [None, "", "abc", "1e9", "12 34", "١٧٠٠٠٠٠٠٠٠"])
def test_a_missing_or_non_numeric_timestamp_is_401(
    stack: SandboxStack, timestamp: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = command_body()
    headers = {"Content-Type": FORM, "X-Slack-Signature": sign(SIGNING_SECRET, "1", body)}
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    status, _ = raw_post(stack.http.url, headers, body)
    assert status == 401
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert stack.emulator.calls_to("chat.postMessage") == []


MALFORMED = [
    (b"{not json", JSON),
    (b"[1, 2, 3]", JSON),
    (b'"just a string"', JSON),
    (b"\xff\xfe\x00garbage", FORM),
    (b"payload=%7Bbroken", FORM),
    (b"payload=%5B1%5D", FORM),
    (b'{"type": "event_callback", "event": "x", "team_id": 5}', JSON),
    (b'{"type": "block_actions", "actions": "x", "team": "T", "user": "U"}', JSON),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_a_malformed_signed_payload_is_400_with_one_log_line(
    stack: SandboxStack, body: bytes, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, _ = raw_post(stack.http.url, signed_headers(body, content_type), body)
    time.sleep(0.2)
    assert status == 400
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    refused = [r for r in caplog.records if "malformed" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING
    assert stack.emulator.calls_to("chat.postMessage") == []


def test_a_malformed_unsigned_payload_is_401_not_400(stack: SandboxStack) -> None:
    body = b"{not json"
    headers = signed_headers(body, JSON)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert raw_post(stack.http.url, headers, body)[0] == 401


def test_the_server_binds_where_it_is_told(stack: SandboxStack) -> None:
    assert stack.http.server.server_address[0] == "127.0.0.1"
    assert stack.http.url.startswith("http://127.0.0.1:")


# ----------------------------------------------------------------------------- 5. replays


def test_the_same_signed_request_is_served_once(stack: SandboxStack) -> None:
    first = stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0ALICE")
    captured = stack.driver.last_request
    assert first.status == 200 and captured is not None
    stack.emulator.wait_for("chat.postMessage", 2, timeout=10)
    replays = [stack.driver.resend(captured) for _ in range(3)]
    assert [(r.status, r.body) for r in replays] == [(200, "")] * 3
    time.sleep(1.0)  # give any (wrong) second answer time to appear
    assert len(parents(stack)) == 1
    assert len(stack.emulator.calls_to("chat.postMessage")) == 2
    rows = list(stack.components.store.conn.execute(
        "SELECT signature, request_ts FROM seen_requests"))
    assert rows == [(captured.headers["X-Slack-Signature"],
                     int(captured.headers["X-Slack-Request-Timestamp"]))]


def test_the_same_proposal_from_the_same_user_is_answered_once_with_a_note(
    stack: SandboxStack,
) -> None:
    emu = stack.emulator
    stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0ALICE")
    emu.wait_for("chat.postMessage", 2, timeout=10)
    first_parent = parents(stack)[0]["ts"]
    url = emu.response_url_for("again", channel=CHANNEL, user="U0ALICE")
    again = stack.driver.slash_command("  cut the FREE-returns window from 30 to 14   days",
                                       channel=CHANNEL, user="U0ALICE", response_url=url)
    assert again.status == 200
    note = emu.wait_for("response_url", 1)[0].params
    assert note["response_type"] == "ephemeral"
    assert "just answered" in note["text"]
    assert f"/archives/{CHANNEL}/p{first_parent.replace('.', '')}" in note["text"]
    time.sleep(1.0)
    assert [p["ts"] for p in parents(stack)] == [first_parent]
    # Someone else asking the same thing is a different question: they get their own answer.
    stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0BOB")
    emu.wait_for("chat.postMessage", 4, timeout=10)
    assert len(parents(stack)) == 2


def test_the_same_mention_under_new_event_ids_is_answered_once(stack: SandboxStack) -> None:
    emu = stack.emulator
    text = "<@U0BOT> should we cut the free returns window to 14 days?"
    ts = emu.post_user_message(CHANNEL, "U0ALICE", text)
    event = {"type": "app_mention", "user": "U0ALICE", "text": text, "ts": ts,
             "channel": CHANNEL, "event_ts": ts}
    for n in range(3):
        assert stack.driver.event(event, event_id=f"Ev0NEW{n}").status == 200
    answers = eventually(lambda: [m for m in thread_replies(stack, ts)
                                  if m.get("bot_id") and m.get("blocks")])
    assert len(answers) == 1
    # The same words in a new message a moment later: a note, not a second answer.
    again = stack.driver.user_says(CHANNEL, "U0ALICE", "should we cut the free returns window "
                                   "to 14 days?")
    notes = emu.wait_for("chat.postEphemeral", 1)
    time.sleep(1.0)
    answers = [m for m in emu.messages(CHANNEL) if m.get("bot_id") and m.get("blocks")]
    assert len(answers) == 1
    assert len(emu.calls_to("chat.postEphemeral")) == 1
    assert notes[0].params["user"] == "U0ALICE"
    assert "just answered" in notes[0].params["text"]
    assert f"p{ts.replace('.', '')}" in notes[0].params["text"]
    assert [m for m in thread_replies(stack, again.ts or "") if m.get("bot_id")] == []


def test_an_answer_that_could_not_be_posted_can_be_asked_again(stack: SandboxStack) -> None:
    """Not in the channel: after inviting the bot the user asks again at once, and is not
    told it was "just answered"."""
    emu = stack.emulator
    for n, key in enumerate(("one", "two"), start=1):
        stack.driver.slash_command(PROPOSAL, channel="C0PRIVATE",
                                   response_url=emu.response_url_for(key))
        hint = emu.wait_for("response_url", n)[-1].params
        assert "/invite @Empty Chair" in hint["text"]


def test_the_duplicate_window_is_a_setting(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, EMPTYCHAIR_DUPLICATE_WINDOW_SECONDS=0)
    try:
        for _ in range(2):
            stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0ALICE")
        stack.emulator.wait_for("chat.postMessage", 4, timeout=15)
        assert len(parents(stack)) == 2
    finally:
        stack.stop()


# ----------------------------------------------------------------------------- 8. button values


def answered(stack: SandboxStack) -> str:
    stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0ALICE")
    reply = stack.emulator.wait_for("chat.postMessage", 2, timeout=10)[1]
    reply_ts = [m for m in stack.emulator.messages(CHANNEL)
                if m.get("blocks") == reply.params["blocks"]][0]["ts"]
    eventually(lambda: FeedbackStore(stack.components.store).open_challenges([CHANNEL]))
    return reply_ts


@pytest.mark.parametrize("value", ["999", "-5", "abc", "0", "", "1.0", "9" * 5000, " 1"])
def test_a_button_value_that_matches_no_challenge_is_refused(
    stack: SandboxStack, value: str, caplog: pytest.LogCaptureFixture
) -> None:
    reply_ts = answered(stack)
    resp = stack.driver.block_action("chair_vote_up", value, CHANNEL, reply_ts, user="U0BOB")
    assert resp.status == 200
    note = stack.emulator.wait_for("chat.postEphemeral", 1)[0].params
    assert note["user"] == "U0BOB" and "no longer valid" in note["text"]
    assert list(stack.components.store.conn.execute("SELECT * FROM votes")) == []
    assert not [r for r in caplog.records if r.exc_info]


def test_a_button_on_a_message_without_challenges_is_refused(stack: SandboxStack) -> None:
    answered(stack)
    parent_ts = parents(stack)[0]["ts"]
    stack.driver.block_action("chair_addressed", "1", CHANNEL, parent_ts, user="U0BOB")
    note = stack.emulator.wait_for("chat.postEphemeral", 1)[0].params
    assert "no longer valid" in note["text"]
    assert list(stack.components.store.conn.execute("SELECT * FROM votes")) == []
    statuses = list(stack.components.store.conn.execute("SELECT DISTINCT status FROM challenges"))
    assert statuses == [("open",)]


def test_a_valid_button_still_votes(stack: SandboxStack) -> None:
    reply_ts = answered(stack)
    stack.driver.block_action("chair_vote_up", "1", CHANNEL, reply_ts, user="U0BOB")
    stack.emulator.wait_for("chat.postEphemeral", 1)
    assert FeedbackStore(stack.components.store).votes(CHANNEL, reply_ts) == [(1, "U0BOB", "up")]


# ----------------------------------------------------------------------------- 10. pruning


def test_seen_events_are_pruned_to_the_last_week(stack: SandboxStack) -> None:
    """Events arrive over HTTP, some are aged, one prune leaves exactly the recent rows."""
    for n in range(4):
        assert stack.driver.app_home_opened("U0ALICE").status == 200
        stack.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "messages",
                            "channel": "D0ALICE", "event_ts": "1.0"}, event_id=f"Ev0AGE{n}")
    conn = stack.components.store.conn
    # deliveries are claimed by the listener's own thread, after the ack
    assert eventually(lambda: conn.execute("SELECT count(*) FROM seen_events").fetchone()[0]
                      == 8)
    now = datetime.now(UTC)
    ages = {"Ev0AGE0": 30, "Ev0AGE1": 8, "Ev0AGE2": 6, "Ev0AGE3": 0}
    with conn:
        for event_id, days in ages.items():
            conn.execute("UPDATE seen_events SET seen_at = ? WHERE event_id = ?",
                         [to_iso(now - timedelta(days=days)), event_id])
    before = {r[0] for r in conn.execute("SELECT event_id FROM seen_events")}
    assert len(before) == 8 and set(ages) <= before
    removed = EventLog(stack.components.store).prune_all(now=now)
    left = {r[0] for r in conn.execute("SELECT event_id FROM seen_events")}
    assert left == before - {"Ev0AGE0", "Ev0AGE1"}
    assert removed["seen_events"] == 2
    # A pruned id is new again; a kept one is still a duplicate.
    assert EventLog(stack.components.store).claim("Ev0AGE1") is True
    assert EventLog(stack.components.store).claim("Ev0AGE2") is False


def test_request_signatures_and_recent_asks_are_pruned_too(stack: SandboxStack) -> None:
    stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0ALICE")
    stack.emulator.wait_for("chat.postMessage", 2, timeout=10)
    conn = stack.components.store.conn
    assert conn.execute("SELECT COUNT(*) FROM seen_requests").fetchone() == (1,)
    assert conn.execute("SELECT COUNT(*) FROM recent_asks").fetchone() == (1,)
    log = EventLog(stack.components.store)
    assert log.prune_all(now=datetime.now(UTC)) == {"seen_events": 0, "seen_requests": 0,
                                                     "recent_asks": 0}
    later = datetime.now(UTC) + timedelta(days=2)
    assert log.prune_all(now=later) == {"seen_events": 0, "seen_requests": 1, "recent_asks": 1}
    assert conn.execute("SELECT COUNT(*) FROM seen_requests").fetchone() == (0,)


def test_the_service_prunes_for_the_scheduler(stack: SandboxStack) -> None:
    stack.driver.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "messages",
                        "channel": "D0ALICE", "event_ts": "1.0"}, event_id="Ev0OLD")
    conn = stack.components.store.conn
    assert eventually(lambda: conn.execute("SELECT count(*) FROM seen_events").fetchone()[0]
                      == 1)
    with conn:
        conn.execute("UPDATE seen_events SET seen_at = ?",
                     [to_iso(datetime.now(UTC) - timedelta(days=9))])
    counts = stack.components.service.prune_seen()
    assert counts["seen_events"] == 1
    assert list(conn.execute("SELECT event_id FROM seen_events")) == []
