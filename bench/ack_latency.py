"""Ack latency: concurrent signed /emptychair commands to the bot while the LLM takes 5 s.

The bot runs as in production, `emptychair serve` in a child process of its own; this process
holds the Slack emulator, the fake LLM and the threads sending the commands. The in-process
phase (`inprocess.`) runs the same load on `SandboxStack`, everything in one interpreter, for
comparison: there the bot shares the GIL with the load generator.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (  # bench/common.py
    ROOT,
    LogCounter,
    emit,
    note,
    percentile,
    proposals,
    run_reported,
)

DRIVER_TIMEOUT = 30.0
ACK_LIMIT_MS = 3000.0  # Slack shows the user an error when the ack takes longer
ACK_TARGET_MS = 50.0  # what the bot itself should need (p99)
BARE_RATIO_TARGET = 1.5  # our ack p99 ÷ a bare Bolt app's, same load, same run (issue 12)
CHANNEL = "C0MEET"
HEALTH_TIMEOUT = 60.0
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
SAMPLE = ROOT / "data" / "sample_complaints.csv"
_ID = re.compile(r'"id": "([^"]+)"')
# Lines of the bot's log at WARNING or above: `level=WARNING` once `serve` has configured
# logging, `… WARNING name …` (logging.basicConfig in bot.cli.main) before that.
_WARNING_LINE = re.compile(r"\blevel=(WARNING|ERROR|CRITICAL)\b|^\S+ \S+ (WARNING|ERROR|CRITICAL) ")


@dataclass
class Plan:
    commands: int
    concurrency: int
    llm_delay: float
    wait: float
    workers: int | None = None  # EMPTYCHAIR_WORKERS for the bot; None: unset, as shipped


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


def shipped_workers() -> int:
    from bot.config import Settings

    default = Settings.model_fields["workers"].default
    return int(default) if isinstance(default, int) else 0


def thread_answers(emulator: Any) -> dict[str, list[dict[str, Any]]]:
    """user id of the asker → the bot's replies in the thread(s) of that user's parent(s)."""
    messages = emulator.messages(CHANNEL)
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


def send_commands(prefix: str, plan: Plan, driver: Any) -> tuple[float, list[str], float]:
    """Sends the commands from `plan.concurrency` threads and emits the ack figures; returns
    (ack p99, the user id of each command, when sending started)."""
    texts = proposals(plan.commands, off_topic=0)
    users = [f"U9{i:05d}" for i in range(plan.commands)]
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
    p99 = percentile(acks, 99)
    emit(f"{prefix}ack.p50_ms", percentile(acks, 50))
    emit(f"{prefix}ack.p99_ms", p99)
    emit(f"{prefix}ack.max_ms", max(acks))
    emit(f"{prefix}ack.target_p99_ms", round(ACK_TARGET_MS))
    emit(f"{prefix}ack.p99_over_target", p99 / ACK_TARGET_MS)
    emit(f"{prefix}ack.limit_ms", round(ACK_LIMIT_MS))
    emit(f"{prefix}ack.p99_over_limit", p99 / ACK_LIMIT_MS)
    emit(f"{prefix}ack.over_limit", sum(a > ACK_LIMIT_MS for a in acks))
    emit(f"{prefix}ack.non_200", plan.commands - statuses[200])
    for status, n in sorted(statuses.items()):
        if status != 200:  # 0: no HTTP answer at all
            emit(f"{prefix}ack.status_{status}", n)
    emit(f"{prefix}send.seconds", sent_s)
    return p99, users, started


def measure(prefix: str, plan: Plan, emulator: Any, driver: Any, fake: FakeLLM) -> float:
    """Sends the commands, waits for the thread answers, emits what it saw; returns ack p99."""
    p99, users, started = send_commands(prefix, plan, driver)
    deadline = started + plan.wait
    answers = thread_answers(emulator)
    last_change, seen = time.perf_counter(), 0
    while time.perf_counter() < deadline:
        answers = thread_answers(emulator)
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
    emit(f"{prefix}duplicates", sum(max(0, len(answers.get(u, [])) - 1) for u in users))
    emit(f"{prefix}llm.requests", fake.requests)
    emit(f"{prefix}llm.max_in_flight", fake.max_in_flight)
    if answered < plan.commands:
        # Each answer needs one LLM round trip; at most `max_in_flight` run at once.
        per_slot = plan.commands / max(1, fake.max_in_flight)
        emit(f"{prefix}challenges.drain_estimate_s", per_slot * plan.llm_delay)
    return p99


# ------------------------------------------------------------------ the bot in a child process
def bot_env(db: Path, emulator_url: str, llm_url: str, port: int,
            workers: int | None) -> dict[str, str]:
    """The parent's environment without any bot setting of its own, plus the sandbox's."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "OPENAI_", "EMPTYCHAIR_"))}
    from bot.sandbox.stack import BOT_TOKEN, SIGNING_SECRET

    env.update({
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "",  # HTTP mode, whatever a .env says
        "SLACK_API_BASE_URL": emulator_url,
        "EMPTYCHAIR_HOST": "127.0.0.1",
        "EMPTYCHAIR_PORT": str(port),
        "EMPTYCHAIR_DB": str(db),
        "OPENAI_BASE_URL": llm_url,
        "OPENAI_API_KEY": "",  # the fake LLM needs none
        "EMPTYCHAIR_LLM_TIMEOUT": "60",
        "EMPTYCHAIR_MODEL": "bench",
        "PYTHONUNBUFFERED": "1",
    })
    if workers is not None:
        env["EMPTYCHAIR_WORKERS"] = str(workers)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def emptychair(*args: str) -> list[str]:
    """The command line `emptychair ARGS` runs, with this interpreter (the project's venv)."""
    return [sys.executable, "-m", "bot.cli", *args]


def import_sample(db: Path, env: dict[str, str], workdir: Path) -> None:
    """`emptychair import … --rebase-dates`: complaints and (by default) their vectors, as an
    operator prepares the store; `serve` computes no vectors at start."""
    t0 = time.perf_counter()
    out = subprocess.run(emptychair("import", str(SAMPLE), "--db", str(db), "--rebase-dates"),
                         env=env, cwd=workdir, capture_output=True, text=True, timeout=600,
                         check=False)
    if out.returncode != 0:
        note(f"emptychair import exited {out.returncode}:\n{out.stderr[-2000:]}")
        raise RuntimeError(f"emptychair import failed (exit {out.returncode})")
    emit("import.seconds", time.perf_counter() - t0)
    note(f"import: {out.stdout.strip()}")
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        emit("db.complaints", conn.execute("SELECT count(*) FROM complaints").fetchone()[0])
        emit("db.vectors", conn.execute("SELECT count(*) FROM complaint_vectors").fetchone()[0])


def wait_healthy(proc: subprocess.Popen[bytes], port: int, stderr_path: Path) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + HEALTH_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            last = f"the bot exited with {proc.returncode}"
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback only
                if resp.status == 200:
                    return dict(json.loads(resp.read() or b"{}"))
                last = f"HTTP {resp.status}"
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    note(f"bot stderr (last lines):\n{tail(stderr_path)}")
    if proc.returncode is not None:
        raise RuntimeError(f"{last} before {url} answered")
    raise RuntimeError(f"the bot did not answer {url} within {HEALTH_TIMEOUT:.0f} s ({last})")


def stop_child(proc: subprocess.Popen[bytes]) -> tuple[int | None, Any]:
    """SIGTERM, SIGKILL after STOP_GRACE s; reaps it with wait4 for its rusage."""
    if proc.poll() is not None:  # already reaped: no rusage left to read
        return proc.returncode, None
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() >= deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


def count_log(path: Path) -> tuple[Counter[str], int]:
    """(lines at WARNING or above, without their time stamp → count; Bolt's "didn't call
    ack" lines) in the bot's log."""
    warnings: Counter[str] = Counter()
    not_acked = 0
    with contextlib.suppress(OSError), path.open(errors="replace") as fh:
        for line in fh:
            if _WARNING_LINE.search(line):
                warnings[line.split(" ", 2)[-1].strip()[:160]] += 1
            not_acked += "didn't call ack" in line
    return warnings, not_acked


_ACKED = re.compile(r"slack request acked ms=([0-9.]+)")


def acked_ms(path: Path) -> list[float]:
    """The bot's "slack request acked ms=…" log lines: its time from request to response."""
    with contextlib.suppress(OSError), path.open(errors="replace") as fh:
        return [float(m.group(1)) for line in fh if (m := _ACKED.search(line))]
    return []


@contextlib.contextmanager
def bot_process(env: dict[str, str], port: int, workdir: Path, info: dict[str, Any],
                command: list[str] | None = None, name: str = "bot") -> Iterator[None]:
    """`emptychair serve` (or `command`) in a child process until the block ends. Fills
    `info`: its /healthz answer, start time, log path and, once stopped, exit code, CPU time
    and peak RSS."""
    stdout_path, stderr_path = workdir / f"{name}.stdout.log", workdir / f"{name}.stderr.log"
    info["stderr"] = stderr_path
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command or emptychair("serve"), env=env, cwd=workdir, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL)
        try:
            info["health"] = wait_healthy(proc, port, stderr_path)
            info["start_s"] = time.perf_counter() - t0
            yield
        finally:
            code, usage = stop_child(proc)
            info["exit_code"] = code
            if usage is not None:
                info["cpu_s"] = usage.ru_utime + usage.ru_stime
                info["peak_mb"] = usage.ru_maxrss / 1024  # Linux: KiB


def run_process_phase(plan: Plan, workdir: Path) -> float | None:
    from bot.sandbox.driver import SlackDriver
    from bot.sandbox.emulator import SlackEmulator
    from bot.sandbox.fake_llm import FakeLLMServer
    from bot.sandbox.stack import SIGNING_SECRET

    started = time.perf_counter()
    note("bot: `emptychair serve` in a child process (HTTP mode)")
    emit("commands", plan.commands)
    emit("concurrency", plan.concurrency)
    emit("llm.delay_s", plan.llm_delay)
    emit("bot.workers", plan.workers if plan.workers is not None else shipped_workers())
    if plan.workers is None:
        note("EMPTYCHAIR_WORKERS unset: the bot's default")
    fake = FakeLLM(plan.llm_delay)
    p99: float | None = None
    emulator = SlackEmulator().start()
    info: dict[str, Any] = {}
    try:
        with FakeLLMServer(responder=fake) as llm:
            db, port = workdir / "ack.db", free_port()
            env = bot_env(db, emulator.base_url, llm.base_url, port, plan.workers)
            import_sample(db, env, workdir)
            with bot_process(env, port, workdir, info):
                emit("bot.start_s", info["start_s"])
                emit("bot.complaints", info["health"].get("complaints", "?"))
                driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET,
                                     emulator=emulator)
                p99 = measure("", plan, emulator, driver, fake)
    finally:
        emulator.stop()
        if "exit_code" in info:
            server_ms = acked_ms(info["stderr"])
            if server_ms:
                # The bot's own handling time, from its log: the client-side figures above
                # also hold the load generator's and the emulator's share of the 2 cores.
                emit("ack.server.requests", len(server_ms))
                emit("ack.server.p50_ms", percentile(server_ms, 50))
                emit("ack.server.p99_ms", percentile(server_ms, 99))
                emit("ack.server.max_ms", max(server_ms))
                emit("ack.server.p99_over_target", percentile(server_ms, 99) / ACK_TARGET_MS)
            warnings, not_acked = count_log(info["stderr"])
            # Bolt logs this when an ack function did not run within its 3 s ack_timeout.
            emit("bolt.ack_not_called_warnings", not_acked)
            emit("log.warnings", warnings.total())
            for line, n in warnings.most_common(5):
                note(f"bot log, {n}x: {line}")
            emit("bot.exit_code", info["exit_code"])
            if "cpu_s" in info:
                emit("bot.cpu_seconds", info["cpu_s"])
                emit("bot.peak_mb", info["peak_mb"])
        emit("phase.seconds", time.perf_counter() - started)
    return p99


# ------------------------------------------------------------------ the bare Bolt baseline
def run_bare_phase(plan: Plan, workdir: Path) -> float | None:
    """The same commands to bench/bare_bolt.py: Bolt acking /emptychair with no work, in a
    child process, on the bot's HTTP server; what any Bolt app pays per ack on this machine."""
    from bot.sandbox.driver import SlackDriver
    from bot.sandbox.emulator import SlackEmulator

    prefix = "bare."
    started = time.perf_counter()
    note("bare: a Bolt app that only acks /emptychair, in a child process (HTTP mode)")
    p99: float | None = None
    emulator = SlackEmulator().start()
    info: dict[str, Any] = {}
    try:
        port = free_port()
        env = bot_env(workdir / "bare.db", emulator.base_url, "http://127.0.0.1:9/v1", port,
                      None)
        with bot_process(env, port, workdir, info,
                         [sys.executable, str(ROOT / "bench" / "bare_bolt.py")], "bare"):
            from bot.sandbox.stack import SIGNING_SECRET

            driver = SlackDriver(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET,
                                 emulator=emulator)
            p99 = send_commands(prefix, plan, driver)[0]
    finally:
        emulator.stop()
        if "cpu_s" in info:
            emit(f"{prefix}cpu_seconds", info["cpu_s"])
        emit(f"{prefix}phase.seconds", time.perf_counter() - started)
    return p99


# ------------------------------------------------------------------ the old single-process mode
def answer_pools() -> list[ThreadPoolExecutor]:
    """The in-process bot's listener executors (bot.slack.app names their threads)."""
    return [o for o in gc.get_objects() if isinstance(o, ThreadPoolExecutor)
            and getattr(o, "_thread_name_prefix", "").startswith("emptychair-answer")]


def run_inprocess_phase(plan: Plan, workdir: Path) -> float | None:
    from bot.sandbox.fake_llm import FakeLLMServer
    from bot.sandbox.stack import SandboxStack

    prefix = "inprocess."
    started = time.perf_counter()
    note("in-process: SandboxStack (emulator, bot, fake LLM and senders share one interpreter)")
    emit(f"{prefix}commands", plan.commands)
    emit(f"{prefix}concurrency", plan.concurrency)
    emit(f"{prefix}llm.delay_s", plan.llm_delay)
    fake = FakeLLM(plan.llm_delay)
    logs = LogCounter().install()
    overrides: dict[str, Any] = {"EMPTYCHAIR_LLM_TIMEOUT": 60, "EMPTYCHAIR_MODEL": "bench"}
    if plan.workers is not None:
        overrides["EMPTYCHAIR_WORKERS"] = plan.workers
    p99: float | None = None
    with FakeLLMServer(responder=fake) as llm:
        stack = SandboxStack(workdir / "inprocess.db", llm_base_url=llm.base_url,
                             load_sample=True, settings_overrides=overrides).start()
        emit(f"{prefix}bot.workers", stack.components.settings.workers)
        try:
            p99 = measure(prefix, plan, stack.emulator, stack.driver, fake)
            emit(f"{prefix}bolt.ack_not_called_warnings", logs.matching("didn't call ack"))
            emit(f"{prefix}log.warnings", sum(logs.counts.values()))
        finally:
            for pool in answer_pools():
                # Answers still queued would run (and fail) after the stack is gone and keep
                # the process alive at exit: drop them.
                pool.shutdown(wait=False, cancel_futures=True)
            stack.stop()
            emit(f"{prefix}phase.seconds", time.perf_counter() - started)
    return p99


def run(plan: Plan, phases: list[str]) -> None:
    p99: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ack-") as tmp:
        for phase in phases:
            runner = PHASES[phase]
            try:
                p99[phase] = runner(plan, Path(tmp))
            except Exception as exc:  # report it and go on with the next phase
                prefix = "" if phase == "process" else f"{phase}."
                emit(f"{prefix}error", f"{type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
    process, inprocess, bare = p99.get("process"), p99.get("inprocess"), p99.get("bare")
    if process and inprocess is not None:
        emit("ack.p99_ratio_inprocess_over_process", inprocess / process)
    if process is not None and bare:
        emit("ack.p99_ratio_ours_over_bare", process / bare)
        emit("ack.p99_ratio_target", BARE_RATIO_TARGET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, help="slash commands (default 200; quick 40)")
    parser.add_argument("--concurrency", type=int, help="in flight at once (default 50; "
                        "quick 10)")
    parser.add_argument("--llm-delay", type=float, default=5.0, help="seconds per LLM answer")
    parser.add_argument("--wait", type=float, help="seconds to wait for the answers "
                        "(default 120; quick 60)")
    parser.add_argument("--workers", type=int, help="EMPTYCHAIR_WORKERS for the bot "
                        "(default: unset, the bot's own default)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--in-process", action="store_true", help="only the old single-process "
                      "mode (SandboxStack), lines prefixed inprocess.")
    mode.add_argument("--no-compare", action="store_true", help="only the bot and the bare "
                      "Bolt app in child processes, no in-process phase")
    parser.add_argument("--quick", action="store_true", help="a smaller load")
    args = parser.parse_args(argv)
    plan = Plan(
        commands=args.commands or (40 if args.quick else 200),
        concurrency=args.concurrency or (10 if args.quick else 50),
        llm_delay=args.llm_delay,
        wait=args.wait or (60.0 if args.quick else 120.0),
        workers=args.workers,
    )
    phases = (["inprocess"] if args.in_process
              else ["process", "bare"] if args.no_compare
              else ["process", "bare", "inprocess"])
    return run_reported("ack", lambda: run(plan, phases))


PHASES: dict[str, Callable[[Plan, Path], float | None]] = {
    "process": run_process_phase, "bare": run_bare_phase, "inprocess": run_inprocess_phase,
}


if __name__ == "__main__":
    sys.exit(main())
