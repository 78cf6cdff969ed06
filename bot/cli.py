"""The `emptychair` command line: import, search, show, stats, ask, brief, doctor, serve …"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.config import Settings, load_settings
from bot.errors import EmptyChairError
from bot.models import Brief, ChairResponse

if TYPE_CHECKING:
    from bot.app import Components

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Empty Chair: the customer's voice in every Slack meeting.",
    pretty_exceptions_enable=False,
    # Typer's rich help labels every flag `<bool>`; click's plain help shows flags as flags.
    rich_markup_mode=None,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("emptychair")
    except PackageNotFoundError:
        from bot import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"emptychair {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.",
                           callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    """Empty Chair: the customer's voice in every Slack meeting."""

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database (default: $EMPTYCHAIR_DB).")
]


ALL_TIME_DAYS = 365 * 100
SWITCH_INTERVAL = 0.0005  # seconds; CPython's default is 0.005
VECTOR_NOTE_ROWS = 5000  # below this the one-off vector build is too quick to mention
# Sentence vectors an `ask` or `search` builds itself before answering: a few minutes at most.
SENTENCE_CLI_ROWS = 5000


def _settings() -> Settings:
    return load_settings()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


PLAIN_PROGRESS_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal


class Progress:
    """A progress bar on a terminal (stderr); elsewhere a plain line now and then, so logs of
    a long import show it is alive without filling up with bar redraws."""

    def __init__(self, tty: bool | None = None) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self._bar: Any = None
        self._task: Any = None
        self._label = ""
        self._total: int | None = None
        self._last = 0.0

    def start(self, label: str, total: int | None = None) -> None:
        self.stop()
        self._label, self._total = label, total
        self._last = time.monotonic()
        if self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(label, total=total)

    def update(self, done: int) -> None:
        if self._bar is not None:
            total = self._total if self._total is None else max(self._total, done)
            self._bar.update(self._task, completed=done, total=total)
            return
        now = time.monotonic()
        if now - self._last >= PLAIN_PROGRESS_EVERY:
            self._last = now
            of = f" of about {self._total:,}" if self._total else ""
            typer.echo(f"{self._label}: {done:,}{of}", err=True)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def estimated_rows(path: Path, fmt: str | None) -> int | None:
    """Lines in a CSV/TSV/JSONL file (a record may span lines: an upper bound); None for JSON
    and for anything that is not a regular file (a pipe can be read only once)."""
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind not in ("csv", "tsv", "jsonl", "ndjson") or not path.is_file():
        return None
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
    return max(0, lines - 1) if kind in ("csv", "tsv") else lines


@app.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="CSV, JSON or JSONL export.")],
    db: DbOption = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, json or jsonl (default: by extension).")
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="Column mapping COLUMN=FIELD (fields: id, created_at, text, "
                     "theme, channel, segment, severity). Repeatable."),
    ] = None,
    rebase_dates: Annotated[
        bool, typer.Option("--rebase-dates", help="Shift dates so the newest row is today "
                           "(for sample data).")
    ] = False,
    vectors: Annotated[
        bool | None, typer.Option("--vectors/--no-vectors",
                                  help="Build every vector before returning, or none (default: "
                                       "the sentence vectors of a store missing at most 5,000 "
                                       "now, everything else later: serve builds it in the "
                                       "background, ask and search on first use; the rows are "
                                       "searchable at once).")
    ] = None,
) -> None:
    """Import complaints; prints imported / duplicates skipped / rejected."""
    from bot.app import load_complaints, setup
    from bot.ingest import parse_mapping

    settings = _settings()
    if path.is_dir() or not path.exists():
        raise _fail(f"no such file: {path}")
    parsed = parse_mapping(mapping or [])
    components = setup(settings, db)
    progress = Progress()
    try:
        progress.start("importing rows", estimated_rows(path, fmt))
        summary = load_complaints(
            components, path, fmt=fmt, mapping=parsed,
            rebase_to=datetime.now(UTC) if rebase_dates else None, vectors=bool(vectors),
            progress=progress.update,
            before_vectors=progress.start,
            vector_progress=progress.update,
        )
    except OSError as exc:
        components.store.close()
        raise _fail(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        progress.stop()
    try:
        if summary.rejects_warning:
            typer.echo(f"warning: {summary.rejects_warning}", err=True)
        typer.echo(summary.line())
        warning = summary.stale_warning(settings.window_days)
        if warning:
            typer.echo(warning, err=True)
        if vectors is None:
            # The sentence encoder is slow: a store small enough gets its vectors now, while
            # the user expects to wait, so that the first search does not.
            _sentence_vectors_once(components, note=False)
    finally:
        components.store.close()


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="What to look for (a proposal or a phrase).")],
    db: DbOption = None,
    limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=500)] = 10,
    since: Annotated[int | None, typer.Option("--since", help="Only the last DAYS days.",
                                              min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The complaints most relevant to TEXT, best first (a complaint id finds that one first)."""
    from bot.app import setup
    from bot.models import ScoredComplaint

    settings = _settings()
    components = setup(settings, db, create=False)
    _note_stale(components, settings.window_days)
    _vectors_first(components)
    # Best first by score: theme diversity is for the bot's challenges, not for this listing.
    result = components.retriever.search(text, limit=limit, since_days=since or ALL_TIME_DAYS,
                                         diverse=False)
    hits = list(result.hits)
    exact = components.service.complaints.get([text.strip()]) if text.strip() else {}
    if exact:
        # A cited id pasted back must find its complaint, whatever words rank above it.
        match = next(iter(exact.values()))
        top = max([1.0, *(h.score for h in hits)])
        hits = [ScoredComplaint(complaint=match, score=top),
                *(h for h in hits if h.complaint.id != match.id)][:limit]
    if as_json:
        out = [
            {
                "id": h.complaint.id,
                "created_at": h.complaint.created_at.isoformat(),
                "theme": h.complaint.theme,
                "channel": h.complaint.channel,
                "text": h.complaint.text,
                "score": h.score,
            }
            for h in hits
        ]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not hits:
        typer.echo("No matching complaints.")
        return
    for h in hits:
        c = h.complaint
        snippet = " ".join(c.text.split())
        snippet = snippet[:160] + ("…" if len(snippet) > 160 else "")
        typer.echo(f"{h.score:.3f}  {c.id}  {c.created_at.date()}  [{c.theme}]  {snippet}")


@app.command()
def stats(
    db: DbOption = None,
    days: Annotated[int, typer.Option("--days", min=1, max=36_500)] = 28,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Complaint counts by week and theme."""
    from rich.console import Console
    from rich.table import Table

    from bot.app import setup

    settings = _settings()
    complaints = setup(settings, db, create=False).service.complaints
    rows = complaints.weekly_stats(days)
    total = complaints.count()
    newest = complaints.newest()
    if as_json:
        typer.echo(json.dumps({
            "total": total,
            "newest": newest.isoformat() if newest else None,
            "days": days,
            "weeks": [{"week": week, "theme": theme, "complaints": n} for week, theme, n in rows],
        }, ensure_ascii=False, indent=2))
        return
    console = Console(width=100)
    console.print(
        f"{total:,} complaints stored; newest "
        f"{newest.date().isoformat() if newest else '—'}; last {days} days by week:"
    )
    table = Table("week of", "theme", "complaints")
    for week, theme, n in rows:
        table.add_row(week, theme, str(n))
    console.print(table)


SHOWN_FIELDS = ("id", "created_at", "theme", "sub_theme", "channel", "segment", "severity",
                "source", "source_ref", "url", "visible_in")


@app.command()
def show(
    complaint_id: Annotated[str, typer.Argument(metavar="ID", help="A complaint id, e.g. as "
                                                "cited in an answer.")],
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """One complaint in full (redacted, as stored): its fields, link, attributes and text."""
    from bot.app import setup

    settings = _settings()
    found = setup(settings, db, create=False).service.complaints.get([complaint_id.strip()])
    if not found:
        raise _fail(f"no complaint with id {complaint_id!r}")
    complaint = next(iter(found.values()))
    data = complaint.model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    for name in SHOWN_FIELDS:
        typer.echo(f"{name + ':':<12}{data[name] if data[name] not in ('', None) else '—'}")
    if complaint.attributes:
        typer.echo("attributes:")
        for key, value in sorted(complaint.attributes.items()):
            typer.echo(f"  {key}: {value}")
    typer.echo("text:")
    for paragraph in complaint.text.splitlines() or [""]:
        typer.echo(textwrap.fill(paragraph, width=96, initial_indent="  ",
                                 subsequent_indent="  ") or "  ")


@app.command()
def ask(
    proposal: Annotated[str, typer.Argument(help="The proposal to challenge.")],
    db: DbOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the ChairResponse as JSON.")
    ] = False,
    window_days: Annotated[
        int | None, typer.Option("--window-days", min=1, max=36_500,
                                 help="Answer from the last N days (default: "
                                      "$EMPTYCHAIR_WINDOW_DAYS, 90).")
    ] = None,
) -> None:
    """What the customer in the empty chair would ask about PROPOSAL."""
    from bot.app import setup

    settings = _settings()
    if window_days is not None:
        settings = settings.model_copy(update={"window_days": window_days})
    components = setup(settings, db, create=False)
    _vectors_first(components)
    service = components.service
    response = service.challenge(proposal)
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    typer.echo(render_response(response))


def _vectors_first(components: Components) -> None:
    """Rows imported without vectors get them once, before the first answer that needs them
    (serve builds them in the background instead). The sentence encoder is about a thousand
    times slower than the static model, so a large backlog of its vectors is left to `serve`
    or `import --vectors`, and the search goes on without them meanwhile."""
    from bot.app import build_vectors, missing_vectors

    todo = missing_vectors(components)
    if todo:
        if todo >= VECTOR_NOTE_ROWS:
            typer.echo(f"building semantic vectors for {todo:,} complaints (once)…", err=True)
        build_vectors(components)
    _sentence_vectors_once(components, note=True)


def _sentence_vectors_once(components: Components, *, note: bool) -> None:
    """Build the missing sentence vectors when there are at most SENTENCE_CLI_ROWS; with
    `note`, say in one line why a larger backlog is left."""
    from bot.app import build_vectors, missing_vectors

    todo = missing_vectors(components, "sentence_vectors")
    if not todo:
        return
    if todo > SENTENCE_CLI_ROWS:
        if note:
            typer.echo(f"note: {todo:,} complaints have no sentence vectors yet, so the search "
                       "ranks them without the sentence encoder; `emptychair import FILE "
                       "--vectors` or a running `serve` builds them.", err=True)
        return
    progress = Progress()
    try:
        progress.start("building sentence vectors (once)", todo)
        build_vectors(components, progress.update, "sentence_vectors")
    finally:
        progress.stop()


def _note_stale(components: Components, window_days: int) -> None:
    """On stderr, so --json output stays clean: the bot answers only from the window."""
    newest = components.service.complaints.newest()
    if newest is not None and newest < datetime.now(UTC) - timedelta(days=window_days):
        typer.echo(
            f"note: the newest complaint stored is from {newest.date().isoformat()}, older than "
            f"the {window_days}-day window the bot answers from; widen it with "
            "EMPTYCHAIR_WINDOW_DAYS.", err=True,
        )


def render_response(response: ChairResponse) -> str:
    """Readable terminal text for a ChairResponse: the verdict, then each risk in full."""
    from bot.models import VERDICT_LABELS

    lines = [f"Proposal: {response.proposal}", ""]
    if response.stale and response.stale != response.no_signal:
        lines.append(response.stale)
    if response.no_signal:
        lines.append(response.no_signal)
    else:
        verdict = VERDICT_LABELS.get(response.verdict, response.verdict)
        reason = response.verdict_reason.rstrip(".")
        lines += [f"Verdict: {verdict}" + (f" — {reason}." if reason else ""), ""]
    marks = {"high": "[HIGH]", "medium": "[MEDIUM]", "low": "[LOW]"}
    for i, ch in enumerate(response.challenges, start=1):
        lines.append(f"{i}. {marks[ch.severity.value]} {ch.question}")
        lines.append(f"   Evidence: {ch.why_it_matters}")
        if ch.guardrail:
            lines.append(f"   Guardrail: {ch.guardrail}")
        lines.append(f"   Metric: {ch.what_would_answer_it}")
        shown: set[str] = set()
        for cid in ch.complaint_ids:
            cit = response.citation(cid)
            if cit is None or cit.id in shown:
                continue
            shown.add(cit.id)
            also = f" (and {len(cit.same_quote)} more saying the same)" if cit.same_quote else ""
            link = f" · {cit.url}" if cit.url else ""
            lines.append(f"     - {cit.id} · {cit.created_at} · {cit.theme} · "
                         f"“{cit.quote}”{also}{link}")
        lines.append("")
    writer = (
        f"the LLM ({response.model})" if response.writer == "llm" else "the offline writer"
    )
    footer = (
        f"Considered {response.considered} complaints from {response.period_start} to "
        f"{response.period_end} · answered by {writer}"
    )
    if response.fallback_reason:
        footer += f" (LLM unavailable: {response.fallback_reason})"
    lines.append(footer)
    return "\n".join(lines)


@app.command()
def brief(
    channel: Annotated[str, typer.Option("--channel", help="Slack channel id, e.g. C0123.")],
    db: DbOption = None,
    days: Annotated[int | None, typer.Option("--days", min=1, max=365,
                                             help="Cover the last N days.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print, do not post.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Brief as JSON.")] = False,
) -> None:
    """A channel's customer brief: printed with --dry-run, else posted to Slack."""
    from bot.app import build_web_client, setup

    settings = _settings()
    if not dry_run:
        settings.require_slack()  # before touching the database: a failed call changes nothing
    components = setup(settings, db, create=False)
    if not dry_run:
        from slack_sdk.errors import SlackClientError

        from bot.slack.briefs import post_brief

        try:
            ts = post_brief(build_web_client(settings), components.service, channel, days)
        except (SlackClientError, OSError) as exc:
            message = " ".join(str(exc).split())[:300]
            raise _fail(f"cannot post the brief to Slack ({settings.slack_api_base_url}): "
                        f"{message}") from None
        typer.echo(f"posted brief to {channel} (ts {ts})")
        return
    result = components.service.brief(channel, days=days)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
        return
    typer.echo(render_brief(result))


def render_brief(b: Brief) -> str:
    change = "new" if b.change_pct is None else f"{b.change_pct:+.0f}%"
    lines = [
        f"Customer brief for {b.channel_id}: {b.period_start:%Y-%m-%d %H:%M} to "
        f"{b.period_end:%Y-%m-%d %H:%M} UTC",
        f"{b.total} complaints ({change} vs {b.previous_total} in the period before)",
        *([b.stale] if b.stale else []),
        "",
        "Themes (this period / previous / change):",
    ]
    for t in b.themes:
        pct = "new" if t.change_pct is None else f"{t.change_pct:+.0f}%"
        lines.append(f"  {t.theme:<18} {t.count:>4} / {t.previous:<4} {pct}")
    if b.quotes:
        lines += ["", "In customers' words:"]
        lines += [f"  “{q.quote}” ({q.id}, {q.created_at}, {q.theme})" for q in b.quotes]
    if b.open_challenges:
        lines += ["", "Still open:"] + [f"  - {q}" for q in b.open_challenges]
    writer = "LLM" if b.writer == "llm" else "offline writer"
    lines += ["", b.summary, "", f"(summary by the {writer})"]
    return "\n".join(lines)


@app.command()
def doctor(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    skip_llm: Annotated[bool, typer.Option(
        "--skip-llm", help="Do not ask the LLM server (for frequent health checks).")] = False,
) -> None:
    """Which database, how many rows and dates, the window, the LLM, Slack and the schedules.

    Exits 1 when the bot could not answer: no readable database, or a running Socket Mode
    bot whose heartbeat has stopped.
    """
    from bot.app import diagnose

    report = diagnose(_settings(), db, check_llm_server=not skip_llm)
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(render_doctor(report))
    if not report["ok"]:
        raise typer.Exit(1)


def render_doctor(report: dict[str, Any]) -> str:
    d, w, llm, slack = report["database"], report["window"], report["llm"], report["slack"]
    lines = [f"database:  {d['path']} ({'exists' if d['exists'] else 'missing'})"]
    if d["error"]:
        lines.append(f"           unreadable: {d['error']}")
    if d["rows"] is not None:
        span = (f", {d['oldest'][:10]} to {d['newest'][:10]}" if d["oldest"] and d["newest"]
                else "")
        lines.append(f"rows:      {d['rows']:,} complaints{span}")
        lines.append(f"window:    last {w['days']} days, {w['rows']:,} complaints in it")
    else:
        lines.append(f"window:    last {w['days']} days")
    if not llm["configured"]:
        lines.append("LLM:       not configured; the offline writer answers")
    elif llm["answering"] is None:
        lines.append(f"LLM:       {llm['model']} (not checked)")
    else:
        state = "answering" if llm["answering"] else "not answering (the offline writer answers)"
        lines.append(f"LLM:       {llm['model']} at {llm['base_url']}: {state}; {llm['detail']}")
    tokens = ", ".join(f"{name} {'set' if slack[key] else 'missing'}" for key, name in (
        ("bot_token", "SLACK_BOT_TOKEN"), ("signing_secret", "SLACK_SIGNING_SECRET"),
        ("app_token", "SLACK_APP_TOKEN")))
    mode = "Socket Mode" if slack["mode"] == "socket" else "HTTP"
    lines.append(f"Slack:     {mode} ({tokens})")
    sch = report["schedules"]
    if sch["stored"] is not None:
        lines.append(f"schedules: {sch['stored']} stored ({sch['cron']} cron, "
                     f"{sch['calendar']} calendar)")
    beat = report["heartbeat"]
    if beat is not None:
        state = "connected" if beat["connected"] else "not connected"
        lines.append(f"heartbeat: {beat['age_seconds']:g} s ago, {state}")
    lines.append("status:    ok" if report["ok"] else
                 "status:    " + "; ".join(report["problems"]))
    return "\n".join(lines)


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="HTTP mode: bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP mode: port.")] = None,
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on /slack/events."""
    from bot.app import health, setup, start_vector_builder
    from bot.logs import configure_logging
    from bot.slack.server import HttpServer

    settings = _settings()
    settings.require_slack()
    configure_logging(settings.log_level)
    # Answers are CPU work on threads of this process; an ack waiting for the GIL behind them
    # waits one switch interval per hand-over, so a short one keeps acks prompt under load.
    sys.setswitchinterval(SWITCH_INTERVAL)
    components = setup(settings, db, slack=True, scheduler=True)
    assert components.bolt is not None and components.scheduler is not None
    from bot.sync import schedule_syncs

    schedule_syncs(components.scheduler, settings, components.store)
    start_vector_builder(components)
    if settings.socket_mode:
        typer.echo("Empty Chair connecting to Slack in Socket Mode…", err=True)
        _serve_socket_mode(components, db)
        return
    bind_host, bind_port = host or settings.host, port if port is not None else settings.port
    try:
        server = HttpServer(components.bolt, bind_host, bind_port,
                            health=lambda: health(components),
                            foreground=components.foreground)
    except OSError as exc:
        raise _fail(f"cannot listen on {bind_host}:{bind_port}: {exc.strerror or exc}") from None
    components.scheduler.start()
    typer.echo(f"Empty Chair listening on {server.url} (health: /healthz)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


def _serve_socket_mode(components: Components, db: Path | None) -> None:
    """Connect, then keep the heartbeat file `doctor` (the container's health check) reads."""
    from bot.app import HEARTBEAT_SECONDS, heartbeat_path, start_socket_mode, write_heartbeat

    handler = start_socket_mode(components)
    assert components.scheduler is not None
    components.scheduler.start()
    beat = heartbeat_path(components.settings, db)
    warned = False
    try:
        while True:
            try:
                write_heartbeat(beat, connected=bool(handler.client.is_connected()),
                                mode="socket")
            except OSError as exc:
                if not warned:
                    typer.echo(f"warning: cannot write the heartbeat file {beat}: "
                               f"{exc.strerror or exc}", err=True)
                    warned = True
            time.sleep(HEARTBEAT_SECONDS)
    except KeyboardInterrupt:
        handler.close()


sync_app = typer.Typer(help="Pull new, updated and deleted tickets from a help desk.",
                       no_args_is_help=True)
app.add_typer(sync_app, name="sync")

SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Start from DATE (e.g. 2026-01-31) instead of the stored "
                 "cursor; the first run otherwise starts from the beginning."),
]
SyncVectorsOption = Annotated[
    bool, typer.Option("--vectors/--no-vectors", help="Compute semantic vectors now.")
]


def _sync(source: str, db: Path | None, since: str | None, vectors: bool) -> None:
    from bot.app import build_embedder, build_store
    from bot.ingest import parse_date
    from bot.retrieval import index_vectors
    from bot.sync import run_sync
    from bot.sync.intercom import intercom_client
    from bot.sync.zendesk import zendesk_client

    settings = _settings()
    start = None
    if since is not None:
        start = parse_date(since)
        if start is None:
            raise _fail(f"--since: cannot read the date {since!r} (e.g. 2026-01-31)")
    # Missing settings fail before the database is created or touched.
    (zendesk_client if source == "zendesk" else intercom_client)(settings).close()
    store = build_store(settings, db)
    summary = run_sync(source, store, settings, since=start)
    if vectors and (summary.imported or summary.updated):
        embedder = build_embedder(settings)
        if embedder is not None:
            index_vectors(store, embedder)
    for line in summary.reject_lines():
        typer.echo(line, err=True)
    typer.echo(summary.line())


@sync_app.command("zendesk")
def sync_zendesk_cmd(db: DbOption = None, since: SinceOption = None,
                     vectors: SyncVectorsOption = True) -> None:
    """Zendesk tickets changed since the last run (incremental export, cursor-based)."""
    _sync("zendesk", db, since, vectors)


@sync_app.command("intercom")
def sync_intercom_cmd(db: DbOption = None, since: SinceOption = None,
                      vectors: SyncVectorsOption = True) -> None:
    """Intercom conversations updated since the last run."""
    _sync("intercom", db, since, vectors)


@app.command("manifest")
def manifest_cmd(
    url: Annotated[str | None, typer.Option(
        help="Public https:// base URL: print the manifest for HTTP mode.")] = None,
) -> None:
    """Print the Slack app manifest (Socket Mode, or HTTP mode with --url)."""
    from bot.slack.manifest import manifest

    if url is not None and not url.startswith("https://"):
        raise _fail("--url must start with https:// (Slack only calls HTTPS request URLs)")
    typer.echo(json.dumps(manifest(url), indent=2))


def _sandbox(db: Path | None, llm_url: str | None, run: str) -> None:
    import tempfile

    from bot.sandbox.repl import run_demo, run_repl
    from bot.sandbox.stack import SandboxStack

    with tempfile.TemporaryDirectory(prefix="emptychair-") as tmp:
        path = db or Path(tmp) / "sandbox.db"
        stack = SandboxStack(path, llm_base_url=llm_url or "", load_sample=db is None,
                             base_settings=_settings())
        with stack:
            if db is None:
                typer.echo(f"Sample complaints loaded: {stack_summary(stack)}")
            typer.echo(f"Local Slack on {stack.emulator.base_url} · bot on {stack.http.url}\n")
            (run_demo if run == "demo" else run_repl)(stack)


def stack_summary(stack: object) -> str:
    complaints = stack.components.service.complaints  # type: ignore[attr-defined]
    newest = complaints.newest()
    return f"{complaints.count():,} complaints, newest {newest.date() if newest else '—'}"


LlmUrlOption = Annotated[
    str | None,
    typer.Option("--llm-url", help="An OpenAI-compatible server for the sandbox (default: the "
                 "offline writer)."),
]


@app.command()
def sandbox(db: DbOption = None, llm_url: LlmUrlOption = None) -> None:
    """Type as a channel user in a local Slack and see the real bot answer (no workspace)."""
    _sandbox(db, llm_url, "repl")


@app.command()
def demo(db: DbOption = None, llm_url: LlmUrlOption = None) -> None:
    """A scripted sandbox conversation on the sample complaints."""
    _sandbox(db, llm_url, "demo")


def main() -> None:
    """Console-script entry point: project errors become one line and exit code 1."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        app()
    except EmptyChairError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(1) from None
    except sqlite3.Error as exc:
        # A locked, corrupt or foreign database file is the user's to fix, not a bug report.
        typer.echo(f"error: database: {' '.join(str(exc).split())}", err=True)
        raise SystemExit(1) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        typer.echo(f"error:{where} {exc.strerror or exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
