"""Composition root: the only place that builds concrete objects and wires them together."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.errors import EmptyChairError
from bot.foreground import Foreground
from bot.retrieval import Retriever
from bot.store.db import Store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import numpy as np
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.embedding import Embedder
    from bot.importer import ImportSummary
    from bot.llm import LLMClient
    from bot.models import Schedule
    from bot.retrieval import Encoder, VectorBuilder
    from bot.scheduler import BriefScheduler
    from bot.sentence_encoder import SentenceEncoder
    from bot.service import ChairService
    from bot.store.complaints import VectorTable

log = logging.getLogger(__name__)

# Socket Mode has no port to probe: `serve` rewrites this file while connected, and `doctor`
# (the container's health check) calls a heartbeat older than HEARTBEAT_STALE a failure.
HEARTBEAT_SECONDS = 30.0
HEARTBEAT_STALE = 3 * HEARTBEAT_SECONDS
LLM_CHECK_TIMEOUT = 3.0


class SlackUnreachable(EmptyChairError):
    """Slack (or whatever SLACK_API_BASE_URL names) refused or never answered at start-up."""


def build_store(settings: Settings, db: Path | None = None, *, create: bool = True) -> Store:
    """The database; `create=False` (commands that only read) refuses a path with no file."""
    return Store(db or settings.db_path, create=create)


def build_embedder(settings: Settings) -> Embedder | None:
    if not settings.semantic:
        return None
    from bot.embedding import load_embedder

    return load_embedder()


def build_encoder(settings: Settings) -> SentenceEncoder | None:
    """The MiniLM sentence encoder, or None when it is switched off or not installed."""
    if not (settings.semantic and settings.sentence_encoder):
        return None
    from bot.sentence_encoder import load_encoder

    return load_encoder()


def build_retriever(
    settings: Settings, store: Store, embedder: Embedder | None = None,
    foreground: Foreground | None = None, encoder: SentenceEncoder | None = None,
) -> Retriever:
    return Retriever(store, embedder if embedder is not None else build_embedder(settings),
                     window_days=settings.window_days, foreground=foreground, encoder=encoder)


def build_llm(settings: Settings) -> LLMClient | None:
    from bot.llm import build_llm as make

    return make(settings)


def build_web_client(settings: Settings) -> WebClient:
    """Slack's Web API client (or the sandbox's, through SLACK_API_BASE_URL)."""
    from bot.slack.app import build_web_client as make

    return make(settings)


@dataclass
class Components:
    """Everything one process runs on; the Slack parts exist only when `setup` was asked."""

    settings: Settings
    store: Store
    retriever: Retriever
    service: ChairService
    embedder: Embedder | None = None
    encoder: SentenceEncoder | None = None
    client: WebClient | None = None
    scheduler: BriefScheduler | None = None
    bolt: App | None = field(default=None, repr=False)
    foreground: Foreground = field(default_factory=Foreground)


def setup(
    settings: Settings,
    db: Path | None = None,
    *,
    create: bool = True,
    slack: bool = False,
    scheduler: bool = False,
    client: WebClient | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Components:
    """The one setup every entry point calls (CLI, `serve`, sandbox, scheduler, benchmarks).

    `slack` adds the Bolt app and `scheduler` the brief scheduler (not started), both talking
    through `client` (default: a WebClient from the settings). A Slack that cannot be reached
    raises SlackUnreachable, a one-line project error.
    """
    from bot.briefs import BriefWriter
    from bot.prompts import PromptLibrary
    from bot.service import ChairService
    from bot.store.complaints import ComplaintStore
    from bot.store.events import EventLog
    from bot.store.feedback import FeedbackStore
    from bot.store.schedules import ScheduleStore

    store = build_store(settings, db, create=create)
    embedder = build_embedder(settings)
    encoder = build_encoder(settings)
    foreground = Foreground()
    retriever = build_retriever(settings, store, embedder, foreground, encoder)
    llm = build_llm(settings)
    prompts = PromptLibrary(settings.prompts_dir)
    now = clock or (lambda: datetime.now(UTC))
    service = ChairService(
        store=store,
        retriever=retriever,
        llm=llm,
        prompts=prompts,
        window_days=settings.window_days,
        token_budget=settings.prompt_token_budget,
        llm_retrieval=settings.llm_retrieval,
        clock=now,
        complaints=ComplaintStore(store),
        feedback=FeedbackStore(store),
        events=EventLog(store),
        schedules=ScheduleStore(store),
        briefs=BriefWriter(store, llm=llm, prompts=prompts, clock=now),
    )
    components = Components(settings, store, retriever, service, embedder, encoder,
                            foreground=foreground)
    if slack or scheduler:
        components.client = client or build_web_client(settings)
    if scheduler:
        assert components.client is not None
        components.scheduler = build_scheduler(components, components.client, clock)
    if slack:
        changed = components.scheduler.sync if components.scheduler is not None else None
        components.bolt = build_slack_app(components, components.client,
                                          on_schedules_changed=changed)
    return components


def build_components(
    settings: Settings, db: Path | None = None, *, create: bool = True
) -> Components:
    """The store, retrieval and service without Slack (kept for callers of the old name)."""
    return setup(settings, db, create=create)


def build_slack_app(
    components: Components,
    client: WebClient | None = None,
    on_schedules_changed: Callable[[], None] | None = None,
) -> App:
    """The Bolt app with every listener, talking to Slack (or the sandbox, via the base URL)."""
    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackClientError

    from bot.slack.app import build_bolt_app

    try:
        with _quiet_slack_logs():
            return build_bolt_app(components.settings, components.service, client,
                                  on_schedules_changed=on_schedules_changed,
                                  foreground=components.foreground)
    except OSError as exc:
        raise SlackUnreachable(
            f"cannot reach Slack at {components.settings.slack_api_base_url}: {_one_line(exc)}"
        ) from None
    except (BoltError, SlackClientError) as exc:
        # Bolt checks the token with auth.test while it is built.
        raise SlackUnreachable(
            f"Slack at {components.settings.slack_api_base_url} did not accept the bot token: "
            f"{_one_line(exc)}"
        ) from None


def build_scheduler(
    components: Components, client: WebClient, clock: Callable[[], datetime] | None = None
) -> BriefScheduler:
    """Scheduled briefs, posted through `client` (Slack's or the sandbox's)."""
    from bot.calendar_feed import AllowList, CalendarCache, FeedFetcher
    from bot.scheduler import BriefScheduler
    from bot.slack.briefs import post_brief

    def post(schedule: Schedule, occurrence: datetime) -> str:
        return post_brief(client, components.service, schedule.channel_id)

    feeds = FeedFetcher(AllowList.parse(components.settings.calendar_allow_hosts))
    return BriefScheduler(components.store, post, clock=clock,
                          timezone=components.settings.timezone,
                          calendars=CalendarCache(feeds, clock=clock))


def start_socket_mode(components: Components) -> Any:
    """Connect the Bolt app over Socket Mode without blocking; returns the handler."""
    from slack_sdk.errors import SlackClientError

    from bot.slack.server import start_socket_mode as connect

    assert components.bolt is not None, "setup(..., slack=True) first"
    try:
        with _quiet_slack_logs():
            return connect(components.bolt, components.settings.slack_app_token, block=False)
    except (SlackClientError, OSError) as exc:
        raise SlackUnreachable(
            f"cannot open a Socket Mode connection through "
            f"{components.settings.slack_api_base_url}: {_one_line(exc)}"
        ) from None


@contextmanager
def _quiet_slack_logs() -> Iterator[None]:
    """At start-up a refused connection is reported once, as SlackUnreachable; the SDK's own
    error and retry lines would bury that one line."""
    loggers = [logging.getLogger(name) for name in ("slack_sdk", "slack_bolt", "bot.slack.bolt")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


# -- complaints in, vectors built ------------------------------------------------------------


class _CountingEncoder:
    """Passes encode() through and reports how many texts went by (vector progress)."""

    def __init__(self, inner: Encoder, progress: Callable[[int], None]) -> None:
        self._inner = inner
        self._progress = progress
        self._done = 0
        self.dim = inner.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = self._inner.encode(list(texts))
        self._done += len(texts)
        self._progress(self._done)
        return out


def start_vector_builder(components: Components) -> VectorBuilder | None:
    """`serve`: vectors for rows imported without them are built on a background thread while
    the bot already answers (lexically for those rows until then)."""
    if components.embedder is None and components.encoder is None:
        return None
    from bot.retrieval import VectorBuilder

    return VectorBuilder(components.store, components.embedder, encoder=components.encoder,
                         foreground=components.foreground).start()


def _model_for(components: Components, table: VectorTable) -> Encoder | None:
    """What builds the vectors of `table`: the static model or the sentence encoder."""
    return components.embedder if table == "complaint_vectors" else components.encoder


def missing_vectors(components: Components, table: VectorTable = "complaint_vectors") -> int:
    """How many complaints still lack a vector of `table` (0 when nothing would build it)."""
    from bot.store.complaints import ComplaintStore

    if _model_for(components, table) is None:
        return 0
    return ComplaintStore(components.store).count_missing_vectors(table)


def build_vectors(components: Components, progress: Callable[[int], None] | None = None,
                  table: VectorTable = "complaint_vectors") -> int:
    """Compute the missing vectors of `table` (none without its model)."""
    from bot.retrieval import SENTENCE_BATCH, index_vectors

    model = _model_for(components, table)
    if model is None:
        return 0
    if progress is not None:
        model = _CountingEncoder(model, progress)
    batch = 2000 if table == "complaint_vectors" else SENTENCE_BATCH
    return index_vectors(components.store, model, table=table, batch=batch)


def load_complaints(
    components: Components,
    path: Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    rebase_to: datetime | None = None,
    vectors: bool = True,
    progress: Callable[[int], None] | None = None,
    before_vectors: Callable[[str, int], None] | None = None,
    vector_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import an export, then compute its vectors: what `import` and the sandbox both do.

    `progress` gets rows read; `before_vectors` what is built next and how many vectors (only
    called when there are some); `vector_progress` vectors built so far.
    """
    from bot.importer import run_import

    settings = components.settings
    summary = run_import(
        components.store, path, fmt=fmt, mapping=mapping, rebase_to=rebase_to,
        progress=progress,
        window_start=datetime.now(UTC) - timedelta(days=settings.window_days),
    )
    if vectors:
        builds: tuple[tuple[VectorTable, str], ...] = (
            ("complaint_vectors", "building vectors"),
            ("sentence_vectors", "building sentence vectors"))
        for table, label in builds:
            todo = missing_vectors(components, table)
            if todo and before_vectors is not None:
                before_vectors(label, todo)
            if todo:
                build_vectors(components, vector_progress, table)
    return summary


# -- health and diagnosis --------------------------------------------------------------------


def health(components: Components) -> dict[str, object]:
    """What /healthz reports: the store answers and how fresh it is."""
    complaints = components.service.complaints
    newest = complaints.newest()
    return {"complaints": complaints.count(), "newest": newest.isoformat() if newest else None}


def heartbeat_path(settings: Settings, db: Path | None = None) -> Path:
    path = Path(db or settings.db_path)
    return path.with_name(path.name + ".heartbeat")


def write_heartbeat(path: Path, *, connected: bool, mode: str) -> None:
    """Atomically, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"at": time.time(), "connected": connected, "mode": mode}),
                   encoding="utf-8")
    tmp.replace(path)


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("at"), int | float):
        return None
    age = max(0.0, time.time() - float(data["at"]))
    return {"age_seconds": round(age, 1), "connected": bool(data.get("connected")),
            "mode": str(data.get("mode", "")),
            "fresh": age <= HEARTBEAT_STALE and bool(data.get("connected"))}


def check_llm(settings: Settings, timeout: float = LLM_CHECK_TIMEOUT) -> dict[str, Any]:
    """Is an LLM configured, and does its server answer `GET /models` within `timeout`?"""
    from bot.llm import OPENAI_BASE_URL

    if not settings.llm_configured:
        return {"configured": False, "answering": None, "model": None, "base_url": None,
                "detail": "offline writer (set OPENAI_API_KEY or OPENAI_BASE_URL for an LLM)"}
    base = (settings.openai_base_url or OPENAI_BASE_URL).rstrip("/")
    out: dict[str, Any] = {"configured": True, "answering": False, "model": settings.model,
                           "base_url": base}
    request = urllib.request.Request(base + "/models", method="GET")
    if settings.openai_api_key:
        request.add_header("Authorization", f"Bearer {settings.openai_api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            out["answering"] = 200 <= response.status < 300
            out["detail"] = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        out["detail"] = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        out["detail"] = _one_line(reason if isinstance(reason, BaseException)
                                  else Exception(str(reason)))
    return out


def diagnose(
    settings: Settings, db: Path | None = None, *, check_llm_server: bool = True,
    now: datetime | None = None,
) -> dict[str, Any]:
    """`emptychair doctor`: the database, the window, the LLM, Slack and the schedules.

    `ok` is false only for what stops the bot from answering: no readable database, or (in a
    running Socket Mode bot) a stale heartbeat. An LLM that does not answer is reported, but
    the offline writer answers instead, so it does not make `ok` false.
    """
    from bot.store.complaints import ComplaintStore, from_iso
    from bot.store.schedules import ScheduleStore

    now = now or datetime.now(UTC)
    path = Path(db or settings.db_path)
    database: dict[str, Any] = {"path": str(path), "exists": path.is_file(), "rows": None,
                                "oldest": None, "newest": None, "error": None}
    window: dict[str, Any] = {"days": settings.window_days, "rows": None}
    schedules: dict[str, Any] = {"stored": None, "cron": None, "calendar": None}
    problems: list[str] = []
    if database["exists"]:
        try:
            store = Store(path, create=False)
            try:
                complaints = ComplaintStore(store)
                database["rows"] = complaints.count()
                oldest, newest = store.conn.execute(
                    "SELECT min(created_at), max(created_at) FROM complaints").fetchone()
                database["oldest"] = from_iso(oldest).isoformat() if oldest else None
                database["newest"] = from_iso(newest).isoformat() if newest else None
                window["rows"] = complaints.count(now - timedelta(days=settings.window_days))
                stored = ScheduleStore(store).list()
                schedules = {"stored": len(stored),
                             "cron": sum(1 for s in stored if s.kind == "cron"),
                             "calendar": sum(1 for s in stored if s.kind == "calendar")}
            finally:
                store.close()
        except Exception as exc:  # a corrupt or foreign file is a finding, not a crash
            database["error"] = _one_line(exc)
            problems.append(f"database unreadable: {database['error']}")
    else:
        problems.append(f"no database at {path} (run `emptychair import FILE` first)")
    slack = {
        "bot_token": bool(settings.slack_bot_token),
        "signing_secret": bool(settings.slack_signing_secret),
        "app_token": bool(settings.slack_app_token),
        "mode": "socket" if settings.socket_mode else "http",
        "api_base_url": settings.slack_api_base_url,
    }
    beat = read_heartbeat(heartbeat_path(settings, db))
    if beat is not None and not beat["fresh"]:
        problems.append("the running bot's heartbeat is stale or it is not connected to Slack")
    llm = check_llm(settings) if check_llm_server else {
        "configured": settings.llm_configured, "answering": None,
        "model": settings.model if settings.llm_configured else None,
        "base_url": None, "detail": "not checked"}
    return {
        "ok": not problems,
        "problems": problems,
        "database": database,
        "window": window,
        "llm": llm,
        "slack": slack,
        "heartbeat": beat,
        "schedules": schedules,
    }
