"""Ack latency: concurrent signed /emptychair commands to the real app while the LLM takes 5 s."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common import LogCounter, emit, emit_machine, note, percentile, proposals  # bench/common.py

DRIVER_TIMEOUT = 30.0
ACK_LIMIT_MS = 3000.0  # Slack shows the user an error when the ack takes longer
CHANNEL = "C0MEET"
_ID = re.compile(r'"id": "([^"]+)"')


@dataclass
class Plan:
    commands: int
    concurrency: int
    llm_delay: float
    wait: float
    workers: int | None = None  # listener executor size; None: Bolt's default, as shipped
    inline_ack: bool = False  # Bolt's process_before_response=True: ack on the HTTP thread


@dataclass
class FakeLLM:
    """Answers every chat completion after `delay` seconds with challenges citing the ids it
    finds in the prompt's complaint lines; counts requests in flight."""

    delay: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0

    def __call__(self, body: dict[str, Any]) -> Any:
        from bot.sandbox.fake_llm import Reply

        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
        finally:
            with self.lock:
                self.in_flight -= 1
        prompt = "\n".join(str(m.get("content") or "") for m in body.get("messages", [])
                           if m.get("role") == "user")
        ids = list(dict.fromkeys(_ID.findall(prompt)))
        challenges = [
            {
                "question": f"If you do this, what happens to me, given what I told you in {cid}?",
                "why_it_matters": "Customers already complain about exactly this.",
                "severity": "high" if i == 0 else "medium",
                "complaint_ids": [cid],
                "what_would_answer_it": "The numbers behind the complaints cited.",
            }
            for i, cid in enumerate(ids[:3])
        ]
        return Reply(content={"challenges": challenges})


@contextlib.contextmanager
def bolt_app(plan: Plan) -> Iterator[list[Any]]:
    """Builds the bot's Bolt app as shipped, recording it (to read and, at the end, cancel its
    listener executor). With `plan.workers` or `plan.inline_ack` it passes those App options
    instead: a benchmark-only patch of `bot.slack.app.App` to test the diagnosis."""
    import bot.slack.app as slack_app

    original = slack_app.App
    built: list[Any] = []
    extra: dict[str, Any] = {}
    if plan.workers is not None:
        extra["listener_executor"] = ThreadPoolExecutor(
            max_workers=plan.workers, thread_name_prefix="bench-listener")
    if plan.inline_ack:
        extra["process_before_response"] = True

    def build(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **{**kwargs, **extra})
        built.append(app)
        return app

    slack_app.App = build  # type: ignore[misc,assignment]
    try:
        yield built
    finally:
        slack_app.App = original  # type: ignore[misc]


def listener_pool(app: Any) -> ThreadPoolExecutor | None:
    runner = getattr(app, "_listener_runner", None)  # slack_bolt internals, read-only here
    pool = getattr(runner, "listener_executor", None)
    return pool if isinstance(pool, ThreadPoolExecutor) else None


def thread_answers(stack: Any) -> dict[str, list[dict[str, Any]]]:
    """user id of the asker → the bot's replies in the thread(s) of that user's parent(s)."""
    messages = stack.emulator.messages(CHANNEL)
    parents: dict[str, str] = {}
    for msg in messages:
        if msg.get("bot_id") and msg.get("thread_ts") in (None, msg["ts"]):
            match = re.match(r"<@([UW][A-Z0-9]+)> asked the empty chair", msg.get("text", ""))
            if match:
                parents[msg["ts"]] = match.group(1)
    answers: dict[str, list[dict[str, Any]]] = {}
    for msg in messages:
        parent = msg.get("thread_ts")
        if msg.get("bot_id") and parent and parent != msg["ts"] and parent in parents:
            answers.setdefault(parents[parent], []).append(msg)
    return answers


def kind_of(reply: dict[str, Any]) -> str:
    text = json.dumps(reply.get("blocks") or reply.get("text", ""), ensure_ascii=False)
    if "answered by the LLM" in text:
        return "llm"
    if "answered by the offline writer" in text:
        return "offline"
    return "other"  # a failure message or "no customer signal"


def run_phase(prefix: str, plan: Plan, workdir: Path) -> None:
    from bot.sandbox.fake_llm import FakeLLMServer
    from bot.sandbox.stack import SandboxStack

    fake = FakeLLM(plan.llm_delay)
    logs = LogCounter().install()
    texts = proposals(plan.commands, off_topic=0)
    users = [f"U9{i:05d}" for i in range(plan.commands)]
    emit(f"{prefix}commands", plan.commands)
    emit(f"{prefix}concurrency", plan.concurrency)
    emit(f"{prefix}llm.delay_s", plan.llm_delay)
    emit(f"{prefix}inline_ack", plan.inline_ack)
    with FakeLLMServer(responder=fake) as llm, bolt_app(plan) as built:
        stack = SandboxStack(
            workdir / f"{prefix.strip('.') or 'ack'}.db", llm_base_url=llm.base_url,
            load_sample=True,
            settings_overrides={"EMPTYCHAIR_LLM_TIMEOUT": 60, "EMPTYCHAIR_MODEL": "bench"},
        ).start()
        pool = listener_pool(built[-1]) if built else None
        emit(f"{prefix}bolt.listener_workers",
             getattr(pool, "_max_workers", "?") if pool is not None else "?")
        try:
            driver = stack.driver
            driver.timeout = DRIVER_TIMEOUT
            started = time.perf_counter()

            def send(i: int) -> tuple[int, float]:
                t0 = time.perf_counter()
                try:
                    r = driver.slash_command(texts[i % len(texts)], channel=CHANNEL, user=users[i])
                    return r.status, r.elapsed_ms
                except OSError:  # no answer within the driver's timeout, or a reset
                    return 0, (time.perf_counter() - t0) * 1000

            with ThreadPoolExecutor(max_workers=plan.concurrency) as senders:
                results = list(senders.map(send, range(plan.commands)))
            sent_s = time.perf_counter() - started
            acks = [elapsed for _, elapsed in results]
            statuses = Counter(status for status, _ in results)
            emit(f"{prefix}ack.p50_ms", percentile(acks, 50))
            emit(f"{prefix}ack.p99_ms", percentile(acks, 99))
            emit(f"{prefix}ack.max_ms", max(acks))
            emit(f"{prefix}ack.limit_ms", round(ACK_LIMIT_MS))
            emit(f"{prefix}ack.p99_over_limit", percentile(acks, 99) / ACK_LIMIT_MS)
            emit(f"{prefix}ack.over_limit", sum(a > ACK_LIMIT_MS for a in acks))
            emit(f"{prefix}ack.non_200", plan.commands - statuses[200])
            for status, n in sorted(statuses.items()):
                if status != 200:  # 0: no HTTP answer at all
                    emit(f"{prefix}ack.status_{status}", n)
            emit(f"{prefix}send.seconds", sent_s)

            deadline = started + plan.wait
            answers = thread_answers(stack)
            last_change, seen = time.perf_counter(), 0
            while time.perf_counter() < deadline:
                answers = thread_answers(stack)
                done = sum(1 for u in users if answers.get(u))
                if done != seen:
                    seen, last_change = done, time.perf_counter()
                if done >= plan.commands:
                    break
                time.sleep(0.25)
            kinds = [kind_of(r) for u in users for r in answers.get(u, [])[:1]]
            answered = sum(1 for u in users if answers.get(u))
            emit(f"{prefix}challenges.wait_s", plan.wait)
            emit(f"{prefix}challenges.answered", answered)
            emit(f"{prefix}challenges.posted_share", answered / plan.commands)
            emit(f"{prefix}challenges.llm_share", kinds.count("llm") / plan.commands)
            emit(f"{prefix}challenges.offline_share", kinds.count("offline") / plan.commands)
            emit(f"{prefix}challenges.other", kinds.count("other"))
            emit(f"{prefix}challenges.last_answer_s", last_change - started)
            emit(f"{prefix}duplicates",
                 sum(max(0, len(answers.get(u, [])) - 1) for u in users))
            emit(f"{prefix}llm.requests", fake.requests)
            emit(f"{prefix}llm.max_in_flight", fake.max_in_flight)
            # Bolt logs this when an ack function did not run within its 3 s ack_timeout.
            emit(f"{prefix}bolt.ack_not_called_warnings", logs.matching("didn't call ack"))
            emit(f"{prefix}log.warnings", sum(logs.counts.values()))
            if answered < plan.commands:
                # Each answer needs one LLM round trip; at most `max_in_flight` run at once.
                per_slot = plan.commands / max(1, fake.max_in_flight)
                emit(f"{prefix}challenges.drain_estimate_s", per_slot * plan.llm_delay)
        finally:
            if pool is not None:
                # Answers still queued would run (and fail) after the stack is gone and keep
                # the process alive at exit: drop them.
                pool.shutdown(wait=False, cancel_futures=True)
            stack.stop()


def run(plan: Plan, variants: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        run_phase("", plan, Path(tmp))
        for variant in variants:
            # The same load with one Bolt App option changed (the bot itself is unchanged).
            if variant.startswith("wide"):
                workers = int(variant.removeprefix("wide") or 64)
                note(f"diagnosis: a {workers}-worker listener executor instead of Bolt's default")
                run_phase(f"{variant}.", replace(plan, workers=workers), Path(tmp))
            elif variant == "inline":
                note("diagnosis: process_before_response=True (ack on the HTTP thread), "
                     "Bolt's default executor; answers are as slow as before, so the wait is short")
                run_phase("inline.", replace(plan, inline_ack=True, wait=min(plan.wait, 20.0)),
                          Path(tmp))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, help="slash commands (default 200; quick 40)")
    parser.add_argument("--concurrency", type=int, help="in flight at once (default 50; "
                        "quick 10)")
    parser.add_argument("--llm-delay", type=float, default=5.0, help="seconds per LLM answer")
    parser.add_argument("--wait", type=float, help="seconds to wait for the answers "
                        "(default 120; quick 60)")
    parser.add_argument("--diagnose", default="wide64,inline",
                        help="reruns with one Bolt option changed: wideN (an N-worker "
                        "listener executor), inline (process_before_response); '' to skip")
    parser.add_argument("--quick", action="store_true", help="a smaller load")
    args = parser.parse_args(argv)
    plan = Plan(
        commands=args.commands or (40 if args.quick else 200),
        concurrency=args.concurrency or (10 if args.quick else 50),
        llm_delay=args.llm_delay,
        wait=args.wait or (60.0 if args.quick else 120.0),
    )
    emit_machine("start")
    started = time.perf_counter()
    try:
        run(plan, [v.strip() for v in args.diagnose.split(",") if v.strip()])
    except Exception as exc:  # a benchmark reports, it does not fail the build
        emit("error", f"{type(exc).__name__}: {exc}")
        traceback.print_exc(file=sys.stderr)
    emit("ack.total.seconds", time.perf_counter() - started)
    emit_machine("end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
