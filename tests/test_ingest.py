"""Streaming import readers: formats, export styles, mapping, rejects, dates, memory."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot import ingest
from bot.errors import IngestError
from bot.ingest import Reject, Row, detect_format, parse_date, parse_mapping, read_complaints
from tests.conftest import CFPB_CSV


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def split(items: list[Row | Reject]) -> tuple[list[Row], list[Reject]]:
    return ([i for i in items if isinstance(i, Row)], [i for i in items if isinstance(i, Reject)])


def read(path: Path, *args: object, **kwargs: object) -> tuple[list[Row], list[Reject]]:
    return split(list(read_complaints(path, *args, **kwargs)))  # type: ignore[arg-type]


# ------------------------------------------------------------------------- format & mapping


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("a.csv", None, "csv"), ("a.TSV", None, "csv"), ("a.json", None, "json"),
        ("a.jsonl", None, "jsonl"), ("a.ndjson", None, "jsonl"), ("a.txt", "csv", "csv"),
        ("a.csv", "jsonl", "jsonl"), ("a.dat", "NDJSON", "jsonl"), ("a.x", "tsv", "csv"),
    ],
)
def test_detect_format(name: str, fmt: str | None, expected: str) -> None:
    assert detect_format(Path(name), fmt) == expected


def test_detect_format_refuses_unknown() -> None:
    with pytest.raises(IngestError, match="--format"):
        detect_format(Path("export.txt"))
    with pytest.raises(IngestError, match="unknown format 'xml'"):
        detect_format(Path("export.csv"), "xml")


def test_parse_mapping() -> None:
    assert parse_mapping(["Notes=text", " When = created_at ", "Ref=ID"]) == {
        "text": "Notes", "created_at": "When", "id": "Ref"
    }
    assert parse_mapping(["source.body=text"]) == {"text": "source.body"}
    assert parse_mapping([]) == {}
    for bad in (["notes"], ["=text"], ["notes="], ["notes=body"], ["a=text", "b=text"]):
        with pytest.raises(IngestError):
            parse_mapping(bad)


def test_missing_file_and_unknown_mapping_field_raise(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file"):
        read_complaints(tmp_path / "nope.csv")
    path = write(tmp_path / "a.csv", "id,created_at,text\n1,2024-01-01,hi\n")
    with pytest.raises(IngestError, match="unknown field"):
        read_complaints(path, mapping={"body": "text"})


def test_file_without_text_or_date_column_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,created_at,notes\n1,2024-01-01,hi\n")
    with pytest.raises(IngestError, match="no text column.*--map COLUMN=text"):
        list(read_complaints(path))
    path = write(tmp_path / "b.csv", "id,text\n1,hi\n")
    with pytest.raises(IngestError, match="no created_at column"):
        list(read_complaints(path))
    with pytest.raises(IngestError, match="empty"):
        list(read_complaints(write(tmp_path / "c.csv", "")))


def test_mapped_column_missing_from_header_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,created_at,text\n1,2024-01-01,hi\n")
    with pytest.raises(IngestError, match="'Notes' is not in the header"):
        list(read_complaints(path, mapping={"text": "Notes"}))


# ------------------------------------------------------------------------------ CSV styles


PLAIN = """id,created_at,product,channel,text
A-1,2024-03-01T10:00:00Z,Billing ,Email,"Charged twice for one order."
A-2,2024-03-02 09:30:00,DELIVERY,Chat,"Parcel never arrived.

Second paragraph   with   spaces."
A-3,2024-03-03,,phone,Support hung up on me.
"""


def test_plain_csv(tmp_path: Path) -> None:
    rows, rejects = read(write(tmp_path / "plain.csv", PLAIN))
    assert rejects == []
    assert [r.line for r in rows] == [2, 3, 6]
    first, second, third = (r.complaint for r in rows)
    assert first.id == "A-1" and first.theme == "billing" and first.channel == "email"
    assert first.created_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert first.source == "plain.csv" and first.source_ref == "line 2"
    assert second.text == "Parcel never arrived.\n\nSecond paragraph with spaces."
    assert second.created_at == datetime(2024, 3, 2, 9, 30, tzinfo=UTC)
    assert third.theme == "general" and third.segment == "" and third.severity == ""
    assert third.source_ref == "line 6"


def test_tsv_and_source_override(tmp_path: Path) -> None:
    path = write(tmp_path / "x.tsv",
                 "id\tcreated_at\ttext\tsegment\n7\t2024-01-05\thello, world\tPremium\n")
    rows, rejects = read(path, source="zendesk-eu")
    assert not rejects
    c = rows[0].complaint
    assert (c.id, c.text, c.segment, c.source) == ("7", "hello, world", "premium", "zendesk-eu")


def test_zendesk_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path / "zendesk.csv",
        "Id,Created at,Subject,Description,Priority,Via,Tags\n"
        '101,2024-02-01 08:00:00 UTC,Refund,"Still waiting for my refund.",Urgent,Mail,'
        '"refund billing vip"\n'
        "102,2024-02-02 09:00:00 UTC,Login,,High,Web form,login\n",
    )
    rows, rejects = read(path)
    c = rows[0].complaint
    assert (c.id, c.text, c.severity, c.channel, c.theme) == (
        "101", "Still waiting for my refund.", "urgent", "mail", "refund"
    )
    assert c.created_at == datetime(2024, 2, 1, 8, tzinfo=UTC)
    # an empty description is a missing text even when the subject is set: first column wins
    assert [(r.line, r.reason) for r in rejects] == [(3, "missing text")]


def test_zendesk_json_wrapper(tmp_path: Path) -> None:
    data = {
        "tickets": [
            {"id": 35436, "created_at": "2024-02-01T08:00:00Z", "subject": "Help",
             "description": "My order is late.", "priority": "high",
             "via": {"channel": "email", "source": {"from": {}}}, "tags": ["delivery", "late"]},
            {"id": 35437, "created_at": "2024-02-02T08:00:00Z", "subject": "Only a subject",
             "priority": None, "via": {"channel": "web"}, "tags": []},
        ],
        "next_page": None,
        "count": 2,
    }
    rows, rejects = read(write(tmp_path / "tickets.json", json.dumps(data, indent=2)))
    assert not rejects
    first, second = (r.complaint for r in rows)
    assert (first.id, first.channel, first.theme, first.severity) == (
        "35436", "email", "delivery", "high"
    )
    assert second.text == "Only a subject" and second.theme == "general"  # subject as last resort
    assert [r.line for r in rows] == [3, 20]  # where each object opens


def test_intercom_json_with_nested_html_body(tmp_path: Path) -> None:
    data = {
        "type": "conversation.list",
        "pages": {"page": 1},
        "conversations": [
            {"type": "conversation", "id": "1911149811", "created_at": 1700000000,
             "source": {"type": "email", "body": "<p>The app&nbsp;crashes</p><p>every time.</p>",
                        "author": {"email": "ann@example.com"}}},
        ],
    }
    rows, rejects = read(write(tmp_path / "intercom.json", json.dumps(data)))
    assert not rejects
    c = rows[0].complaint
    assert c.text == "The app crashes\n\nevery time."
    assert c.created_at == datetime.fromtimestamp(1700000000, UTC)
    assert c.channel == "email" and c.id == "1911149811"


def test_intercom_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "intercom.csv", "Conversation ID,Created at,Body\n"
                 "c-1,2024-05-01T12:00:00+02:00,Cannot export my data\n")
    rows, _ = read(path)
    assert rows[0].complaint.id == "c-1"
    assert rows[0].complaint.created_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_app_store_reviews_json_and_star_mapping(tmp_path: Path) -> None:
    reviews = [
        {"reviewId": f"gp:{score}", "userName": "x", "content": f"{score} stars", "score": score,
         "at": "2024-06-01 12:00:00"}
        for score in (1, 2, 3, 4, 5)
    ]
    rows, rejects = read(write(tmp_path / "reviews.json", json.dumps(reviews)))
    assert not rejects
    assert [r.complaint.severity for r in rows] == ["high", "high", "medium", "low", "low"]
    assert rows[0].complaint.id == "gp:1"


def test_app_store_reviews_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "appstore.csv", "Review ID,Date,Rating,Title,Review\n"
                 "r1,06/30/2024,2,Meh,Keeps logging me out\n")
    rows, _ = read(path)
    c = rows[0].complaint
    assert (c.id, c.severity, c.text) == ("r1", "high", "Keeps logging me out")
    assert c.created_at == datetime(2024, 6, 30, tzinfo=UTC)


def test_cfpb_export_style(tmp_path: Path) -> None:
    path = write(
        tmp_path / "complaints.csv",
        "Date received,Product,Sub-product,Issue,Consumer complaint narrative,Company,State,"
        "Submitted via,Complaint ID\n"
        "03/14/24,Credit card,General-purpose,Fees,I was charged XXXX fees on XX/XX/XXXX.,"
        "Bank,NY,Web,8517645\n"
        "3/15/2024,Mortgage,,Escrow,,Bank,CA,Phone,8517646\n",
    )
    rows, rejects = read(path)
    c = rows[0].complaint
    assert (c.id, c.theme, c.channel) == ("8517645", "credit card", "web")
    assert c.created_at == datetime(2024, 3, 14, tzinfo=UTC)
    assert c.text == "I was charged XXXX fees on XX/XX/XXXX."  # the CFPB's masks stay as they are
    assert [(r.line, r.reason) for r in rejects] == [(3, "missing text")]


def test_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", '{"id": 1, "date": "2024-01-02", "message": "Slow app"}\n'
                 "\n"
                 '{"id": 2.0, "date": 1704200000123, "message": "Crash", "plan": "Pro"}\n')
    rows, rejects = read(path)
    assert not rejects
    assert [(r.line, r.complaint.id) for r in rows] == [(1, "1"), (3, "2")]
    assert rows[1].complaint.created_at == datetime.fromtimestamp(1704200000.123, UTC)
    assert rows[1].complaint.segment == "pro"


# -------------------------------------------------------------------------------- mapping


def test_mapping_override_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "ref,when,notes,text,category\n"
                 "x1,2024-01-01,the real complaint,ignored column,Billing\n")
    rows, _ = read(path, mapping=parse_mapping(["notes=text", "when=created_at", "ref=id",
                                                  "category=segment"]))
    c = rows[0].complaint
    assert (c.id, c.text, c.segment) == ("x1", "the real complaint", "billing")
    assert c.theme == "general"  # an explicitly mapped column is not also guessed for another field


def test_mapping_override_dotted_json_path(tmp_path: Path) -> None:
    data = [{"meta": {"Created": "2024-01-01T00:00:00Z", "ID": "m-1"},
             "payload": {"message": {"text": "Nested complaint"}}, "text": "top-level decoy"}]
    mapping = parse_mapping(["payload.message.text=text", "meta.created=created_at", "meta.id=id"])
    rows, rejects = read(write(tmp_path / "a.json", json.dumps(data)), mapping=mapping)
    assert not rejects
    c = rows[0].complaint
    assert (c.id, c.text) == ("m-1", "Nested complaint")


def test_wrapper_with_unknown_list_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", json.dumps({"stuff": [{"text": "x", "date": "2024-01-01"}]}))
    with pytest.raises(IngestError, match="'stuff'"):
        list(read_complaints(path))


def test_single_object_and_concatenated_objects(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", '{"text": "one", "date": "2024-01-01"}\n'
                 '{"text": "two", "date": "2024-01-02"}')
    rows, rejects = read(path)
    assert not rejects and [(r.line, r.complaint.text) for r in rows] == [(1, "one"), (2, "two")]


# -------------------------------------------------------------------------------- rejects


def test_csv_rejects_with_line_numbers_and_good_rows_kept(tmp_path: Path) -> None:
    lines = [
        b"id,created_at,text",  # 1
        b"1,2024-01-01,good one",  # 2
        b"2,2024-01-02,",  # 3 missing text
        b"3,31/31/2024,bad date",  # 4
        b'4,2024-01-04,"multi',  # 5 a legit two-line record
        b'line, fine"',  # 6
        b'5,2024-01-05,"never closed quote',  # 7 broken
        b"6,2024-01-06,good after the break",  # 8
        b'7,2024-01-07,"quoted, good"',  # 9
        b"8,2024-01-08,caf\xe9 latin-1 byte",  # 10 invalid UTF-8
        b"9,,no date",  # 11
        b"10,2024-01-10",  # 12 short row: no text field at all
        b"11,2024-01-11,extra fields,are,tolerated",  # 13
        b",,,",  # 14 a spreadsheet's empty tail: not a record
        b"12,2024-01-12,last good",  # 15
    ]
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    rows, rejects = read(path)
    assert [(r.line, r.complaint.id) for r in rows] == [
        (2, "1"), (5, "4"), (8, "6"), (9, "7"), (13, "11"), (15, "12")
    ]
    assert rows[1].complaint.text == "multi line, fine"
    assert [(r.line, r.reason.split(":")[0]) for r in rejects] == [
        (3, "missing text"),
        (4, "unreadable date"),
        (7, "broken CSV quoting"),
        (10, "invalid UTF-8"),
        (11, "missing date"),
        (12, "missing text"),
    ]
    assert rejects[1].reason == "unreadable date: '31/31/2024'"
    assert rejects[2].raw == '5,2024-01-05,"never closed quote'
    assert "caf\ufffd" in rejects[3].raw


def test_unclosed_quote_at_end_of_file_keeps_following_lines(tmp_path: Path) -> None:
    body = "id,created_at,text\n1,2024-01-01,\"opens and never closes\n" + "".join(
        f"{i},2024-01-02,plain row {i}\n" for i in range(2, 12)
    )
    rows, rejects = read(write(tmp_path / "a.csv", body))
    assert [(r.line, r.reason) for r in rejects] == [
        (2, "broken CSV quoting: unexpected end of data")
    ]
    assert [r.line for r in rows] == list(range(3, 13))


def test_runaway_quoted_record_is_cut_at_the_line_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_RECORD_LINES", 5)
    body = "id,created_at,text\n1,2024-01-01,\"opens\n" + "".join(
        f"{i},2024-01-02,plain row {i}\n" for i in range(2, 22)
    ) + '99,2024-01-03,"closes, much later"\n'
    rows, rejects = read(write(tmp_path / "a.csv", body))
    assert rejects[0].line == 2 and "runs past 5 lines" in rejects[0].reason
    assert len(rejects) == 1
    assert [r.line for r in rows] == list(range(3, 24))


def test_overlong_line_is_rejected_without_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_LINE_BYTES", 100)
    body = "id,created_at,text\n1,2024-01-01," + "x" * 500 + "\n2,2024-01-02,fine\n"
    rows, rejects = read(write(tmp_path / "a.csv", body))
    assert [(r.line, r.reason) for r in rejects] == [(2, "line longer than 100 bytes")]
    assert [r.line for r in rows] == [3]


def test_jsonl_rejects(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b'{"text": "good", "date": "2024-01-01"}\n'  # 1
        b'{"text": "broken", "date": \n'  # 2
        b'["not", "an", "object"]\n'  # 3
        b'{"text": "bad \xff byte", "date": "2024-01-01"}\n'  # 4
        b'{"text": "lone \\ud800 escape", "date": "2024-01-01"}\n'  # 5
        b'{"date": "2024-01-01"}\n'  # 6
        b'{"text": "good again", "created_at": "2024-01-02"}'  # 7, no final newline
    )
    rows, rejects = read(path)
    assert [r.line for r in rows] == [1, 7]
    assert [(r.line, r.reason.split(":")[0].split(" (")[0]) for r in rejects] == [
        (2, "JSON syntax error"), (3, "not a JSON object"), (4, "invalid UTF-8"),
        (5, "invalid UTF-8"), (6, "missing text"),
    ]


def test_json_array_rejects_and_object_start_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(
        b'[\n'  # 1
        b'  {"text": "first", "date": "2024-01-01"},\n'  # 2
        b'  "a string",\n'  # 3
        b'  {\n'  # 4
        b'    "text": "multi-line object",\n'
        b'    "date": "2024-01-02"\n'
        b'  },\n'
        b'  {"text": "bad \xff byte", "date": "2024-01-01"},\n'  # 8
        b'  {"text": "no date"},\n'  # 9
        b'  {"text": "last good", "date": "2024-01-03"}\n'  # 10
        b']\n'
    )
    rows, rejects = read(path)
    assert [(r.line, r.complaint.text) for r in rows] == [
        (2, "first"), (4, "multi-line object"), (10, "last good")
    ]
    assert [(r.line, r.reason) for r in rejects] == [
        (3, "not a JSON object (str)"), (8, "invalid UTF-8"), (9, "missing date")
    ]


def test_json_syntax_error_stops_loudly_after_good_items(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json", '[\n{"text": "ok", "date": "2024-01-01"},\n'
                 '{"text": "broken" "date": "2024-01-01"},\n'
                 '{"text": "unreached", "date": "2024"}\n]')
    rows, rejects = read(path)
    assert [r.complaint.text for r in rows] == ["ok"]
    assert len(rejects) == 1 and rejects[0].line == 3
    assert "JSON syntax error" in rejects[0].reason and "not read" in rejects[0].reason


def test_json_array_streams_across_chunk_boundaries(tmp_path: Path) -> None:
    # items straddle the reader's 64 KiB windows, numbers included
    items = [{"id": i, "text": f"complaint {i} " + "z" * (i % 700), "created_at": 1700000000 + i}
             for i in range(2000)]
    path = write(tmp_path / "big.json", json.dumps({"data": items}))
    rows, rejects = read(path)
    assert not rejects
    assert [r.complaint.id for r in rows] == [str(i) for i in range(2000)]
    assert rows[-1].complaint.created_at == datetime.fromtimestamp(1700001999, UTC)


def test_reject_raw_is_truncated_and_redacted(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,created_at,text\n"
                 f"1,not a date,mail bob@example.com {'x' * 2000}\n")
    _, rejects = read(path)
    assert rejects[0].reason == "unreadable date: 'not a date'"
    assert "[email]" in rejects[0].raw and "bob@" not in rejects[0].raw
    assert len(rejects[0].raw) <= ingest.RAW_CHARS


# ------------------------------------------------------------------------ values & redaction


def test_text_is_redacted_before_storage(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "id,created_at,text\n"
                 '1,2024-01-01,"Call me on (212) 555-0199 or mail ann@example.com, '
                 'card 4111 1111 1111 1111, order #12345678"\n')
    rows, _ = read(path)
    assert rows[0].complaint.text == (
        "Call me on [phone] or mail [email], card [card], order #12345678"
    )


def test_generated_id_is_stable_and_content_based(tmp_path: Path) -> None:
    a = write(tmp_path / "a.csv",
              "created_at,text\n2024-01-01,Same   words\n2024-01-02,Same words\n")
    b = write(tmp_path / "b.jsonl", '{"date": "2024-01-01T00:00:00Z", "text": "same words"}\n')
    first, second = (r.complaint.id for r in read(a)[0])
    again = read(b)[0][0].complaint.id
    assert first.startswith("h-") and len(first) == 18
    assert first == again and first != second


def test_whitespace_and_control_characters(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", json.dumps(
        {"text": "  a\u00a0 b\tc\r\n\r\n\r\n d\x00e \u2028 f  ", "date": "2024-01-01"}) + "\n")
    rows, _ = read(path)
    assert rows[0].complaint.text == "a b c\n\nde f"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("2024-03-05T10:20:30Z", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("2024-03-05T10:20:30.123+02:00", datetime(2024, 3, 5, 8, 20, 30, 123000, tzinfo=UTC)),
        ("2024-03-05 10:20:30", datetime(2024, 3, 5, 10, 20, 30, tzinfo=UTC)),
        ("20240305", datetime(2024, 3, 5, tzinfo=UTC)),
        ("03/05/2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("3/5/24", datetime(2024, 3, 5, tzinfo=UTC)),
        ("03/05/2024 1:15 PM", datetime(2024, 3, 5, 13, 15, tzinfo=UTC)),
        ("05.03.2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("05.03.2024 14:00", datetime(2024, 3, 5, 14, tzinfo=UTC)),
        ("2024/03/05", datetime(2024, 3, 5, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:00:00 -0500", datetime(2024, 3, 5, 15, tzinfo=UTC)),
        ("Mar 5, 2024", datetime(2024, 3, 5, tzinfo=UTC)),
        ("1709632800", datetime(2024, 3, 5, 10, tzinfo=UTC)),
        ("1709632800000", datetime(2024, 3, 5, 10, tzinfo=UTC)),
        (1709632800, datetime(2024, 3, 5, 10, tzinfo=UTC)),
        (1709632800.5, datetime(2024, 3, 5, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-03-05 10:00:00 UTC", datetime(2024, 3, 5, 10, tzinfo=UTC)),
    ],
)
def test_parse_date_formats(value: object, expected: datetime) -> None:
    assert parse_date(value) == expected


@pytest.mark.parametrize(
    "value", ["31/31/2024", "2024-13-01", "soon", "", "2024", "12345", "00.00.0000", True, "1e99",
              "99999999999999999999"],
)
def test_parse_date_rejects(value: object) -> None:
    assert parse_date(value) is None


def test_naive_dates_use_default_tz_and_are_stored_in_utc(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "created_at,text\n2024-07-01 09:00:00,summer\n"
                 "2024-01-15 09:00:00,winter\n2024-07-01T09:00:00Z,explicit\n")
    rows, _ = read(path, default_tz=ZoneInfo("America/New_York"))
    got = [r.complaint.created_at for r in rows]
    assert got == [datetime(2024, 7, 1, 13, tzinfo=UTC), datetime(2024, 1, 15, 14, tzinfo=UTC),
                   datetime(2024, 7, 1, 9, tzinfo=UTC)]
    assert all(d.tzinfo is UTC for d in got)
    rows, _ = read(path, default_tz=timezone(timedelta(hours=2)))
    assert rows[0].complaint.created_at == datetime(2024, 7, 1, 7, tzinfo=UTC)


def test_utf8_bom_and_semicolons(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffID;Date;Comment\n1;01.02.2024;Zu teuer für München\n".encode())
    rows, rejects = read(path)
    assert not rejects
    c = rows[0].complaint
    assert (c.id, c.text, c.created_at) == ("1", "Zu teuer für München",
                                            datetime(2024, 2, 1, tzinfo=UTC))


# ------------------------------------------------------------------------- real data, memory


@pytest.mark.skipif(not CFPB_CSV.is_file(), reason="shared CFPB data not present")
def test_real_cfpb_file_imports_completely() -> None:
    rows = rejects = 0
    for item in read_complaints(CFPB_CSV):
        if isinstance(item, Row):
            rows += 1
            assert item.complaint.created_at.tzinfo is UTC
        else:
            rejects += 1
    assert (rows, rejects) == (2965, 0)


def _write_big_csv(path: Path, target_bytes: int) -> int:
    # long rows keep the row count (and the test's run time) down; memory is about bytes
    narrative = ("The courier left my parcel in the rain again and support never answered. " * 40)
    written = 0
    n = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("id,created_at,product,channel,text\n")
        while written < target_bytes:
            n += 1
            if n % 10 == 0:  # some multi-line quoted records, as real exports have
                line = f'B-{n},2024-01-{n % 28 + 1:02d},Delivery,Email,"{narrative}\n\n{n}"\n'
            else:
                line = f"B-{n},2024-01-{n % 28 + 1:02d}T10:00:00Z,Billing,Chat,{narrative}{n}\n"
            out.write(line)
            written += len(line)
    return n


def test_constant_memory_on_a_large_csv(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    expected = _write_big_csv(path, 50 * 1024 * 1024)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows = 0
        for item in read_complaints(path):
            assert isinstance(item, Row)
            rows += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == expected
    assert size > 50_000_000
    assert peak < 10 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB file"


def test_constant_memory_on_a_large_json_array(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    narrative = "My refund has been pending for weeks and nobody replies. " * 30
    n = 8_000
    with path.open("w", encoding="utf-8") as out:
        out.write(f'{{"count": {n}, "items": [\n')
        for i in range(n):
            sep = ",\n" if i < n - 1 else "\n"
            out.write(json.dumps({"id": i, "created_at": "2024-02-02T10:00:00Z",
                                  "body": f"{narrative}{i}", "tags": ["refund"]}) + sep)
        out.write("]}\n")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        rows = sum(1 for item in read_complaints(path) if isinstance(item, Row))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == n
    assert peak < size / 4 and peak < 5 * 1024 * 1024
