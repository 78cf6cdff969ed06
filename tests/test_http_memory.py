"""Memory under hostile bodies: `emptychair serve` in a process of its own, four 100 MB POSTs."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sandbox.emulator import SlackEmulator

MB = 1024 * 1024
BODY_BYTES = 100 * MB
PIECE = b"x" * (64 * 1024)  # one buffer, sent again and again: the client never holds 100 MB
GROWTH_ALLOWED = 50 * MB
LISTENING = "Empty Chair listening on http://"


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/{pid}/status")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, int]]:
    """`emptychair serve` over HTTP on 127.0.0.1 (a free port), talking to a local emulator."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    emulator = SlackEmulator().start()
    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "OPENAI_", "EMPTYCHAIR_"))}
    env.update({
        "SLACK_BOT_TOKEN": "xoxb-sandbox-token", "SLACK_SIGNING_SECRET": "memory-secret",
        "SLACK_API_BASE_URL": emulator.base_url, "EMPTYCHAIR_DB": str(tmp_path / "bot.db"),
        "EMPTYCHAIR_HOST": "127.0.0.1", "EMPTYCHAIR_PORT": "0", "EMPTYCHAIR_SEMANTIC": "0",
        "EMPTYCHAIR_LOG_LEVEL": "WARNING",
    })
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve"], env=env,
                                cwd=tmp_path, stdout=log, stderr=log,
                                start_new_session=True)
    try:
        host_port = ""
        deadline = time.time() + 60
        while not host_port and time.time() < deadline and proc.poll() is None:
            for line in log_path.read_text(errors="replace").splitlines():
                if LISTENING in line:
                    host_port = line.split(LISTENING, 1)[1].split("/", 1)[0]
            time.sleep(0.1)
        assert host_port, log_path.read_text(errors="replace")
        host, port = host_port.rsplit(":", 1)
        yield proc, host, int(port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        emulator.stop()


def hostile_post(host: str, port: int, *, chunked: bool, results: list[object]) -> None:
    """An unsigned (wrongly signed) 100 MB POST to /slack/events, streamed piece by piece."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest("POST", "/slack/events", skip_accept_encoding=True)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("X-Slack-Request-Timestamp", str(int(time.time())))
        conn.putheader("X-Slack-Signature", "v0=" + "0" * 64)
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(BODY_BYTES))
        conn.endheaders()
        try:
            for _ in range(BODY_BYTES // len(PIECE)):
                if chunked:
                    conn.send(b"%x\r\n" % len(PIECE))
                conn.send(PIECE)
                if chunked:
                    conn.send(b"\r\n")
            if chunked:
                conn.send(b"0\r\n\r\n")
        except OSError:
            pass  # the server stopped listening to the body: what it should do
        try:
            results.append(conn.getresponse().status)
        except OSError as exc:
            results.append(type(exc).__name__)  # refused and closed before we read the answer
    finally:
        conn.close()


def get(host: str, port: int, path: str) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def test_four_concurrent_100mb_unsigned_posts_barely_move_the_server_rss(
    served: tuple[subprocess.Popen[bytes], str, int],
) -> None:
    proc, host, port = served
    assert host == "127.0.0.1"  # serve binds where it is configured
    # Warm up: the first requests import and allocate what every later request reuses.
    assert get(host, port, "/healthz") == 200
    warm: list[object] = []
    hostile_post(host, port, chunked=True, results=warm)
    baseline = status_kb(proc.pid, "VmRSS") * 1024
    try:  # reset the peak so VmHWM reports the peak under attack only
        Path(f"/proc/{proc.pid}/clear_refs").write_text("5")
        peak_resettable = True
    except OSError:
        peak_resettable = False

    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], status_kb(proc.pid, "VmRSS") * 1024)
            time.sleep(0.005)

    results: list[object] = []
    sampler = threading.Thread(target=sample)
    senders = [threading.Thread(target=hostile_post, args=(host, port),
                                kwargs={"chunked": n % 2 == 1, "results": results})
               for n in range(4)]
    sampler.start()
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    time.sleep(0.2)
    done.set()
    sampler.join()
    if peak_resettable:
        peak[0] = max(peak[0], status_kb(proc.pid, "VmHWM") * 1024)

    growth = peak[0] - baseline
    print(f"server rss baseline: {baseline / MB:.1f} MB; peak growth under four 100 MB posts: "
          f"{growth / MB:.1f} MB; answers: {results}")
    assert growth < GROWTH_ALLOWED
    assert len(results) == 4
    # Whatever answer a client managed to read was a refusal of the size, never a 401 that
    # would mean the whole body had been read to check its signature.
    assert all(r == 413 or isinstance(r, str) for r in results), results
    assert get(host, port, "/healthz") == 200
