"""Overhead: the bot's own time around a fixed-latency LLM (service call and full slash command)."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ack_latency import FakeLLM  # bench/ack_latency.py: the same citing fake LLM
from common import (
    LogCounter,
    emit,
    note,
    percentile,
    proposals,
    ratio,
    run_reported,  # bench/common.py
)

TARGET_MS = 150.0
CHANNEL = "C0MEET"


def stats(prefix: str, values: list[float]) -> None:
    emit(f"{prefix}.p50_ms", percentile(values, 50))
    emit(f"{prefix}.p99_ms", percentile(values, 99))
    emit(f"{prefix}.max_ms", max(values, default=0.0))


def service_overhead(texts: list[str], delay: float, workdir: Path) -> None:
    """ChairService.challenge end to end, minus the LLM's fixed latency."""
    from bot.app import build_components, build_embedder
    from bot.config import Settings
    from bot.importer import run_import
    from bot.retrieval import index_vectors
    from bot.sandbox.fake_llm import FakeLLMServer
    from bot.sandbox.stack import SAMPLE

    fake = FakeLLM(delay)
    with FakeLLMServer(responder=fake) as llm:
        settings = Settings(EMPTYCHAIR_DB=workdir / "service.db", OPENAI_BASE_URL=llm.base_url,
                            OPENAI_API_KEY="", EMPTYCHAIR_MODEL="bench")
        components = build_components(settings)
        try:
            run_import(components.store, SAMPLE, rebase_to=datetime.now(UTC))
            embedder = build_embedder(settings)
            if embedder is not None:
                index_vectors(components.store, embedder)
            service, retriever = components.service, components.retriever
            service.challenge(texts[0])  # warm: caches, the SDK's connection pool
            total, overhead, retrieval = [], [], []
            writers: dict[str, int] = {}
            for text in texts:
                before = fake.requests
                started = time.perf_counter()
                response = service.challenge(text)
                elapsed = (time.perf_counter() - started) * 1000
                calls = fake.requests - before
                total.append(elapsed)
                overhead.append(elapsed - calls * delay * 1000)
                writers[response.writer] = writers.get(response.writer, 0) + 1
                started = time.perf_counter()
                retriever.search(text, limit=12, since_days=service.window_days)
                retrieval.append((time.perf_counter() - started) * 1000)
            emit("overhead.service.calls", len(texts))
            emit("overhead.service.llm_requests", fake.requests)
            for writer, n in sorted(writers.items()):
                emit(f"overhead.service.writer.{writer}", n)
            stats("overhead.service.total", total)
            stats("overhead.service", overhead)
            emit("overhead.service.retrieval.p50_ms", percentile(retrieval, 50))
            emit("overhead.service.retrieval_share_of_p50",
                 ratio(percentile(retrieval, 50), percentile(overhead, 50)))
            emit("overhead.service.p50_over_target", percentile(overhead, 50) / TARGET_MS)
        finally:
            components.store.close()


def e2e_overhead(texts: list[str], delay: float, workdir: Path) -> None:
    """A signed /emptychair through the real app until the thread answer is posted, minus the
    LLM's fixed latency."""
    from bot.sandbox.fake_llm import FakeLLMServer
    from bot.sandbox.stack import SandboxStack

    fake = FakeLLM(delay)
    with FakeLLMServer(responder=fake) as llm:
        stack = SandboxStack(workdir / "e2e.db", llm_base_url=llm.base_url, load_sample=True,
                             settings_overrides={"EMPTYCHAIR_MODEL": "bench"}).start()
        try:
            emulator, driver = stack.emulator, stack.driver
            posts = 0

            def one(text: str) -> tuple[float, float, int]:
                nonlocal posts
                before = fake.requests
                started = time.perf_counter()
                resp = driver.slash_command(text, channel=CHANNEL, user="U0ALICE")
                posts += 2  # the parent in the channel, then the answer in its thread
                emulator.wait_for("chat.postMessage", posts, timeout=30)
                elapsed = (time.perf_counter() - started) * 1000
                return elapsed, resp.elapsed_ms, fake.requests - before

            one(texts[0])  # warm
            total, overhead, acks = [], [], []
            for text in texts:
                elapsed, ack, calls = one(text)
                total.append(elapsed)
                overhead.append(elapsed - calls * delay * 1000)
                acks.append(ack)
            emit("overhead.e2e.commands", len(texts))
            emit("overhead.e2e.llm_requests", fake.requests)
            stats("overhead.e2e.total", total)
            stats("overhead.e2e", overhead)
            emit("overhead.e2e.ack.p50_ms", percentile(acks, 50))
            emit("overhead.e2e.p50_over_target", percentile(overhead, 50) / TARGET_MS)
        finally:
            stack.stop()


def run(n: int, delay: float) -> None:
    logs = LogCounter().install()
    texts = proposals(n, off_topic=0)
    emit("overhead.llm.latency_ms", round(delay * 1000))
    emit("overhead.target_ms", TARGET_MS)
    note("overhead = wall time − (LLM requests × fixed LLM latency); every proposal is measured "
         "once, sequentially, after one warm-up call")
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        started = time.perf_counter()
        service_overhead(texts, delay, Path(tmp))
        emit("overhead.service.seconds", time.perf_counter() - started)
        started = time.perf_counter()
        e2e_overhead(texts, delay, Path(tmp))
        emit("overhead.e2e.seconds", time.perf_counter() - started)
    emit("overhead.log.warnings", sum(logs.counts.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proposals", type=int, help="proposals measured (default 60; "
                        "quick 20)")
    parser.add_argument("--llm-latency-ms", type=float, default=200.0,
                        help="the LLM server's fixed latency")
    parser.add_argument("--quick", action="store_true", help="fewer proposals")
    args = parser.parse_args(argv)
    n = args.proposals or (20 if args.quick else 60)
    return run_reported("overhead", lambda: run(max(1, n), args.llm_latency_ms / 1000))


if __name__ == "__main__":
    sys.exit(main())
