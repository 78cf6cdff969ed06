"""The `emptychair` command line as a user sees it: real files, real SQLite, exact output."""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from bot.cli import app
from bot.models import Brief, ChairResponse
from tests.conftest import CFPB_CSV, SAMPLE_CSV

ROOT = Path(__file__).resolve().parent.parent
VALIDATE_MANIFEST = ROOT.parent / "shared" / "tools" / "validate_manifest.py"
RUNNER = CliRunner()
RETURNS_PROPOSAL = "Cut the free-returns window from 30 to 14 days"
IRRELEVANT_PROPOSAL = "Rename the tabs of the internal finance spreadsheet"
COLUMNS = "id, created_at, text, theme, channel"
ISO_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


# ----------------------------------------------------------------------------------- helpers


def subprocess_env(db: Path) -> dict[str, str]:
    """The caller's environment without Slack/OpenAI/Empty Chair settings, plus a tmp database."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "OPENAI_", "EMPTYCHAIR_"))
    }
    env["EMPTYCHAIR_DB"] = str(db)
    env["EMPTYCHAIR_SENTENCE_ENCODER"] = os.environ.get("EMPTYCHAIR_SENTENCE_ENCODER", "false")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_cli(cwd: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real console program in a fresh interpreter, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd, env=subprocess_env(db), capture_output=True, text=True, encoding="utf-8",
        timeout=120, check=False,
    )


def invoke(*args: str) -> Result:
    """The typer app in-process (faster); a project error escapes so the test shows it."""
    return RUNNER.invoke(app, list(args), catch_exceptions=False)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def query(db: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, list(params)).fetchall()


def stored(db: Path) -> list[tuple[Any, ...]]:
    return query(db, f"SELECT {COLUMNS} FROM complaints ORDER BY id")


def count(db: Path) -> int:
    return int(query(db, "SELECT count(*) FROM complaints")[0][0])


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh database for in-process runs, chosen the way users do: $EMPTYCHAIR_DB."""
    path = tmp_path / "chair.db"
    monkeypatch.setenv("EMPTYCHAIR_DB", str(path))
    return path


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled sample complaints, dates re-based to today, imported by the real program."""
    tmp = tmp_path_factory.mktemp("sample")
    path = tmp / "sample.db"
    with SAMPLE_CSV.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.DictReader(handle))
    proc = run_cli(tmp, path, "import", str(SAMPLE_CSV), "--rebase-dates")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"imported {rows}, duplicates skipped 0, rejected 0\n"
    assert "Traceback" not in proc.stderr
    return path


# ------------------------------------------------------------------------------------ import

# The same three complaints in three export shapes: each must land as exactly these rows.
EXPECTED_ROWS = [
    ("T-1", "2026-11-01T10:00:00Z", "The return label never arrived in my inbox.", "returns",
     "email"),
    ("T-2", "2026-11-02T10:30:00Z", "Courier left the parcel in the rain, it was soaked.",
     "delivery", "phone"),
    ("T-3", "2026-11-03T14:05:00Z", "Still waiting for my refund after three weeks.", "refunds",
     "chat"),
]

CSV_EXPORT = (
    "id,created_at,product,channel,text\n"
    "T-1,2026-11-01T10:00:00Z,returns,email,The return label never arrived in my inbox.\n"
    'T-2,2026-11-02T11:30:00+01:00,delivery,phone,"Courier left the parcel in the rain, '
    'it was soaked."\n'
    "T-3,11/03/2026 2:05 PM,refunds,chat,Still waiting for my refund after three weeks.\n"
)
JSON_EXPORT = json.dumps(
    [
        {"id": "T-1", "created_at": "2026-11-01T10:00:00Z", "theme": "Returns",
         "channel": "email", "text": "The return label never arrived in my inbox."},
        {"id": "T-2", "created_at": "2026-11-02T11:30:00+01:00", "theme": "delivery",
         "channel": "phone", "text": "Courier left the parcel in the rain, it was soaked."},
        {"id": "T-3", "created_at": 1793714700, "theme": "refunds", "channel": "chat",
         "text": "  Still waiting   for my refund\nafter three weeks. "},
    ],
    indent=2,
)
JSONL_EXPORT = (
    '{"id": "T-1", "created_at": "2026-11-01T10:00:00Z", "theme": "returns", '
    '"channel": "email", "text": "The return label never arrived in my inbox."}\n'
    '{"id": "T-2", "created_at": "2026-11-02 10:30", "theme": "delivery", '
    '"channel": "phone", "text": "Courier left the parcel in the rain, it was soaked."}\n'
    "\n"
    '{"id": "T-3", "created_at": "2026-11-03T14:05:00Z", "theme": "refunds", '
    '"channel": "chat", "text": "Still waiting for my refund after three weeks."}\n'
)


def test_import_csv_end_to_end_then_rerun_adds_nothing(tmp_path: Path) -> None:
    path = write(tmp_path / "export.csv", CSV_EXPORT)
    db = tmp_path / "e2e.db"

    first = run_cli(tmp_path, db, "import", path.name)
    assert (first.returncode, first.stdout, first.stderr) == (
        0, "imported 3, duplicates skipped 0, rejected 0\n", ""
    )
    assert stored(db) == EXPECTED_ROWS
    assert all(ISO_Z.fullmatch(row[1]) for row in stored(db))
    assert query(db, "SELECT id, source, source_ref FROM complaints ORDER BY id") == [
        ("T-1", "export.csv", "line 2"), ("T-2", "export.csv", "line 3"),
        ("T-3", "export.csv", "line 4"),
    ]

    again = run_cli(tmp_path, db, "import", path.name)
    assert (again.returncode, again.stdout, again.stderr) == (
        0, "imported 0, duplicates skipped 3, rejected 0\n", ""
    )
    assert stored(db) == EXPECTED_ROWS
    assert not (tmp_path / "export.csv.rejects.csv").exists()


@pytest.mark.parametrize(
    ("name", "content", "extra"),
    [
        ("export.csv", CSV_EXPORT, []),
        ("export.json", JSON_EXPORT, []),
        ("export.jsonl", JSONL_EXPORT, []),
        ("export.txt", JSONL_EXPORT, ["--format", "jsonl"]),
    ],
    ids=["csv", "json-array", "jsonl", "jsonl-as-txt"],
)
def test_import_formats(
    tmp_path: Path, db: Path, name: str, content: str, extra: list[str]
) -> None:
    path = write(tmp_path / name, content)

    assert ok(invoke("import", str(path), *extra)) == (
        "imported 3, duplicates skipped 0, rejected 0\n"
    )
    assert stored(db) == EXPECTED_ROWS

    assert ok(invoke("import", str(path), *extra)) == (
        "imported 0, duplicates skipped 3, rejected 0\n"
    )
    assert count(db) == 3


def test_import_with_column_map(tmp_path: Path, db: Path) -> None:
    # "Subject" would be picked as text by default: the mapping must win.
    path = write(
        tmp_path / "helpdesk.csv",
        "Ticket,When,Subject,Body,Area\n"
        "HD-7,2026-10-30 08:00,Refund,My refund went to a closed card.,refunds\n"
        'HD-8,2026-10-31T09:15:00Z,Courier,"The courier threw the box over the fence, '
        'it broke.",delivery\n',
    )

    out = ok(invoke(
        "import", str(path), "--map", "Ticket=id", "--map", "When=created_at",
        "--map", "Body=text", "--map", "Area=theme",
    ))

    assert out == "imported 2, duplicates skipped 0, rejected 0\n"
    assert stored(db) == [
        ("HD-7", "2026-10-30T08:00:00Z", "My refund went to a closed card.", "refunds", ""),
        ("HD-8", "2026-10-31T09:15:00Z", "The courier threw the box over the fence, it broke.",
         "delivery", ""),
    ]


def test_import_rejects_bad_rows_by_line_and_keeps_the_good_ones(
    tmp_path: Path, db: Path
) -> None:
    write(
        tmp_path / "complaints.csv",
        "id,created_at,product,channel,text\n"  # line 1
        'R-1,2026-11-01T10:00:00Z,returns,email,"The label printed blank.\n'  # line 2
        'I tried twice."\n'  # line 3 (same record)
        "R-2,2026-11-02T10:00:00Z,delivery,phone,\n"  # line 4: no text
        "R-3,not a date,refunds,chat,Refund late. Reach me at jane.doe@example.com\n"  # line 5
        'R-4,2026-11-04T10:00:00Z,billing,email,"This quote is never closed\n'  # line 6
        "R-5,2026-11-05T10:00:00Z,app,app_review,The app crashes at checkout.\n"  # line 7
        'R-6,2026-11-06T10:00:00Z,support,chat,"Nobody answers the phone, ever."\n'  # line 8
        "R-7,2026-11-07T10:00:00Z,account,email,I cannot reset my password.\n",  # line 9
    )
    rejects = tmp_path / "complaints.csv.rejects.csv"

    out = ok(invoke("import", "complaints.csv"))  # cwd is tmp_path

    assert out == (
        "imported 4, duplicates skipped 0, rejected 3 (see complaints.csv.rejects.csv)\n"
    )
    with rejects.open(newline="", encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert [(r["line"], r["reason"]) for r in report[:2]] == [
        ("4", "missing text"),
        ("5", "unreadable date: 'not a date'"),
    ]
    assert report[2]["line"] == "6"
    assert report[2]["reason"].startswith("broken CSV quoting")
    assert report[2]["raw"] == 'R-4,2026-11-04T10:00:00Z,billing,email,"This quote is never closed'
    assert len(report) == 3
    # the report is passed around too: it gets the same redaction as the store
    assert "jane.doe@example.com" not in rejects.read_text(encoding="utf-8")
    assert "[email]" in report[1]["raw"]

    assert stored(db) == [
        ("R-1", "2026-11-01T10:00:00Z", "The label printed blank. I tried twice.", "returns",
         "email"),
        ("R-5", "2026-11-05T10:00:00Z", "The app crashes at checkout.", "app", "app_review"),
        ("R-6", "2026-11-06T10:00:00Z", "Nobody answers the phone, ever.", "support", "chat"),
        ("R-7", "2026-11-07T10:00:00Z", "I cannot reset my password.", "account", "email"),
    ]

    assert ok(invoke("import", "complaints.csv")) == (
        "imported 0, duplicates skipped 4, rejected 3 (see complaints.csv.rejects.csv)\n"
    )
    assert count(db) == 4


PII = {
    "email": "jane.doe@example.com",
    "phone": "+44 20 7946 0958",
    "us_phone": "(212) 555-0199",
    "card": "4111 1111 1111 1111",
    "dashed_card": "5555-5555-5555-4444",
    "iban": "DE89 3704 0044 0532 0130 00",
}
PII_FRAGMENTS = ("jane.doe", "example.com", "7946", "555-0199", "4111", "5555", "3704", "0532")


def test_personal_data_never_reaches_the_database_or_search(tmp_path: Path, db: Path) -> None:
    write(
        tmp_path / "pii.jsonl",
        json.dumps({
            "id": "P-1", "created_at": "2026-11-01T10:00:00Z", "theme": "refunds",
            "text": f"Send my refund to {PII['iban']} and confirm to {PII['email']}.",
        }) + "\n" + json.dumps({
            "id": "P-2", "created_at": "2026-11-02T10:00:00Z", "theme": "billing",
            "text": f"You charged my card {PII['card']} twice for one refund. "
                    f"Call me on {PII['phone']}.",
        }) + "\n" + json.dumps({
            "id": "P-3", "created_at": "2026-11-03T10:00:00Z", "theme": "billing",
            "text": f"Refund the double charge on {PII['dashed_card']}, "
                    f"or ring {PII['us_phone']}.",
        }) + "\n",
    )

    assert ok(invoke("import", "pii.jsonl")) == "imported 3, duplicates skipped 0, rejected 0\n"

    assert query(db, "SELECT id, text FROM complaints ORDER BY id") == [
        ("P-1", "Send my refund to [iban] and confirm to [email]."),
        ("P-2", "You charged my card [card] twice for one refund. Call me on [phone]."),
        ("P-3", "Refund the double charge on [card], or ring [phone]."),
    ]
    with closing(sqlite3.connect(db)) as conn:
        dump = "\n".join(conn.iterdump())  # every table: complaints, FTS shadow tables, …
    for fragment in PII_FRAGMENTS:
        assert fragment not in dump

    out = ok(invoke("search", "refund card charged twice", "--json"))
    hits = json.loads(out)
    assert {h["id"] for h in hits} == {"P-1", "P-2", "P-3"}
    # every field but the score, whose digits may happen to spell a fragment
    shown = json.dumps([{k: v for k, v in h.items() if k != "score"} for h in hits])
    for fragment in PII_FRAGMENTS:
        assert fragment not in shown


# ------------------------------------------------------------------------------------ search


def test_search_json_shape_and_limit(sample_db: Path) -> None:
    out = ok(invoke("search", "my refund has not arrived", "--json", "--limit", "3",
                    "--db", str(sample_db)))

    hits = json.loads(out)
    assert isinstance(hits, list)
    assert len(hits) == 3
    for hit in hits:
        assert {"id", "created_at", "theme", "channel", "text", "score"} <= set(hit)
        assert isinstance(hit["score"], float)
    db_rows = {
        row[0]: row for row in query(
            sample_db, f"SELECT {COLUMNS} FROM complaints WHERE id IN (?, ?, ?)",
            [h["id"] for h in hits],
        )
    }
    assert set(db_rows) == {h["id"] for h in hits}
    for hit in hits:
        _, created_at, text, theme, channel = db_rows[hit["id"]]
        assert (hit["text"], hit["theme"], hit["channel"]) == (text, theme, channel)
        assert datetime.fromisoformat(hit["created_at"]) == datetime.fromisoformat(created_at)
    assert hits[0]["theme"] == "refunds"


def test_search_scores_are_best_first(sample_db: Path) -> None:
    args = ("search", "my refund has not arrived", "--limit", "5", "--db", str(sample_db))
    scores = [h["score"] for h in json.loads(ok(invoke(*args, "--json")))]
    shown = [float(line.split()[0]) for line in ok(invoke(*args)).splitlines()]

    assert len(scores) == 5
    assert scores == sorted(scores, reverse=True)
    assert shown == sorted(shown, reverse=True)


def test_search_plain_text_one_line_per_hit(sample_db: Path) -> None:
    args = ("search", "my refund has not arrived", "--limit", "4", "--db", str(sample_db))
    lines = ok(invoke(*args)).splitlines()
    as_json = json.loads(ok(invoke(*args, "--json")))

    assert len(lines) == 4
    pattern = re.compile(r"(\d\.\d{3})  (SC-\d{4})  (\d{4}-\d{2}-\d{2})  \[([a-z_]+)\]  (.+)")
    parsed = [pattern.fullmatch(line) for line in lines]
    assert all(parsed), lines
    assert [m[2] for m in parsed if m] == [h["id"] for h in as_json]
    assert [m[4] for m in parsed if m] == [h["theme"] for h in as_json]


def test_search_finds_nothing_without_vectors_or_words(tmp_path: Path, db: Path) -> None:
    write(tmp_path / "export.csv", CSV_EXPORT)
    ok(invoke("import", "export.csv", "--no-vectors"))

    assert ok(invoke("search", "zzzqqq xylophone")) == "No matching complaints.\n"
    assert json.loads(ok(invoke("search", "zzzqqq xylophone", "--json"))) == []


def test_search_nonsense_query_matches_nothing(tmp_path: Path, db: Path) -> None:
    write(tmp_path / "export.csv", CSV_EXPORT)
    ok(invoke("import", "export.csv"))  # with vectors, the default

    assert ok(invoke("search", "zzzqqq xylophone")) == "No matching complaints.\n"
    assert json.loads(ok(invoke("search", "zzzqqq xylophone", "--json"))) == []


# ------------------------------------------------------------------------------------- stats


def test_stats_counts_match_sql(tmp_path: Path, db: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    # (days ago, theme); nothing near the 28-day edge, one row well outside it
    spec = [(0.5, "returns"), (1.2, "returns"), (2.5, "delivery"), (8.0, "returns"),
            (9.5, "billing"), (15.0, "delivery"), (20.0, "delivery"), (40.0, "returns")]
    lines = [
        json.dumps({"id": f"S-{i}", "created_at": iso(now - timedelta(days=ago)), "theme": theme,
                    "text": f"Complaint number {i} about {theme}."})
        for i, (ago, theme) in enumerate(spec, start=1)
    ]
    write(tmp_path / "stats.jsonl", "\n".join(lines) + "\n")
    ok(invoke("import", "stats.jsonl", "--no-vectors"))

    since = datetime.now(UTC) - timedelta(days=28)
    out = ok(invoke("stats", "--days", "28"))

    newest = query(db, "SELECT max(created_at) FROM complaints")[0][0][:10]
    head, *rest = out.splitlines()
    assert head == f"8 complaints stored; newest {newest}; last 28 days by week:"
    table = [
        tuple(cell.strip() for cell in line.strip("│ ").split("│"))
        for line in rest if line.startswith("│")
    ]
    shown = {(week, theme): int(n) for week, theme, n in table}
    assert len(shown) == len(table)

    expected: dict[tuple[str, str], int] = {}
    monday = (since - timedelta(days=since.weekday())).date()
    while monday <= now.date():
        start = max(datetime(monday.year, monday.month, monday.day, tzinfo=UTC), since)
        end = datetime(monday.year, monday.month, monday.day, tzinfo=UTC) + timedelta(days=7)
        for theme, n in query(
            db, "SELECT theme, count(*) FROM complaints WHERE created_at >= ? AND created_at < ? "
                "GROUP BY theme", [iso(start), iso(end)],
        ):
            expected[(monday.isoformat(), theme)] = n
        monday += timedelta(days=7)
    assert shown == expected
    assert sum(shown.values()) == 7  # the 40-day-old row is outside the window
    weeks = [week for week, _, _ in table]
    assert weeks == sorted(weeks, reverse=True)


# --------------------------------------------------------------------------------------- ask


CITATION_LINE = re.compile(r"     - (SC-\d{4}) · (\d{4}-\d{2}-\d{2}) · ([a-z_]+) · “(.+)”")


def test_ask_plain_end_to_end(tmp_path: Path, sample_db: Path) -> None:
    proc = run_cli(tmp_path, sample_db, "ask", RETURNS_PROPOSAL)

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"Proposal: {RETURNS_PROPOSAL}"
    assert re.fullmatch(r"Verdict: (Proceed|Proceed with guardrails|Rethink) — .+\.", lines[2])
    assert re.fullmatch(r"1\. \[(HIGH|MEDIUM|LOW)\] If you cut the free-returns window .+\?",
                        lines[4])
    assert lines[5].startswith("   Evidence: ") and lines[6].startswith("   Guardrail: ")
    assert lines[7].startswith("   Metric: ")
    cited = [m for m in map(CITATION_LINE.fullmatch, lines) if m]
    assert cited
    db_rows = {
        cid: (created_at[:10], theme)
        for cid, created_at, theme in query(sample_db, "SELECT id, created_at, theme FROM "
                                                       "complaints")
    }
    for m in cited:
        assert db_rows[m[1]] == (m[2], m[3])
    assert {m[3] for m in cited} & {"returns", "refunds"}
    assert re.fullmatch(
        r"Considered \d+ complaints from \d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2} "
        r"· answered by the offline writer",
        lines[-1],
    )


def test_ask_json_is_a_grounded_chair_response(sample_db: Path) -> None:
    day_before = datetime.now(UTC).date()
    out = ok(invoke("ask", RETURNS_PROPOSAL, "--json", "--db", str(sample_db)))
    day_after = datetime.now(UTC).date()

    response = ChairResponse.model_validate_json(out)
    assert response.proposal == RETURNS_PROPOSAL
    assert response.writer == "offline"
    assert response.model is None
    assert response.no_signal is None
    assert 1 <= len(response.challenges) <= 4
    cited = {cid for ch in response.challenges for cid in ch.complaint_ids}
    cited |= {c.id for c in response.citations}
    db_rows = {
        cid: (created_at, theme, " ".join(text.split()))
        for cid, created_at, theme, text in query(
            sample_db,
            f"SELECT id, created_at, theme, text FROM complaints WHERE id IN "
            f"({','.join('?' * len(cited))})",
            sorted(cited),
        )
    }
    assert set(db_rows) == cited  # every cited id exists in the store
    for ch in response.challenges:
        for cid in ch.complaint_ids:
            assert response.citation(cid) is not None
    for c in response.citations:
        created_at, theme, text = db_rows[c.id]
        assert (c.created_at.isoformat(), c.theme) == (created_at[:10], theme)
        assert c.quote.rstrip("…") in text
    themes = {db_rows[cid][1] for ch in response.challenges for cid in ch.complaint_ids}
    assert themes & {"returns", "refunds"}
    assert response.period_end in {day_before, day_after}
    assert response.period_start == response.period_end - timedelta(days=response.window_days)


def test_ask_irrelevant_proposal_says_no_signal(sample_db: Path) -> None:
    response = ChairResponse.model_validate_json(
        ok(invoke("ask", IRRELEVANT_PROPOSAL, "--json", "--db", str(sample_db)))
    )
    assert response.no_signal
    assert response.challenges == []
    assert response.citations == []

    plain = ok(invoke("ask", IRRELEVANT_PROPOSAL, "--db", str(sample_db))).splitlines()
    assert plain[:3] == [f"Proposal: {IRRELEVANT_PROPOSAL}", "", response.no_signal]
    assert not [line for line in plain if CITATION_LINE.fullmatch(line)]


# ------------------------------------------------------------------------------------- brief


def test_brief_dry_run_json_counts_match_sql(sample_db: Path) -> None:
    out = ok(invoke("brief", "--channel", "C1", "--dry-run", "--json", "--days", "7",
                    "--db", str(sample_db)))

    b = Brief.model_validate_json(out)
    assert b.channel_id == "C1"
    assert b.period_end - b.period_start == timedelta(days=7)
    start, end = iso(b.period_start), iso(b.period_end)
    before = iso(b.period_start - timedelta(days=7))
    sql = ("SELECT theme, count(*) FROM complaints WHERE created_at >= ? AND created_at < ? "
           "GROUP BY theme")
    current = dict(query(sample_db, sql, [start, end]))
    previous = dict(query(sample_db, sql, [before, start]))

    assert b.total == query(
        sample_db, "SELECT count(*) FROM complaints WHERE created_at >= ? AND created_at < ?",
        [start, end],
    )[0][0]
    assert b.total == sum(current.values()) > 0
    assert b.previous_total == sum(previous.values())
    assert b.themes
    assert len(b.themes) == min(5, len(set(current) | set(previous)))
    for t in b.themes:
        assert (t.theme, t.count, t.previous) == (
            t.theme, current.get(t.theme, 0), previous.get(t.theme, 0)
        )
    assert b.writer == "offline"
    assert b.quotes
    quoted = dict(query(
        sample_db, f"SELECT id, created_at FROM complaints WHERE id IN "
                   f"({','.join('?' * len(b.quotes))})", [q.id for q in b.quotes],
    ))
    assert set(quoted) == {q.id for q in b.quotes}
    assert all(start <= quoted[q.id] < end for q in b.quotes)


def test_brief_dry_run_plain(sample_db: Path) -> None:
    lines = ok(invoke("brief", "--channel", "C1", "--dry-run", "--days", "7",
                      "--db", str(sample_db))).splitlines()
    b = Brief.model_validate_json(ok(invoke("brief", "--channel", "C1", "--dry-run", "--json",
                                            "--days", "7", "--db", str(sample_db))))

    assert lines[0].startswith("Customer brief for C1: ")
    assert lines[1].startswith(f"{b.total} complaints (")
    assert lines[-1] == "(summary by the offline writer)"


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["import", "missing.csv"], "error: no such file: missing.csv"),
        (["import", "export.csv", "--format", "xml"],
         "error: unknown format 'xml': use csv, tsv, json or jsonl"),
        (["import", "export.txt"], "--format"),
        (["import", "export.csv", "--map", "Body"],
         "error: bad mapping 'Body': write COLUMN=FIELD, e.g. body=text"),
        (["serve"], "SLACK_BOT_TOKEN"),
        (["brief", "--channel", "C1"], "SLACK_BOT_TOKEN"),
        (["manifest", "--url", "http://x"], "https://"),
    ],
    ids=["missing-file", "unknown-format", "no-extension-format", "bad-map", "serve-no-token",
         "brief-no-token", "manifest-http"],
)
def test_errors_are_one_line_and_exit_1(tmp_path: Path, args: list[str], expected: str) -> None:
    write(tmp_path / "export.csv", CSV_EXPORT)
    write(tmp_path / "export.txt", JSONL_EXPORT)

    proc = run_cli(tmp_path, tmp_path / "errors.db", *args)

    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.endswith("\n")
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert expected in proc.stderr


def test_errors_leave_the_database_untouched(tmp_path: Path, db: Path) -> None:
    write(tmp_path / "export.csv", CSV_EXPORT)
    ok(invoke("import", "export.csv", "--no-vectors"))
    before = stored(db)

    proc = run_cli(tmp_path, db, "import", "export.csv", "--format", "xml")

    assert proc.returncode == 1
    assert stored(db) == before


# ---------------------------------------------------------------------------------- manifest


def validate_manifest(tmp_path: Path, data: dict[str, Any]) -> None:
    pytest.importorskip("jsonschema")
    if not VALIDATE_MANIFEST.is_file():
        return
    path = tmp_path / "printed-manifest.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(VALIDATE_MANIFEST), str(path)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout


def test_manifest_socket_mode(tmp_path: Path) -> None:
    data = json.loads(ok(invoke("manifest")))

    assert data["settings"]["socket_mode_enabled"] is True
    assert data == json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    validate_manifest(tmp_path, data)


@pytest.mark.parametrize("url", ["https://chair.example.com", "https://chair.example.com/"])
def test_manifest_http_mode(tmp_path: Path, url: str) -> None:
    data = json.loads(ok(invoke("manifest", "--url", url)))

    events = "https://chair.example.com/slack/events"
    settings = data["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["event_subscriptions"]["request_url"] == events
    assert settings["interactivity"]["request_url"] == events
    assert data["features"]["slash_commands"]
    assert {c["url"] for c in data["features"]["slash_commands"]} == {events}
    validate_manifest(tmp_path, data)


# ------------------------------------------------------------------------------ real data


@pytest.mark.skipif(not CFPB_CSV.is_file(), reason="the CFPB sample is not in ../shared/data")
def test_cfpb_import_reimport_and_search(tmp_path: Path, db: Path) -> None:
    assert ok(invoke("import", str(CFPB_CSV))) == (
        "imported 2965, duplicates skipped 0, rejected 0\n"
    )
    assert count(db) == 2965
    assert not CFPB_CSV.with_name(CFPB_CSV.name + ".rejects.csv").exists()

    assert ok(invoke("import", str(CFPB_CSV))) == (
        "imported 0, duplicates skipped 2965, rejected 0\n"
    )
    assert count(db) == 2965

    hits = json.loads(ok(invoke("search", "close the phone line on weekends", "--json",
                                "--limit", "10")))
    assert len(hits) == 10
    assert len({h["id"] for h in hits}) == 10
    assert all(ISO_Z.fullmatch(row[0]) for row in query(db, "SELECT created_at FROM complaints"))
