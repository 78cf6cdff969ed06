"""The command table, the complaint modal, mentions, DMs and the assistant panel, end to end."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.formatting import ACTION_ADDRESSED, ACTION_NOT_RELEVANT, ACTION_VOTE_DOWN, ACTION_VOTE_UP
from bot.formatting import view_button as citation_button
from bot.models import Complaint
from bot.sandbox.stack import SandboxStack
from bot.slack.commands import COMMANDS, help_lines, usage_hint
from bot.slack.handlers import VOTE_ACTIONS, VOTES
from bot.slack.manifest import MANIFEST_PATH
from bot.slack.views import CITATION_ACTION
from bot.store.complaints import ComplaintStore
from tests.test_slack_app import CHANNEL, PROPOSAL, eventually, start_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = start_stack(tmp_path)
    yield s
    s.stop()


def ephemeral(stack: SandboxStack, text: str, channel: str = CHANNEL,
              user: str = "U0ALICE") -> dict:
    key = f"k{uuid.uuid4().hex}"
    url = stack.emulator.response_url_for(key)
    stack.driver.slash_command(text, channel=channel, user=user, response_url=url)
    posts = eventually(lambda: stack.emulator.response_posts(key))
    assert posts, f"no reply to {text!r}"
    return posts[-1]


# ----------------------------------------------------------------------------- command table


def test_manifest_usage_hint_and_help_come_from_the_command_table(stack: SandboxStack) -> None:
    manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    (command,) = manifest["features"]["slash_commands"]
    assert command["usage_hint"] == usage_hint()
    for row in COMMANDS:
        assert (row.name or "<proposal>") in command["usage_hint"]
    answer = ephemeral(stack, "help")
    shown = answer["text"] + json.dumps(answer.get("blocks"), ensure_ascii=False)
    assert answer["response_type"] == "ephemeral"
    for usage, what in help_lines():
        assert f"/emptychair {usage}" in shown, usage
        assert what.split(" (")[0].replace('"', "") in shown.replace('\\"', ""), what
    assert "/emptychair calendar <ics-url>" in answer["text"]


def test_every_subcommand_in_the_table_is_dispatched(stack: SandboxStack) -> None:
    for row in COMMANDS:
        if row.name in ("", "brief"):
            continue
        answer = ephemeral(stack, row.name)
        assert "didn't understand" not in answer["text"], row.name
    stack.driver.slash_command("brief", channel=CHANNEL)  # posts in the channel, not privately
    stack.emulator.wait_for("chat.postMessage", 1, timeout=10)


def test_vote_words_are_the_formatting_action_ids() -> None:
    assert set(VOTES) == {ACTION_ADDRESSED, ACTION_NOT_RELEVANT, ACTION_VOTE_UP,
                          ACTION_VOTE_DOWN}
    assert all(VOTE_ACTIONS.match(a) for a in VOTES)
    assert not VOTE_ACTIONS.match(CITATION_ACTION)


def test_manifest_asks_for_exactly_the_events_and_scopes_it_uses() -> None:
    manifest = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == [
        "app_home_opened", "app_mention", "assistant_thread_started", "message.channels",
        "message.groups", "message.im"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"im:history", "assistant:write", "channels:history", "groups:history"} <= scopes
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["assistant_view"]["assistant_description"]


# ----------------------------------------------------------------------------- complaint modal


def add(stack: SandboxStack, *complaints: Complaint) -> None:
    ComplaintStore(stack.components.store).add_many(complaints)


def click_view(stack: SandboxStack, complaint_id: str, channel: str = CHANNEL) -> dict:
    emu = stack.emulator
    if channel not in ("C0MEET", "C0FEEDBACK"):
        emu.add_channel(channel, channel.lower(), is_private=True, members=["U0ALICE"])
    ts = emu.post_user_message(channel, "U0BOB", "citations", blocks=[
        {"type": "actions", "elements": [citation_button(complaint_id)]}])
    before = len(emu.calls_to("views.open"))
    resp = stack.driver.block_action(citation_button(complaint_id)["action_id"], complaint_id,
                                     channel, ts)
    assert resp.status == 200
    return emu.wait_for("views.open", before + 1)[-1].params


def test_view_opens_a_modal_with_the_full_redacted_complaint_and_its_link(
    stack: SandboxStack,
) -> None:
    from datetime import UTC, datetime

    long_text = ("My parcel never came and support never wrote back. " * 80).strip()
    add(stack, Complaint(id="T-1", created_at=datetime.now(UTC), text=long_text,
                         theme="delivery", url="https://help.example.com/tickets/1"))
    button = citation_button("T-1")
    assert button["action_id"].startswith(CITATION_ACTION) and button["value"] == "T-1"
    params = click_view(stack, "T-1")
    view = params["view"]
    assert view["type"] == "modal" and params["trigger_id"]
    shown = "".join(b["text"]["text"] for b in view["blocks"]
                    if b["type"] == "section")
    assert " ".join(shown.split()).count("My parcel never came") == 80
    assert "<https://help.example.com/tickets/1|Open the source>" in shown
    assert "`T-1`" in json.dumps(view)


def test_view_refuses_a_complaint_kept_to_another_private_conversation(
    stack: SandboxStack,
) -> None:
    from datetime import UTC, datetime

    add(stack, Complaint(id="P-1", created_at=datetime.now(UTC), channel="slack",
                         text="Leadership secret: the courier contract ends in May.",
                         visible_in="C0SECRET"))
    refused = json.dumps(click_view(stack, "P-1")["view"])
    assert "courier contract" not in refused and "not available here" in refused
    allowed = json.dumps(click_view(stack, "P-1", channel="C0SECRET")["view"])
    assert "courier contract" in allowed


# ----------------------------------------------------------------------------- mentions and DMs


def test_a_bare_mention_gets_a_short_private_hint(stack: SandboxStack) -> None:
    emu = stack.emulator
    resp = stack.driver.user_says(CHANNEL, "U0ALICE", "")
    note = emu.wait_for("chat.postEphemeral", 1)[0].params
    assert note["user"] == "U0ALICE" and "Tell me the proposal" in note["text"]
    assert len(note["text"]) < 300
    assert emu.calls_to("chat.postMessage") == []
    assert [m for m in emu.thread(CHANNEL, resp.ts or "") if m.get("bot_id")] == []


def test_a_dm_is_answered_in_the_dm(stack: SandboxStack) -> None:
    emu = stack.emulator
    dm = emu.dm_channel("U0ALICE")
    resp = stack.driver.user_dms("U0ALICE", PROPOSAL)
    answer = eventually(lambda: [m for m in emu.thread(dm, resp.ts or "")
                                 if m.get("bot_id") and m.get("blocks")])
    assert answer, emu.calls
    assert "answered by the offline writer" in json.dumps(answer[-1]["blocks"])
    assert emu.messages(CHANNEL) == []


def test_help_and_log_work_in_a_dm(stack: SandboxStack) -> None:
    emu = stack.emulator
    dm = emu.dm_channel("U0ALICE")
    stack.driver.user_dms("U0ALICE", "help")
    help_post = eventually(lambda: [m for m in emu.messages(dm) if m.get("bot_id")])
    assert "/emptychair watch" in help_post[-1]["text"]
    stack.driver.user_dms("U0ALICE", "log Customer says the courier threw the parcel over")
    logged = eventually(lambda: [m for m in emu.messages(dm) if "Logged as complaint"
                                 in m.get("text", "")])
    assert logged
    rows = list(stack.components.store.conn.execute(
        "SELECT visible_in FROM complaints WHERE text LIKE '%threw the parcel%'"))
    assert rows == [(dm,)]  # a DM's complaint is quotable only in that DM
    stack.driver.user_dms("U0ALICE", "watch")
    refused = eventually(lambda: [m for m in emu.messages(dm)
                                  if "works in a channel" in m.get("text", "")])
    assert refused


# ----------------------------------------------------------------------------- assistant panel


def test_assistant_thread_gets_suggested_prompts_then_an_answer(stack: SandboxStack) -> None:
    emu = stack.emulator
    thread_ts = "1700000000.000100"
    assert stack.driver.assistant_thread_started("U0ALICE", thread_ts=thread_ts).status == 200
    emu.wait_for("assistant.threads.setSuggestedPrompts", 1)
    dm = emu.dm_channel("U0ALICE")
    prompts = emu.suggested_prompts[(dm, thread_ts)]["prompts"]
    assert 1 <= len(prompts) <= 4 and all(p["title"] and p["message"] for p in prompts)
    stack.driver.user_dms("U0ALICE", PROPOSAL, thread_ts=thread_ts)
    answer = eventually(lambda: [m for m in emu.thread(dm, thread_ts)
                                 if m.get("bot_id") and m.get("blocks")])
    assert answer, emu.calls
    assert "answered by the offline writer" in json.dumps(answer[-1]["blocks"])
    assert emu.assistant_titles[(dm, thread_ts)].startswith("Cut the free-returns")
