"""The terminal sandbox and the demo: typed lines reach the real bot, replies come back readable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bot.sandbox.repl import run_demo, run_repl
from bot.sandbox.stack import SandboxStack


def scripted(lines: list[str]) -> Iterator[str]:
    yield from lines


def test_repl_round_trip_on_sample_data(tmp_path: Path) -> None:
    out: list[str] = []
    typed = scripted([
        "/emptychair Cut the free-returns window from 30 to 14 days",
        ":click 1 up",
        "/emptychair help",
        ":quit",
    ])
    with SandboxStack(tmp_path / "s.db", load_sample=True) as stack:
        run_repl(stack, read=lambda prompt: next(typed), out=out.append)
        votes = list(stack.components.store.conn.execute("SELECT user_id, vote FROM votes"))
    text = "\n".join(out)
    assert "@alice asked the empty chair about:" in text
    assert "The customer in the empty chair asks" in text
    assert "[Addressed] [Not relevant] [👍] [👎]" in text
    assert "`SC-" in text  # citations of sample complaints
    assert "(only visible to alice)" in text
    assert votes == [("U0ALICE", "up")]


def test_demo_script_shows_grounded_answers(tmp_path: Path) -> None:
    out: list[str] = []
    with SandboxStack(tmp_path / "d.db", load_sample=True) as stack:
        run_demo(stack, out=out.append)
    text = "\n".join(out)
    assert text.count("The customer in the empty chair asks") == 2  # slash command + mention
    assert "No customer signal on this in the last 90 days" in text
    assert "Logged as complaint `slack-" in text
    assert "<!channel>" not in text and "@channel" not in text
