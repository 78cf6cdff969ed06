"""Shared fixtures: no traffic beyond loopback, real SQLite files, sample data."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.models import Complaint
from bot.store.db import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CSV = ROOT / "data" / "sample_complaints.csv"
CFPB_CSV = ROOT.parent / "shared" / "data" / "cfpb_complaints.csv"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like never leave the machine
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach a non-loopback address fails the test loudly."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if not _is_loopback(host):
            raise RuntimeError(f"test tried to reach a non-loopback address: {address!r}")

    def connect(self: socket.socket, address: object) -> None:
        guard(address)
        return real_connect(self, address)  # type: ignore[arg-type]

    def connect_ex(self: socket.socket, address: object) -> int:
        guard(address)
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if isinstance(host, bytes):
            host = host.decode()
        guard((host, 0))
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's tokens or .env."""
    for name in (
        "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_BASE_URL",
        "OPENAI_API_KEY", "OPENAI_BASE_URL", "EMPTYCHAIR_MODEL", "EMPTYCHAIR_DB",
        "EMPTYCHAIR_HOST", "EMPTYCHAIR_PORT", "EMPTYCHAIR_TIMEZONE",
    ):
        monkeypatch.delenv(name, raising=False)
    # The sentence encoder builds about 80 vectors a second: its own tests turn it on
    # (test_sentence_search.py); everywhere else it would only add minutes of vector building.
    monkeypatch.setenv("EMPTYCHAIR_SENTENCE_ENCODER", "false")
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "test.db")
    yield s
    s.close()


def complaint(
    cid: str, text: str, *, theme: str = "general", days_ago: float = 1.0, now: datetime = NOW,
    severity: str = "", channel: str = "email",
) -> Complaint:
    return Complaint(
        id=cid, created_at=now - timedelta(days=days_ago), text=text, theme=theme,
        severity=severity, channel=channel,
    )
