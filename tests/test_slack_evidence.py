"""The one-screen answer in Slack and its "Full evidence" modal, end to end."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.formatting import ACTION_EVIDENCE
from bot.sandbox.stack import SandboxStack
from tests.test_slack_app import CHANNEL, PROPOSAL, eventually, start_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    s = start_stack(tmp_path)
    yield s
    s.stop()


def test_full_evidence_opens_every_fact_and_citation_of_that_answer(stack: SandboxStack) -> None:
    stack.driver.slash_command(PROPOSAL, channel=CHANNEL, user="U0ALICE")
    reply = stack.emulator.wait_for("chat.postMessage", 2, timeout=20)[1].params
    blocks = reply["blocks"]
    shown = " ".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert re.match(r"^(🛑|🟠|✅) \*(Rethink|Proceed with guardrails|Proceed)\* — ", shown)
    assert len(re.findall(r"[\w’'%.,$-]*\w", shown)) <= 190
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in buttons].count(ACTION_EVIDENCE) == 1
    view_buttons = [e for e in buttons if e["action_id"].startswith("chair_view_complaint:")]
    assert view_buttons, "the lead citation can be read in full"

    rows = eventually(lambda: list(stack.components.store.conn.execute(
        "SELECT channel_id, message_ts FROM answers")))
    assert len(rows) == 1
    channel, message_ts = rows[0]
    before = len(stack.emulator.calls_to("views.open"))
    resp = stack.driver.block_action(ACTION_EVIDENCE, "all", channel, message_ts)
    assert resp.status == 200
    view = stack.emulator.wait_for("views.open", before + 1)[-1].params["view"]
    text = json.dumps(view, ensure_ascii=False)
    assert view["title"]["text"] == "Full evidence"
    assert "*Evidence:*" in text and "*Metric:*" in text and "📊" in text
    answer = stack.components.service.posted_answer(channel, message_ts)
    assert answer is not None
    for citation in answer.citations:
        assert f"`{citation.id}`" in text


def test_full_evidence_on_an_unknown_message_says_the_button_is_stale(
    stack: SandboxStack,
) -> None:
    ts = stack.emulator.post_user_message(CHANNEL, "U0BOB", "old answer", blocks=[
        {"type": "actions", "elements": [{"type": "button", "action_id": ACTION_EVIDENCE,
                                          "value": "all",
                                          "text": {"type": "plain_text", "text": "Full"}}]}])
    stack.driver.block_action(ACTION_EVIDENCE, "all", CHANNEL, ts)
    posted = stack.emulator.wait_for("chat.postEphemeral", 1)[-1].params
    assert "no longer valid" in posted["text"]
    assert not stack.emulator.calls_to("views.open")
