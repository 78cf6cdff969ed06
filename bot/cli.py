"""The `emptychair` command line: import, search, stats, ask, brief, serve, sandbox, demo."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings, load_settings
from bot.errors import EmptyChairError
from bot.models import Brief, ChairResponse
from bot.store.db import Store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Empty Chair: the customer's voice in every Slack meeting.",
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    Path | None, typer.Option("--db", help="SQLite database (default: $EMPTYCHAIR_DB).")
]


ALL_TIME_DAYS = 365 * 100


def _settings() -> Settings:
    return load_settings()


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


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
        bool, typer.Option("--vectors/--no-vectors", help="Compute semantic vectors now.")
    ] = True,
) -> None:
    """Import complaints; prints imported / duplicates skipped / rejected."""
    from bot.app import build_embedder, build_store
    from bot.importer import run_import
    from bot.ingest import parse_mapping
    from bot.retrieval import index_vectors

    settings = _settings()
    if not path.is_file():
        raise _fail(f"no such file: {path}")
    store = build_store(settings, db)
    progress_cb = None
    status = None
    if sys.stderr.isatty():
        from rich.console import Console

        status = Console(stderr=True).status("importing…")
        status.start()

        def progress_cb(n: int) -> None:
            status.update(f"importing… {n:,} rows read")

    try:
        summary = run_import(
            store, path, fmt=fmt, mapping=parse_mapping(mapping or []),
            rebase_to=datetime.now(UTC) if rebase_dates else None, progress=progress_cb,
            window_start=datetime.now(UTC) - timedelta(days=settings.window_days),
        )
        if vectors:
            embedder = build_embedder(settings)
            if embedder is not None:
                if status is not None:
                    status.update("computing semantic vectors…")
                index_vectors(store, embedder)
    finally:
        if status is not None:
            status.stop()
    typer.echo(summary.line())
    warning = summary.stale_warning(settings.window_days)
    if warning:
        typer.echo(warning, err=True)


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="What to look for (a proposal or a phrase).")],
    db: DbOption = None,
    limit: Annotated[int, typer.Option("--limit", "-k", min=1, max=500)] = 10,
    since: Annotated[int | None, typer.Option("--since", help="Only the last DAYS days.",
                                              min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The complaints most relevant to TEXT, best first."""
    from bot.app import build_retriever, build_store

    settings = _settings()
    store = build_store(settings, db, create=False)
    retriever = build_retriever(settings, store)
    _note_stale(store, settings.window_days)
    # Best first by score: theme diversity is for the bot's challenges, not for this listing.
    result = retriever.search(text, limit=limit, since_days=since or ALL_TIME_DAYS, diverse=False)
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
            for h in result.hits
        ]
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not result.hits:
        typer.echo("No matching complaints.")
        return
    for h in result.hits:
        c = h.complaint
        snippet = " ".join(c.text.split())
        snippet = snippet[:160] + ("…" if len(snippet) > 160 else "")
        typer.echo(f"{h.score:.3f}  {c.id}  {c.created_at.date()}  [{c.theme}]  {snippet}")


@app.command()
def stats(
    db: DbOption = None,
    days: Annotated[int, typer.Option("--days", min=1)] = 28,
) -> None:
    """Complaint counts by week and theme."""
    from rich.console import Console
    from rich.table import Table

    from bot.app import build_store
    from bot.store.complaints import ComplaintStore

    settings = _settings()
    complaints = ComplaintStore(build_store(settings, db, create=False))
    rows = complaints.weekly_stats(days)
    total = complaints.count()
    newest = complaints.newest()
    console = Console(width=100)
    console.print(
        f"{total:,} complaints stored; newest "
        f"{newest.date().isoformat() if newest else '—'}; last {days} days by week:"
    )
    table = Table("week of", "theme", "complaints")
    for week, theme, n in rows:
        table.add_row(week, theme, str(n))
    console.print(table)


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
    from bot.app import build_components

    settings = _settings()
    if window_days is not None:
        settings = settings.model_copy(update={"window_days": window_days})
    service = build_components(settings, db, create=False).service
    response = service.challenge(proposal)
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    typer.echo(render_response(response))


def _note_stale(store: Store, window_days: int) -> None:
    """On stderr, so --json output stays clean: the bot answers only from the window."""
    from bot.store.complaints import ComplaintStore

    newest = ComplaintStore(store).newest()
    if newest is not None and newest < datetime.now(UTC) - timedelta(days=window_days):
        typer.echo(
            f"note: the newest complaint stored is from {newest.date().isoformat()}, older than "
            f"the {window_days}-day window the bot answers from; widen it with "
            "EMPTYCHAIR_WINDOW_DAYS.", err=True,
        )


def render_response(response: ChairResponse) -> str:
    """Readable terminal text for a ChairResponse."""
    lines = [f"Proposal: {response.proposal}", ""]
    if response.stale and response.stale != response.no_signal:
        lines.append(response.stale)
    if response.no_signal:
        lines.append(response.no_signal)
    marks = {"high": "[HIGH]", "medium": "[MEDIUM]", "low": "[LOW]"}
    for i, ch in enumerate(response.challenges, start=1):
        lines.append(f"{i}. {marks[ch.severity.value]} {ch.question}")
        lines.append(f"   Why it matters: {ch.why_it_matters}")
        if ch.facts is not None:
            f = ch.facts
            lines.append(
                f"   Facts: {f.matching:,} of {f.theme_total:,} {f.theme} complaints bear on this "
                f"({f.share_pct:g}% of all {f.window_total:,}); {f.previous:,} the period before"
            )
        lines.append(f"   What would answer it: {ch.what_would_answer_it}")
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
    from bot.app import build_components

    settings = _settings()
    if not dry_run:
        settings.require_slack()  # before touching the database: a failed call changes nothing
    components = build_components(settings, db, create=False)
    if not dry_run:
        from bot.slack.app import build_web_client
        from bot.slack.briefs import post_brief

        ts = post_brief(build_web_client(settings), components.service, channel, days)
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
def serve(
    db: DbOption = None,
    host: Annotated[str | None, typer.Option(help="HTTP mode: bind address.")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP mode: port.")] = None,
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on /slack/events."""
    from bot.app import build_components, build_scheduler, build_slack_app, health
    from bot.logs import configure_logging
    from bot.slack.app import build_web_client
    from bot.slack.server import HttpServer, start_socket_mode

    settings = _settings()
    settings.require_slack()
    configure_logging(settings.log_level)
    components = build_components(settings, db)
    client = build_web_client(settings)
    scheduler = build_scheduler(components, client)
    from bot.sync import schedule_syncs

    schedule_syncs(scheduler, settings, components.store)
    bolt = build_slack_app(components, client, on_schedules_changed=scheduler.sync)
    scheduler.start()
    if settings.socket_mode:
        typer.echo("Empty Chair connecting to Slack in Socket Mode…", err=True)
        start_socket_mode(bolt, settings.slack_app_token)
        return
    server = HttpServer(bolt, host or settings.host, port if port is not None else settings.port,
                        health=lambda: health(components))
    typer.echo(f"Empty Chair listening on {server.url} (health: /healthz)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


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
        stack = SandboxStack(path, llm_base_url=llm_url or "", load_sample=db is None)
        with stack:
            if db is None:
                typer.echo(f"Sample complaints loaded: {stack_summary(stack)}")
            typer.echo(f"Local Slack on {stack.emulator.base_url} · bot on {stack.http.url}\n")
            (run_demo if run == "demo" else run_repl)(stack)


def stack_summary(stack: object) -> str:
    from bot.store.complaints import ComplaintStore

    complaints = ComplaintStore(stack.components.store)  # type: ignore[attr-defined]
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


if __name__ == "__main__":
    main()
