"""Faults and abuse: huge or hostile Slack input, a misbehaving LLM, a busy or killed store, PII."""

from __future__ import annotations

import csv
import json
import logging
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.importer import run_import
from bot.redact import contains_pii
from bot.retrieval import Retriever
from bot.sandbox.driver import FORM, sign
from bot.sandbox.emulator import RecordedCall
from bot.sandbox.fake_llm import FakeLLMServer, Reply
from bot.sandbox.stack import SIGNING_SECRET, SandboxStack
from bot.store.complaints import ComplaintStore
from bot.store.db import Store
from tests.conftest import complaint
from tests.test_cli import subprocess_env
from tests.test_slack_app import (
    CHANNEL,
    FORBIDDEN,
    PROPOSAL,
    all_recorded_text,
    eventually,
    start_stack,
    thread_replies,
)

# No SDK retries unless a test wants them; a timeout generous for a local answer on a busy
# machine (the timeout test lowers it).
FAST_LLM: dict[str, object] = {"EMPTYCHAIR_LLM_TIMEOUT": 5, "EMPTYCHAIR_LLM_RETRIES": 0,
                               "EMPTYCHAIR_MODEL": "fault-model"}
OFFLINE_MARK = "answered by the offline writer"
FAILURE_TEXT = ("Something went wrong", "Traceback", "Exception")
# Posted text may keep \n; any other C0 control (\t included) is junk or an attack.
C0_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f]")


# ------------------------------------------------------------------------------------- helpers


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


def retrieved_ids(body: dict[str, Any]) -> list[str]:
    """The complaint ids the service put in the prompt (one JSON object per line)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    ids = []
    for line in str(user).splitlines():
        if line.startswith("{"):
            try:
                ids.append(str(json.loads(line)["id"]))
            except (ValueError, KeyError):
                continue
    return ids


def draft(question: str, ids: list[str], **extra: str) -> dict[str, Any]:
    return {"challenges": [{
        "question": question, "why_it_matters": extra.get("why", "The cited customers say so."),
        "severity": "high", "complaint_ids": ids,
        "what_would_answer_it": extra.get("answer", "Data on the customers affected."),
    }]}


def citing_first(question: str = "What happens to me when I miss the shorter window?"
                 ) -> Callable[[dict[str, Any]], Reply]:
    """A well-behaved model: one challenge citing the first retrieved complaint."""
    def respond(body: dict[str, Any]) -> Reply:
        return Reply(content=draft(question, retrieved_ids(body)[:1]))
    return respond


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def shown_text(call: RecordedCall) -> list[str]:
    """Every string a user could see from this call (text, blocks, stream chunks …)."""
    keys = ("text", "blocks", "markdown_text", "chunks", "attachments", "view")
    return [s for k in keys if k in call.params for s in strings(call.params[k])]


def context_lines(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(e.get("text", "") for b in blocks if b.get("type") == "context"
                     for e in b.get("elements", []))


def slash_answer(stack: SandboxStack, timeout: float = 15) -> dict[str, Any]:
    """The threaded answer to a /emptychair proposal (the second chat.postMessage)."""
    calls = stack.emulator.wait_for("chat.postMessage", 2, timeout=timeout)
    parent, answer = calls[0].params, calls[1].params
    assert "thread_ts" not in parent
    parent_msg = stack.emulator.message(CHANNEL, answer["thread_ts"])
    assert parent_msg is not None and parent_msg.get("bot_id"), "answer is not in the thread"
    return answer


def thread_answer(stack: SandboxStack, thread_ts: str, timeout: float = 15) -> dict[str, Any]:
    found = eventually(lambda: [m for m in thread_replies(stack, thread_ts)
                                if m.get("bot_id") and m.get("blocks")], timeout)
    assert found, [c.method for c in stack.emulator.calls]
    return found[-1]


def assert_no_failure_shown(stack: SandboxStack) -> None:
    for call in stack.emulator.calls:
        for text in shown_text(call):
            for bad in FAILURE_TEXT:
                assert bad not in text, (call.method, text[:300])


def assert_no_exception_logged(caplog: pytest.LogCaptureFixture) -> None:
    crashed = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert not crashed, [r.getMessage() for r in crashed]


def assert_within_slack_limits(call: RecordedCall) -> None:
    params = call.params
    assert len(params.get("text") or "") <= 40_000
    blocks = params.get("blocks") or []
    assert len(blocks) <= 50
    for block in blocks:
        if block.get("type") == "section":
            assert len(block["text"]["text"]) <= 3000
        for element in block.get("elements", []):
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                assert len(element["text"]) <= 3000


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "created_at", "text", "theme"])
        writer.writerows(rows)
    return path


WORDS = ("parcel", "refund", "return", "window", "courier", "late", "broken", "support", "phone",
         "checkout", "label", "printer", "coat", "shoes", "exchange", "voucher", "weekend",
         "driver", "neighbour")


def generated_rows(n: int, prefix: str = "G") -> list[list[str]]:
    """`n` complaints; row i carries the unique word `marker{i}` (for FTS checks), filler words
    and, one row in 25, words a proposal about returns or parcels would match."""
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        filler = " ".join(f"w{(i * 31 + k * 977) % 9973}" for k in range(12))
        topic = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(4)) if i % 25 == 0 else ""
        rows.append([f"{prefix}{i:07d}", (now - timedelta(minutes=i)).isoformat(),
                     f"marker{i} {filler} {topic}".rstrip() + ".",
                     ("returns", "delivery", "support")[i % 3]])
    return rows


# ----------------------------------------------------------------------------------- Slack input


def test_40k_character_proposal_stays_within_slack_limits(
    tmp_path: Path, fake_llm: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.responder = citing_first()
    sentence = "Cut the free-returns window from 30 to 14 days because the refund costs hurt. "
    hostile = "🙂👩🏽‍💻" * 500 + "x" * 5000 + " <!channel> & <b>bold</b> " * 100
    proposal = (sentence * 300 + hostile + sentence * 300)[:40_000]
    assert len(proposal) == 40_000
    stack = start_stack(tmp_path, fake_llm.base_url, **FAST_LLM)
    try:
        stack.driver.slash_command(proposal)
        answer = slash_answer(stack)
        assert "The customer in the empty chair asks" in json.dumps(answer["blocks"])
        for call in stack.emulator.calls_to("chat.postMessage"):
            assert_within_slack_limits(call)
        assert len(fake_llm.requests) == 1
        assert len(json.dumps(fake_llm.requests[0], ensure_ascii=False)) < 50_000
        assert_no_failure_shown(stack)
        assert_no_exception_logged(caplog)
    finally:
        stack.stop()


def long_thread(stack: SandboxStack, replies: int = 2000) -> tuple[str, int]:
    """A thread of `replies` human replies; returns its ts and how many characters it holds."""
    emu = stack.emulator
    parent = emu.post_user_message(CHANNEL, "U0BOB", "Proposal: cut the free returns window "
                                   "from 30 to 14 days to save on logistics")
    for i in range(replies):
        emu.post_user_message(CHANNEL, ("U0BOB", "U0CAROL")[i % 2],
                              f"Reply {i:04d}: customers will ask about the refund and the "
                              "return label if the window gets shorter", thread_ts=parent)
    return parent, sum(len(m.get("text", "")) for m in emu.thread(CHANNEL, parent))


def test_mention_in_a_2000_reply_thread_pages_and_keeps_the_prompt_bounded(
    tmp_path: Path, fake_llm: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake_llm.responder = citing_first()
    stack = start_stack(tmp_path, fake_llm.base_url, **FAST_LLM)
    try:
        parent, thread_chars = long_thread(stack)
        stack.driver.user_says(CHANNEL, "U0ALICE", "what would customers say?", thread_ts=parent)
        answer = thread_answer(stack, parent)
        assert "answered by the LLM (fault-model)" in context_lines(answer["blocks"])

        pages = stack.emulator.calls_to("conversations.replies")
        assert len(pages) >= 3
        assert all(p.params["ts"] == parent and p.params["channel"] == CHANNEL for p in pages)
        cursors = [p.params.get("cursor") for p in pages[1:]]
        assert all(cursors) and len(set(cursors)) == len(cursors)

        assert len(fake_llm.requests) == 1
        prompt = json.dumps(fake_llm.requests[0], ensure_ascii=False)
        assert len(prompt) < 50_000 < thread_chars
        assert "cut the free returns window" in prompt
        assert "Reply 0005" not in prompt  # the oldest replies give way
        assert_no_failure_shown(stack)
        assert_no_exception_logged(caplog)
    finally:
        stack.stop()


def test_long_thread_context_keeps_the_newest_replies(
    tmp_path: Path, fake_llm: FakeLLMServer
) -> None:
    fake_llm.responder = citing_first()
    stack = start_stack(tmp_path, fake_llm.base_url, **FAST_LLM)
    try:
        parent, _ = long_thread(stack)
        stack.driver.user_says(CHANNEL, "U0ALICE", "what would customers say?", thread_ts=parent)
        thread_answer(stack, parent)
        prompt = json.dumps(fake_llm.requests[0], ensure_ascii=False)
        assert "Reply 1999" in prompt  # the reply right before the mention
    finally:
        stack.stop()


EMOJI_RTL_CONTROL = (
    "Cut the free returns window to 14 days 🙂👩🏽‍💻🇩🇪 — تقليص نافذة الإرجاع — "
    "לקצר את חלון ההחזרות \x00\x01\x07\x08\x0b\x0c\x1b[31m\x7f\x1f tab\there end"
)


def test_emoji_rtl_and_control_characters_are_answered_and_never_echoed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack = start_stack(tmp_path)
    ComplaintStore(stack.components.store).add_many([
        complaint("U1", "My return window 🙂 was too short\x00\x07 and the refund\x1b[2J took "
                  "weeks. نافذة الإرجاع", theme="returns", days_ago=1,
                  now=datetime.now(UTC)),
        complaint("U2", "Return label\x0b\x0c did not print 👎🏻 so the refund window "
                  "passed. חלון ההחזרות\x1f", theme="returns", days_ago=2,
                  now=datetime.now(UTC)),
    ])
    try:
        stack.driver.slash_command(EMOJI_RTL_CONTROL)
        answer = slash_answer(stack)
        assert "The customer in the empty chair asks" in json.dumps(answer["blocks"])
        cited = json.dumps(answer["blocks"], ensure_ascii=False)
        assert "`U1`" in cited or "`U2`" in cited  # the hostile complaints are quoted

        parent = stack.emulator.post_user_message(CHANNEL, "U0BOB", EMOJI_RTL_CONTROL)
        stack.driver.user_says(CHANNEL, "U0ALICE", "what would customers say? 🙂 שלום \x00\x1b",
                               thread_ts=parent)
        thread_answer(stack, parent)

        texts = [(c.method, s) for c in stack.emulator.calls for s in shown_text(c)]
        assert any("🙂" in s for _, s in texts)  # emoji survive …
        assert any("الإرجاع" in s for _, s in texts) and any("ההחזרות" in s for _, s in texts)
        bad = [(m, s[:120]) for m, s in texts if C0_BUT_NEWLINE.search(s)]
        assert bad == []  # … control characters do not
        assert_no_failure_shown(stack)
        assert_no_exception_logged(caplog)
    finally:
        stack.stop()


def test_bidi_override_is_never_posted(tmp_path: Path) -> None:
    stack = start_stack(tmp_path)
    ComplaintStore(stack.components.store).add_many([
        complaint("B1", "My return window \u202ewas too short\u202c and the refund took weeks.",
                  theme="returns", days_ago=1, now=datetime.now(UTC)),
    ])
    try:
        stack.driver.slash_command("Cut the free returns \u202ewodniw\u202c to 14 days 🙂")
        answer = slash_answer(stack)
        assert "The customer in the empty chair asks" in json.dumps(answer["blocks"])
        posted = [s for c in stack.emulator.calls for s in shown_text(c)]
        assert [s[:120] for s in posted if "\u202e" in s] == []
    finally:
        stack.stop()


def test_replayed_request_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import slack_sdk.signature

    stack = start_stack(tmp_path)
    try:
        body = (b"command=%2Femptychair&text=cut+the+free+returns+window+to+14+days"
                b"&channel_id=C0MEET&user_id=U0ALICE&team_id=T0001")
        now = int(time.time())
        signature = sign(SIGNING_SECRET, str(now), body)
        first = stack.driver.send(body, FORM, timestamp=now, signature=signature)
        assert first.status == 200
        slash_answer(stack)

        # The very same bytes, five minutes later (the verifier's clock moves on) …
        real_now = slack_sdk.signature.Clock.now
        with monkeypatch.context() as later:
            later.setattr(slack_sdk.signature.Clock, "now",
                          lambda self: real_now(self) + 5 * 60 + 1)
            replay = stack.driver.send(body, FORM, timestamp=now, signature=signature)
        # … and a captured request whose timestamp is five minutes old, re-sent now.
        old = now - 5 * 60 - 1
        stale = stack.driver.send(body, FORM, timestamp=old, signature=sign(SIGNING_SECRET,
                                                                            str(old), body))
        assert (replay.status, stale.status) == (401, 401)
        time.sleep(0.3)  # a (wrong) second answer would start right after an accepted request
        assert len(stack.emulator.calls_to("chat.postMessage")) == 2
    finally:
        stack.stop()


# ------------------------------------------------------------------------------------ LLM faults


def _unknown_ids(body: dict[str, Any]) -> Reply:
    return Reply(content=draft("Where is my refund?", ["NOPE-1", "R999"]))


def _mass_mention(body: dict[str, Any]) -> Reply:
    return Reply(content=draft("<!channel> @here <@U123> what about my refund?\x00\x1b[31m",
                               retrieved_ids(body)[:2], why="<!here> <!everyone> @channel\x07",
                               answer="<@U123|boss> @everyone\t\x0b"))


LLM_FAULTS: dict[str, tuple[list[Reply], Callable[[dict[str, Any]], Reply] | None,
                            dict[str, object], int, bool]] = {
    # name: (scripted replies, responder afterwards, settings, LLM requests, offline?)
    "timeout": ([Reply(delay=30, content="{}")], None, {"EMPTYCHAIR_LLM_TIMEOUT": 0.5}, 1,
                True),
    "429_then_success": ([Reply(status=429, retry_after=0.01)], citing_first(),
                         {"EMPTYCHAIR_LLM_RETRIES": 1}, 2, False),
    "500_every_time": ([], lambda b: Reply(status=500, error_message="down"),
                       {"EMPTYCHAIR_LLM_RETRIES": 1}, 2, True),
    "invalid_json_every_time": ([], lambda b: Reply(content="sure! {not json at all"), {}, 2,
                                True),
    "empty_choices": ([Reply(empty_choices=True)], None, {}, 1, True),
    "unknown_ids_only": ([], _unknown_ids, {}, 1, True),
    "mass_mentions": ([], _mass_mention, {}, 1, False),
}


@pytest.mark.parametrize("fault", list(LLM_FAULTS))
def test_llm_fault_still_ends_in_a_posted_answer(
    fault: str, tmp_path: Path, fake_llm: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    scripted, responder, settings, requests, offline = LLM_FAULTS[fault]
    fake_llm.script(*scripted)
    fake_llm.responder = responder
    stack = start_stack(tmp_path, fake_llm.base_url, **{**FAST_LLM, **settings})
    try:
        stack.driver.slash_command(PROPOSAL + " <!channel> @here <@U123>")
        answer = slash_answer(stack)
        blocks = answer["blocks"]
        assert "The customer in the empty chair asks" in json.dumps(blocks, ensure_ascii=False)
        footer = context_lines(blocks)
        if offline:
            assert OFFLINE_MARK in footer and "LLM unavailable" in footer
        else:
            assert "answered by the LLM (fault-model)" in footer
        assert len(fake_llm.requests) == requests
        recorded = all_recorded_text(stack)
        for bad in (*FORBIDDEN, "<@U123"):
            assert bad not in recorded, bad
        shown = [s for c in stack.emulator.calls for s in shown_text(c)]
        assert [s[:120] for s in shown if C0_BUT_NEWLINE.search(s)] == []
        assert_no_failure_shown(stack)
        assert_no_exception_logged(caplog)
    finally:
        stack.stop()


# ------------------------------------------------------------------------------------- the store


def test_import_while_20_threads_search(tmp_path: Path, store: Store) -> None:
    # A store already in use: the import appends and commits as it goes, and readers see the
    # committed rows. (A first import into an empty store is one transaction; see below.)
    seeded = run_import(store, write_csv(tmp_path / "seed.csv", generated_rows(500, "S")))
    assert seeded.imported == 500
    n = 20_000
    path = write_csv(tmp_path / "big.csv", generated_rows(n))
    retriever = Retriever(store)  # shared (it is thread-safe); the Store gives each thread a conn
    errors: list[BaseException] = []
    done = threading.Event()
    searches = [0] * 20
    hits = [0] * 20
    queries = ["cut the free returns window", "courier left the parcel with a neighbour",
               "weekend support phone line", "refund voucher for broken shoes"]

    def searcher(k: int) -> None:
        try:
            while not done.is_set():
                found = retriever.search(queries[k % len(queries)], limit=12, since_days=90)
                searches[k] += 1
                hits[k] += len(found.hits)
                # A pause like a user's: 20 threads spinning on the GIL would starve the import
                # (a GIL convoy on each row's sqlite3_step), not exercise SQLite's locking.
                done.wait(0.2)
        except BaseException as exc:  # noqa: BLE001 - any failure is the finding
            errors.append(exc)

    waited: list[bool] = []

    def progress(seen: int) -> None:
        if not waited:  # the first batch is committed, the rest is still to come: every reader
            before = list(searches)  # searches at least once while the import is under way
            waited.append(bool(eventually(
                lambda: errors or all(a > b for a, b in zip(searches, before, strict=True)),
                timeout=30)))

    threads = [threading.Thread(target=searcher, args=(k,)) for k in range(20)]
    for t in threads:
        t.start()
    try:
        summary = run_import(store, path, progress=progress)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    assert waited == [True]
    assert (summary.imported, summary.duplicates, summary.rejected) == (n, 0, 0)
    assert ComplaintStore(store).count() == n + 500
    assert sum(hits) > 0
    assert store.conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(db, timeout=5)) as conn:
            return int(conn.execute("SELECT count(*) FROM complaints").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created or migrated yet


def _import_cmd(path: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "bot.cli", "import", str(path), "--db", str(db), "--no-vectors"]


def _kill_mid_import(cmd: list[str], cwd: Path, db: Path, started: Callable[[], bool]) -> None:
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=subprocess_env(db))
    try:
        assert eventually(lambda: started() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, "the import finished before it could be killed; grow n"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _assert_consistent(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        kept = int(conn.execute("SELECT count(*) FROM complaints").fetchone()[0])
        assert conn.execute("SELECT count(*) FROM complaints_fts").fetchone()[0] == kept
        conn.execute("INSERT INTO complaints_fts(complaints_fts) VALUES ('integrity-check')")
        indexes = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'complaints'")}
        assert {"idx_complaints_created_at", "idx_complaints_theme_created_at"} <= indexes
        return kept


def _schema_ready(db: Path) -> bool:
    """The import has migrated the file and is about to write (its one transaction follows)."""
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(db, timeout=0.1)) as conn:
            return conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'answers'"
                                ).fetchone()[0] == 1
    except sqlite3.Error:
        return False


def test_kill_9_during_a_first_import_leaves_an_empty_consistent_store(tmp_path: Path) -> None:
    # Into an empty store the import is one transaction (indexes built at the end): a kill
    # leaves the store as it was, indexes included, and the re-run imports everything.
    # Killed as soon as the schema exists: the one transaction of 100k rows takes seconds, so the
    # kill lands before its commit (or before it begins, which must leave the same empty store).
    n = 100_000
    path = write_csv(tmp_path / "big.csv", generated_rows(n, prefix="K"))
    db = tmp_path / "killed.db"
    cmd = _import_cmd(path, db)
    _kill_mid_import(cmd, tmp_path, db, lambda: _schema_ready(db))
    assert _assert_consistent(db) == 0
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=subprocess_env(db))
    assert again.returncode == 0, again.stderr
    assert f"imported {n}, duplicates skipped 0, rejected 0" in again.stdout
    assert _assert_consistent(db) == n


def test_kill_9_during_import_leaves_a_consistent_resumable_store(tmp_path: Path) -> None:
    # Into a store in use the import commits as it goes: a kill keeps what was committed,
    # with its FTS rows, and the re-run skips those as duplicates.
    db = tmp_path / "killed.db"
    seed = write_csv(tmp_path / "seed.csv", generated_rows(100, prefix="S"))
    subprocess.run(_import_cmd(seed, db), cwd=tmp_path, check=True, capture_output=True,
                   timeout=120, env=subprocess_env(db))
    # Large enough that the import commits several times before it is done.
    n = 200_000
    path = write_csv(tmp_path / "big.csv", generated_rows(n, prefix="K"))
    cmd = _import_cmd(path, db)
    _kill_mid_import(cmd, tmp_path, db, lambda: _count(db) > 100)

    kept = _assert_consistent(db) - 100
    assert 0 < kept < n
    with closing(sqlite3.connect(db)) as conn:
        last_id, last_text = conn.execute(
            "SELECT id, text FROM complaints ORDER BY rowid DESC LIMIT 1").fetchone()
        marker = last_text.split()[0]
        found = conn.execute("SELECT c.id FROM complaints_fts JOIN complaints c "
                             "ON c.rowid = complaints_fts.rowid WHERE complaints_fts MATCH ?",
                             [f'"{marker}"']).fetchall()
        assert last_id.startswith("K") and found == [(last_id,)]
        missing = conn.execute("SELECT count(*) FROM complaints c JOIN complaints_fts f "
                               "ON f.rowid = c.rowid WHERE complaints_fts MATCH ? "
                               "AND c.id LIKE 'K%'", [f'"marker{n - 1}"']).fetchone()[0]
        assert missing == 0

    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           env=subprocess_env(db))
    assert again.returncode == 0, again.stderr
    assert f"imported {n - kept}, duplicates skipped {kept}, rejected 0" in again.stdout
    assert _assert_consistent(db) == n + 100


# ------------------------------------------------------------------------------------------- PII

PII = {
    "email": ["jane.doe@example.com", "m.mueller+orders@beispiel.de"],
    "phone": ["+44 20 7946 0958", "(212) 555-0199", "+1 415 555 2671"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"],
    "iban": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"],
    "ssn": ["123-45-6789", "078-05-1120"],
}
RAW_PII = [s for values in PII.values() for s in values]


def pii_variants() -> list[str]:
    """Each raw string, and its digits run together (a leak may lose the spacing)."""
    out = set(RAW_PII)
    for s in PII["card"] + PII["iban"] + PII["phone"]:
        out.add(re.sub(r"[ ()\-]", "", s))
    return sorted(out)


def pii_corpus(path: Path) -> Path:
    now = datetime.now(UTC)
    e, p, c, i, s = (PII[k] for k in ("email", "phone", "card", "iban", "ssn"))
    texts = [
        f"I returned my coat, mail me at {e[0]} or call {p[0]}; the refund never came.",
        f"Refund went to card {c[0]} which is closed. Return window too short. SSN {s[0]}.",
        f"Please refund the return to IBAN {i[0]}, not card {c[1]}; phone {p[1]}.",
        f"Return label failed; reach me on {p[2]} or {e[1]}. Refund to {i[1]} please.",
        f"My card {c[2]} was charged twice for a return; my SSN is {s[1]}. Refund it!",
        "The 30 day return window is why I shop here; a shorter window means no refund.",
    ]
    rows = [[f"P{k}", (now - timedelta(days=k + 1)).isoformat(), t, "returns"]
            for k, t in enumerate(texts)]
    return write_csv(path, rows)


@pytest.fixture
def pii_run(tmp_path: Path, fake_llm: FakeLLMServer) -> Iterator[SandboxStack]:
    """A PII-laden export imported for real, then a /emptychair proposal and an @-mention in a
    thread, both full of PII, answered through the LLM."""
    assert all(contains_pii(f"call {s} now") for s in RAW_PII)  # the fixtures are real PII
    fake_llm.responder = citing_first()
    stack = SandboxStack(tmp_path / "pii.db", llm_base_url=fake_llm.base_url,
                         settings_overrides=dict(FAST_LLM)).start()
    try:
        summary = run_import(stack.components.store, pii_corpus(tmp_path / "pii.csv"))
        assert summary.imported == 6
        e, p, c, i, s = (PII[k] for k in ("email", "phone", "card", "iban", "ssn"))
        stack.driver.slash_command(f"Cut the free returns window to 14 days; ask {e[0]} "
                                   f"({p[0]}) about the refund to card {c[0]}")
        answer = slash_answer(stack)
        assert "answered by the LLM (fault-model)" in context_lines(answer["blocks"])
        emu = stack.emulator
        parent = emu.post_user_message(CHANNEL, "U0BOB", f"Proposal: refund returns only to "
                                       f"IBAN like {i[0]} and shorten the return window; "
                                       f"SSN {s[0]} came up")
        emu.post_user_message(CHANNEL, "U0CAROL", f"Customer {e[1]} on {p[2]} paid with "
                              f"{c[2]} and {c[1]}, IBAN {i[1]}, SSN {s[1]}", thread_ts=parent)
        stack.driver.user_says(CHANNEL, "U0ALICE", f"what would customers say? cc {p[1]}",
                               thread_ts=parent)
        answer = thread_answer(stack, parent)
        assert "answered by the LLM (fault-model)" in context_lines(answer["blocks"])
        assert len(fake_llm.requests) == 2
        yield stack
    finally:
        stack.stop()


def is_proposal_echo(call: RecordedCall) -> bool:
    """The channel post quoting a /emptychair proposal (see the test below)."""
    return (call.method == "chat.postMessage" and "thread_ts" not in call.params
            and "asked the empty chair about" in str(call.params.get("text")))


def test_pii_never_reaches_the_llm_the_database_or_the_answers(
    pii_run: SandboxStack, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    calls = pii_run.emulator.calls
    assert sum(map(is_proposal_echo, calls)) == 1
    sent_to_llm = json.dumps(fake_llm.requests, ensure_ascii=False)
    sent_to_slack = json.dumps([c.params for c in calls if not is_proposal_echo(c)],
                               ensure_ascii=False)
    store = pii_run.components.store
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = "\n".join(store.conn.iterdump())
    raw_bytes = b"".join(f.read_bytes() for f in tmp_path.glob("pii.db*"))
    for leak in pii_variants():
        assert leak not in sent_to_llm, f"the LLM saw {leak}"
        assert leak not in stored and leak.encode() not in raw_bytes, f"the database holds {leak}"
        assert leak not in sent_to_slack, f"Slack saw {leak}"
    for placeholder in ("[email]", "[phone]", "[card]", "[iban]", "[ssn]"):
        assert placeholder in sent_to_llm


def test_proposal_echoed_in_the_channel_is_redacted(pii_run: SandboxStack) -> None:
    echo = [c for c in pii_run.emulator.calls if is_proposal_echo(c)]
    assert len(echo) == 1
    posted = json.dumps(echo[0].params, ensure_ascii=False)
    assert "refund to card" in posted  # it is the echo of the proposal …
    assert [leak for leak in pii_variants() if leak in posted] == []  # … without its PII


def test_thread_parent_repeated_on_every_page_is_read_once() -> None:
    """Slack may start each page of conversations.replies with the parent again."""
    from slack_sdk import WebClient

    from bot.sandbox.emulator import SlackEmulator
    from bot.sandbox.stack import BOT_TOKEN
    from bot.slack.threads import fetch_thread

    emu = SlackEmulator(repeat_thread_parent=True).start()
    try:
        parent = emu.post_user_message(CHANNEL, "U0BOB", "Proposal: shorter return window")
        for i in range(450):
            emu.post_user_message(CHANNEL, "U0CAROL", f"Reply {i:04d}", thread_ts=parent)
        messages = fetch_thread(WebClient(token=BOT_TOKEN, base_url=emu.base_url), CHANNEL,
                                parent)
        pages = emu.calls_to("conversations.replies")
    finally:
        emu.stop()
    assert len(pages) == 3
    texts = [m["text"] for m in messages]
    assert texts.count("Proposal: shorter return window") == 1
    assert texts[0] == "Proposal: shorter return window"
    assert texts[-1] == "Reply 0449"
    assert len(texts) == 400  # the parent and the newest 399 replies
    assert texts[1] == "Reply 0051"
