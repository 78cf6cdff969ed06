"""Streaming readers for complaint exports (CSV/TSV, JSON, JSON Lines) with mapping and rejects."""

from __future__ import annotations

import codecs
import csv
import hashlib
import html
import json
import re
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Literal

import dateutil.parser

from bot.errors import IngestError
from bot.models import Complaint
from bot.redact import redact

__all__ = [
    "FIELDS",
    "Reject",
    "Row",
    "complaint_from_record",
    "detect_format",
    "parse_date",
    "parse_mapping",
    "read_complaints",
]

FIELDS = (
    "id", "created_at", "text", "theme", "sub_theme", "channel", "segment", "severity", "url",
)

Format = Literal["csv", "json", "jsonl"]

RAW_CHARS = 500  # how much of a rejected record the report keeps
MAX_LINE_BYTES = 1 << 20  # a longer physical line is rejected (and skipped in bounded reads)
# Broken-quote rule. A CSV record is parsed in strict mode and may span at most MAX_RECORD_LINES
# physical lines and MAX_RECORD_BYTES bytes. If the csv module raises (a closing quote followed
# by text, end of file inside quotes, an oversized field) or the record outgrows either cap, the
# record is taken to start with an unbalanced quote: its FIRST line is rejected and parsing
# resumes at the very next physical line, which is replayed from a bounded buffer. An unclosed
# quote is thus caught at the next line holding a normally quoted field ('"' then text), at end of
# file, or at the cap, and costs only its own line. Real multi-line narratives stay far below the
# caps (the CFPB file's longest record: 29 lines, 1.5 kB).
MAX_RECORD_LINES = 500
MAX_RECORD_BYTES = 1 << 20
MAX_JSON_ITEM_CHARS = 16 << 20  # one JSON array item larger than this is rejected
_CHUNK = 1 << 16

_LIST_KEYS = frozenset(
    ("tickets", "conversations", "reviews", "complaints", "data", "items", "results",
     "records", "rows", "entries", "feedback")
)

# Column names are compared normalised (lowercase, no spaces/underscores/hyphens); dotted names
# address nested JSON objects. Order is priority: the first present column wins.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "complaintid", "ticketid", "reviewid", "conversationid"),
    "created_at": (
        "createdat", "created", "date", "datereceived", "submittedat", "timestamp",
        "reviewdate", "at", "updatedat",
    ),
    "text": (
        "text", "body", "description", "comment", "message", "content", "review", "reviewtext",
        "consumercomplaintnarrative", "complaint", "feedback", "source.body",
        "conversationmessage.body", "subject",
    ),
    "theme": ("theme", "product", "category", "topic", "tags", "issue"),
    "sub_theme": ("subtheme", "issue", "subcategory", "subtopic", "subproduct"),
    "channel": (
        "channel", "via", "source", "platform", "submittedvia", "via.channel", "source.type",
    ),
    "segment": ("segment", "plan", "tier", "customersegment"),
    "severity": ("severity", "priority", "rating", "score", "stars", "starrating", "urgency"),
    "url": ("url", "htmlurl", "link", "permalink", "ticketurl"),
}
# Unmapped columns are kept as attributes, except those that name a person or their details:
# redaction finds personal data in prose, not a bare name in a "requester" column.
_PERSONAL_COLUMN = re.compile(
    r"name|mail|phone|address|street|zip|postcode|postal|ssn|social|birth|dob|ipaddr|^ip$|"
    r"requester|submitter|assignee|author|user|customer|contact|account|card|iban|password|"
    r"token|secret|tagsbody"
)
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_CHARS = 300
_STAR_COLUMNS = frozenset(("rating", "score", "stars", "starrating"))
_TAG_COLUMNS = frozenset(("tags", "tag"))


@dataclass(frozen=True)
class Row:
    """A record that became a complaint; `line` is the 1-based line where it starts."""

    line: int
    complaint: Complaint


@dataclass(frozen=True)
class Reject:
    """A record that could not be imported, why, and (the start of) its redacted text."""

    line: int
    reason: str
    raw: str


# --------------------------------------------------------------------------- format & mapping


def detect_format(path: Path, fmt: str | None = None) -> Format:
    """The reader for `path`: from `fmt` if given, else from the file extension."""
    if fmt:
        key = fmt.strip().lower().lstrip(".")
        known: dict[str, Format] = {
            "csv": "csv", "tsv": "csv", "json": "json", "jsonl": "jsonl", "ndjson": "jsonl",
        }
        if key not in known:
            raise IngestError(f"unknown format {fmt!r}: use csv, tsv, json or jsonl")
        return known[key]
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".json":
        return "json"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise IngestError(
        f"cannot tell the format of {path.name!r} from its extension "
        "(.csv, .tsv, .json, .jsonl, .ndjson); pass --format csv|json|jsonl"
    )


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """["column=field", …] → {field: column}; the column may be a dotted JSON path."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, field = pair.rpartition("=")
        column, field = column.strip(), field.strip().lower()
        if not sep or not column or not field:
            raise IngestError(f"bad mapping {pair!r}: write COLUMN=FIELD, e.g. body=text")
        if field not in FIELDS:
            raise IngestError(
                f"bad mapping {pair!r}: unknown field {field!r} (fields: {', '.join(FIELDS)})"
            )
        if field in mapping:
            raise IngestError(f"bad mapping: field {field!r} is mapped twice")
        mapping[field] = column
    return mapping


@lru_cache(maxsize=4096)
def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower().lstrip("\ufeff"))


# --------------------------------------------------------------------------------- values


_US_DATE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})"
    r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?"
)
_YMD_SLASH = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_DE_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_EPOCH = re.compile(r"\d+(?:\.\d+)?")


def _from_epoch(value: float) -> datetime | None:
    # seconds until year 5138, then milliseconds; below 1e8 (1973) a number is no timestamp
    if value < 1e8 or value >= 1e14:
        return None
    if value >= 1e11:
        value /= 1000.0
    return datetime.fromtimestamp(value, UTC)


def _parse_naive_or_aware(s: str) -> datetime | None:
    if _EPOCH.fullmatch(s):
        if len(s) == 8:  # 20240105: ISO basic date, not a 1970 timestamp
            try:
                return datetime.fromisoformat(s)
            except ValueError:
                return None
        return _from_epoch(float(s))
    if s.endswith((" UTC", " GMT")):
        s = s[:-4] + "+00:00"
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        pass
    m = _US_DATE.fullmatch(s)
    if m:
        month, day, year = int(m[1]), int(m[2]), int(m[3])
        if len(m[3]) == 2:
            year += 2000 if year < 69 else 1900  # the POSIX strptime pivot
        hour = int(m[4] or 0)
        if m[7]:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if m[7].lower() == "pm" else 0)
        return datetime(year, month, day, hour, int(m[5] or 0), int(m[6] or 0))
    for pattern, order in ((_DE_DATE, (3, 2, 1)), (_YMD_SLASH, (1, 2, 3))):
        m = pattern.fullmatch(s)
        if m:
            y, mo, d = (int(m[i]) for i in order)
            return datetime(y, mo, d, int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
    if any(c.isalpha() for c in s):
        return _parse_words(s)
    return None


# two far-apart defaults: a part of the date the text leaves out comes out different
_DEFAULTS = (datetime(2001, 1, 1), datetime(2002, 2, 2))


def _parse_words(s: str) -> datetime | None:
    """Dates written with words (RFC 2822, "Mar 5, 2024", "5 March 2024"): only when the text
    states year, month and day, and names no zone dateutil does not know."""
    try:
        with warnings.catch_warnings():
            # an unknown zone name would otherwise be dropped silently, shifting the time
            warnings.simplefilter("error", dateutil.parser.UnknownTimezoneWarning)
            first, second = (dateutil.parser.parse(s, default=d) for d in _DEFAULTS)
    except (ValueError, OverflowError, TypeError, dateutil.parser.UnknownTimezoneWarning):
        return None
    return first if first == second else None


def parse_date(value: object, default_tz: tzinfo = UTC) -> datetime | None:
    """A timezone-aware UTC datetime from the date formats exports use, or None."""
    try:
        if isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            dt = _from_epoch(float(value))
        else:
            s = str(value).strip()
            dt = _parse_naive_or_aware(s) if s else None
        if dt is None:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=default_tz)
        return dt.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None  # datetime() rejects day 31/31 etc.; astimezone may overflow at year 1/9999


_CONTROL = {c: None for c in (*range(0, 9), 11, 12, *range(14, 32), 127)}
_CONTROL_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PARA_BREAK = re.compile(r"\n\s*\n")
_HTML_TAG = re.compile(
    r"</?(?:p|br|div|span|b|i|u|a|em|strong|ul|ol|li|h[1-6]|blockquote|pre|code|img)\b[^<>]*>",
    re.IGNORECASE,
)
_HTML_BREAK = re.compile(r"<br\s*/?>|</(?:p|div|li|h[1-6]|blockquote|pre)>", re.IGNORECASE)
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Strip, collapse whitespace runs to one space, keep paragraph breaks as a blank line."""
    if "<" in text and _HTML_TAG.search(text):
        # Intercom and some help desks export HTML bodies; quote the words, not the markup
        text = html.unescape(_HTML_TAG.sub("", _HTML_BREAK.sub("\n\n", text)))
    if text.isprintable():
        # no line break or control character of any kind, nearly every row: one C-level pass
        # proves the checks below would change nothing, and its only whitespace is " "
        if "  " in text or text[:1] == " " or text[-1:] == " ":
            return " ".join(text.split())
        return text
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\u2029" in text:
        text = text.replace("\u2029", "\n\n")
    if _CONTROL_CHAR.search(text):
        text = text.translate(_CONTROL)
    if "\n" not in text:
        return " ".join(text.split())  # one paragraph, nearly every row: no split needed
    paragraphs = (" ".join(p.split()) for p in _PARA_BREAK.split(text))
    return "\n\n".join(p for p in paragraphs if p)


def _one_line(value: str) -> str:
    return " ".join(value.split()).lower()


def _scalar(value: object) -> object | None:
    """A usable field value: scalars as they are, a list's first scalar, objects never."""
    if isinstance(value, list):
        value = next((v for v in value if v is not None and v != ""), None)
    if isinstance(value, dict | list) or value is None:
        return None
    return value


def _as_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _severity(column: str, value: str) -> str:
    if column in _STAR_COLUMNS:
        try:
            stars = float(value)
        except ValueError:
            return _one_line(value)
        # app-store stars: the angrier the review, the more it matters
        if 1 <= stars <= 2:
            return "high"
        if stars == 3:
            return "medium"
        if 4 <= stars <= 5:
            return "low"
    return _one_line(value)


def _tags(value: str) -> list[str]:
    return [t for t in re.split(r"[,;|\s]+", value.strip()) if t]


def _theme(column: str, value: str) -> str:
    if column in _TAG_COLUMNS:
        value = next(iter(_tags(value)), "")
    return _one_line(value) or "general"


def _sub_theme(values: dict[str, tuple[str, object]], got: dict[str, str]) -> str:
    if "sub_theme" in got:
        column = values["sub_theme"][0]
        if column in _TAG_COLUMNS:
            return _one_line(next(iter(_tags(got["sub_theme"])), ""))
        return _one_line(got["sub_theme"])
    if "theme" in got and values["theme"][0] in _TAG_COLUMNS:
        tags = _tags(got["theme"])  # help desks tag coarse to fine: the second tag refines
        return _one_line(tags[1]) if len(tags) > 1 else ""
    return ""


def attributes(extra: dict[str, object]) -> dict[str, str]:
    """Unmapped source columns worth keeping: scalars, redacted and capped, none personal."""
    out: dict[str, str] = {}
    for key, value in extra.items():
        if len(out) >= MAX_ATTRIBUTES:
            break
        name = " ".join(str(key).split())[:60]
        if not name or _PERSONAL_COLUMN.search(_norm(name)):
            continue
        if isinstance(value, list):
            if not all(isinstance(v, str | int | float | bool) for v in value):
                continue
            value = ", ".join(_as_str(v) for v in value)
        if isinstance(value, dict) or value is None:
            continue
        text = " ".join(_as_str(value).split())
        if text and not _SURROGATE.search(text):
            out[name] = redact(text[:MAX_ATTRIBUTE_CHARS])
    return out


def _redacted_raw(raw: str) -> str:
    # reject reports are files people pass around: they get the same redaction as the store
    return redact(raw[: RAW_CHARS * 2])[:RAW_CHARS]


def _build(
    values: dict[str, tuple[str, object]], line: int, source: str, default_tz: tzinfo,
    extra: dict[str, object] | None = None, redact_text: bool = True,
) -> Complaint | str:
    """One record's field values (field → (column, value)) → a Complaint, or why not."""
    got = {field: v if type(v) is str else _as_str(v)
           for field, (_, v) in values.items() if v is not None}
    joined = "".join(got.values())
    # isascii() reads a flag CPython keeps on every string: the scan only runs on other text
    if not joined.isascii() and _SURROGATE.search(joined):
        # undecodable bytes (surrogate-escaped) or a lone \ud800 JSON escape: not storable text
        return "invalid UTF-8"
    text = clean_text(got.get("text", ""))
    if not text:
        return "missing text"
    date_value = values["created_at"][1] if "created_at" in values else None
    if date_value is None or (isinstance(date_value, str) and not date_value.strip()):
        return "missing date"
    created_at = parse_date(date_value, default_tz)
    if created_at is None:
        shown = _as_str(date_value).strip()
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        return f"unreadable date: {shown!r}"
    complaint_id = got.get("id", "")
    if complaint_id:
        complaint_id = " ".join(complaint_id.split())
    if not complaint_id:
        # stable across re-imports of the same export, so the store's de-dup by id still works
        key = f"{text.casefold()}\x1f{created_at.isoformat()}".encode()
        complaint_id = "h-" + hashlib.sha1(key).hexdigest()[:16]
    # empty fields skip their helper: each maps "" to what is written here
    channel = got.get("channel")
    segment = got.get("segment")
    url = got.get("url")
    return Complaint(
        id=complaint_id,
        created_at=created_at,
        text=redact(text) if redact_text else text,
        theme=_theme(values["theme"][0], got["theme"]) if "theme" in got else "general",
        sub_theme=_sub_theme(values, got) if "sub_theme" in got or "theme" in got else "",
        channel=" ".join(channel.split()).lower() if channel else "",
        segment=" ".join(segment.split()).lower() if segment else "",
        severity=_severity(values["severity"][0], got["severity"]) if "severity" in got else "",
        source=source,
        source_ref=f"line {line}",
        url=_url(url) if url else "",
        attributes=attributes(extra) if extra else {},
    )


_LINK = re.compile(r"https?://[^\s<>|\x00-\x1f]{1,2000}")


def _url(value: str) -> str:
    # only links a reader can follow; anything else (javascript:, mailto:, junk) is dropped
    value = value.strip()
    if value and _LINK.fullmatch(value):
        return value
    return ""


def _result(built: Complaint | str, line: int, raw: str) -> Row | Reject:
    if isinstance(built, Complaint):
        return Row(line, built)
    return Reject(line, built, _redacted_raw(raw))


# ------------------------------------------------------------------------------ physical lines

_Line = tuple[int, bytes, bool]  # (1-based number, bytes incl. newline, longer than the cap)


def _physical_lines(handle: BinaryIO) -> Iterator[_Line]:
    number = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            # a runaway line (no newline for a MiB): skip to its end without holding it
            while True:
                more = handle.readline(MAX_LINE_BYTES)
                if not more or more.endswith(b"\n"):
                    break
            yield number, raw[: RAW_CHARS * 2], True
            continue
        yield number, raw, False


# ------------------------------------------------------------------------------------- CSV


class _RecordTooLong(Exception):
    pass


class _Feed:
    """Decoded lines for csv.reader; remembers the lines of the current record for rewinding."""

    def __init__(self, lines: Iterator[_Line]) -> None:
        self._lines = lines
        self.replay: deque[_Line] = deque()
        self.taken: list[_Line] = []
        self.size = 0
        self.bad: str | None = None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        item = self.replay.popleft() if self.replay else next(self._lines)
        number, raw, too_long = item
        self.taken.append(item)
        self.size += len(raw)
        if len(self.taken) > MAX_RECORD_LINES or self.size > MAX_RECORD_BYTES:
            raise _RecordTooLong
        if too_long and self.bad is None:
            self.bad = f"line longer than {MAX_LINE_BYTES} bytes"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad = self.bad or "invalid UTF-8"
            text = raw.decode("utf-8", "replace")
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        return text

    def start(self) -> None:
        self.taken = []
        self.size = 0
        self.bad = None

    def rewind(self) -> None:
        """Give back every line of the current record but its first."""
        self.replay.extendleft(reversed(self.taken[1:]))
        self.start()

    def raw(self, first_only: bool = False) -> str:
        lines = self.taken[:1] if first_only else self.taken
        text = b"".join(raw for _, raw, _ in lines).decode("utf-8", "replace")
        return text.rstrip("\r\n")


_DELIMITERS = ",\t;|"


def _delimiter(first_line: bytes, hint: str | None) -> str:
    if hint:
        return hint
    header = first_line.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r\n")
    try:
        return csv.Sniffer().sniff(header, delimiters=_DELIMITERS).delimiter
    except csv.Error:  # one column, or no pattern the sniffer trusts: the most frequent wins
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _csv_columns(
    header: list[str], mapping: dict[str, str], path: Path
) -> dict[str, tuple[str, int]]:
    index: dict[str, int] = {}
    for i, name in enumerate(header):
        index.setdefault(_norm(name), i)
    columns: dict[str, tuple[str, int]] = {}
    for field, column in mapping.items():
        key = _norm(column)
        if key not in index:
            raise IngestError(
                f"{path.name}: mapped column {column!r} is not in the header "
                f"({', '.join(h for h in header if h)})"
            )
        columns[field] = (key, index[key])
    used = {key for key, _ in columns.values()}
    for field, candidates in _CANDIDATES.items():
        if field in columns:
            continue
        for key in candidates:
            if key in index and key not in used:
                columns[field] = (key, index[key])
                used.add(key)
                break
    for field in ("text", "created_at"):
        if field not in columns:
            raise IngestError(
                f"{path.name}: no {field} column among {', '.join(h for h in header if h)}; "
                f"name one with --map COLUMN={field}"
            )
    return columns


def _read_csv(
    path: Path, mapping: dict[str, str], source: str, default_tz: tzinfo, hint: str | None,
    redact_text: bool = True,
) -> Iterator[Row | Reject]:
    with path.open("rb") as handle:
        lines = _physical_lines(handle)
        first = next(lines, None)
        if first is None:
            raise IngestError(f"{path.name} is empty")
        feed = _Feed(lines)
        feed.replay.append(first)
        # strict: a quote followed by anything but a delimiter or line end, or end of file
        # inside quotes, raises csv.Error instead of silently gluing records together
        reader = csv.reader(feed, delimiter=_delimiter(first[1], hint), strict=True)
        try:
            header = next(reader)
        except (csv.Error, _RecordTooLong) as exc:
            raise IngestError(f"{path.name}: cannot read the header line: {exc}") from None
        if feed.bad:
            raise IngestError(f"{path.name}: the header line is not valid UTF-8")
        columns = _csv_columns(header, mapping, path)
        taken = {i for _, i in columns.values()}
        extras = [(name, i) for i, name in enumerate(header) if i not in taken and name.strip()]
        plan = [(field, key, i) for field, (key, i) in columns.items()]
        last = max(i for _, _, i in plan)
        while True:
            feed.start()
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Reject(feed.taken[0][0], f"broken CSV quoting: {exc}",
                             _redacted_raw(feed.raw(first_only=True)))
                feed.rewind()
                continue
            except _RecordTooLong:
                yield Reject(
                    feed.taken[0][0],
                    f"broken CSV quoting: record runs past {MAX_RECORD_LINES} lines "
                    f"or {MAX_RECORD_BYTES} bytes",
                    _redacted_raw(feed.raw(first_only=True)),
                )
                feed.rewind()
                continue
            line = feed.taken[0][0]
            if feed.bad:
                yield Reject(line, feed.bad, _redacted_raw(feed.raw()))
                continue
            if not "".join(record).strip():
                continue  # blank line or a spreadsheet's ",,,," tail: no record at all
            if len(record) > last:
                values: dict[str, tuple[str, object]] = {
                    field: (key, record[i]) for field, key, i in plan
                }
            else:  # a short row: the missing cells are None
                values = {field: (key, record[i] if i < len(record) else None)
                          for field, key, i in plan}
            extra: dict[str, object] = {
                name.lstrip("\ufeff"): record[i] for name, i in extras if i < len(record)
            } if extras else {}
            built = _build(values, line, source, default_tz, extra, redact_text)
            # the raw text is only assembled for a reject: good rows never pay for it
            yield Row(line, built) if isinstance(built, Complaint) else Reject(
                line, built, _redacted_raw(feed.raw()))


# ------------------------------------------------------------------------------------ JSON


def _normalised(obj: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in obj.items():
        out.setdefault(_norm(key), value)
    return out


def _walk(top: dict[str, object], path: tuple[str, ...]) -> object | None:
    current = top.get(path[0])
    for part in path[1:]:
        if not isinstance(current, dict):
            return None
        current = _normalised(current).get(part)
    return current


_Paths = dict[str, tuple[tuple[str, ...], ...]]  # field → candidate paths, in priority order


def _json_values(obj: dict[str, object], paths_by_field: _Paths) -> dict[str, tuple[str, object]]:
    return _json_fields(obj, paths_by_field)[0]


def _json_fields(
    obj: dict[str, object], paths_by_field: _Paths
) -> tuple[dict[str, tuple[str, object]], dict[str, object]]:
    """(field → (key, value), the unmapped top-level keys and their values)."""
    top = _normalised(obj)
    values: dict[str, tuple[str, object]] = {}
    used: set[str] = set()
    for field, paths in paths_by_field.items():
        for path in paths:
            if len(path) == 1 and path[0] in used:
                continue
            raw = _walk(top, path)
            if path[-1] in _TAG_COLUMNS and isinstance(raw, list):
                raw = ",".join(_as_str(t) for t in raw if isinstance(t, str | int))
            value = _scalar(raw)
            if value is not None:  # JSON objects differ record to record: first usable wins
                values[field] = (path[-1], value)
                used.add(path[0])
                break
    extra = {key: value for key, value in obj.items() if _norm(key) not in used}
    return values, extra


_DEFAULT_PATHS: _Paths = {
    field: tuple(tuple(c.split(".")) for c in candidates)
    for field, candidates in _CANDIDATES.items()
}


def _json_paths(mapping: dict[str, str]) -> _Paths:
    """Candidate paths per field; a mapped field has exactly its mapped (dotted) path."""
    paths = dict(_DEFAULT_PATHS)
    for field, column in mapping.items():
        paths[field] = (tuple(_norm(p) for p in column.split(".")),)
    return paths


def _from_object(
    obj: object,
    line: int,
    raw: str,
    paths: _Paths,
    source: str,
    default_tz: tzinfo,
    redact_text: bool = True,
) -> Row | Reject:
    if not isinstance(obj, dict):
        return Reject(line, f"not a JSON object ({type(obj).__name__})", _redacted_raw(raw))
    values, extra = _json_fields(obj, paths)
    return _result(_build(values, line, source, default_tz, extra, redact_text), line, raw)


def complaint_from_record(
    record: dict[str, object],
    *,
    source: str,
    mapping: dict[str, str] | None = None,
    default_tz: tzinfo = UTC,
) -> Complaint | str:
    """One JSON record (a help-desk ticket, say) → a Complaint, or why it cannot be one.

    The same field recognition, redaction and attributes as a JSON file's records get.
    """
    values, extra = _json_fields(record, _json_paths(dict(mapping or {})))
    return _build(values, 0, source, default_tz, extra)


def _read_jsonl(
    path: Path, mapping: dict[str, str], source: str, default_tz: tzinfo,
    redact_text: bool = True,
) -> Iterator[Row | Reject]:
    paths = _json_paths(mapping)
    with path.open("rb") as handle:
        for number, raw, too_long in _physical_lines(handle):
            if too_long:
                yield Reject(number, f"line longer than {MAX_LINE_BYTES} bytes",
                             _redacted_raw(raw.decode("utf-8", "replace")))
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield Reject(number, "invalid UTF-8",
                             _redacted_raw(raw.decode("utf-8", "replace").rstrip("\r\n")))
                continue
            text = text.lstrip("\ufeff").strip()
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield Reject(number, f"JSON syntax error: {exc.msg} (column {exc.colno})",
                             _redacted_raw(text))
                continue
            yield _from_object(obj, number, text, paths, source, default_tz, redact_text)


class _JsonSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _JsonStream:
    """Incremental JSON reading over a binary file: a bounded window, never the whole file."""

    _WS = re.compile(r"[ \t\r\n]*")

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        # surrogateescape: bad bytes survive as lone surrogates, found later per record
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self._json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def _fill(self, want: int = _CHUNK) -> bool:
        if self.eof:
            return False
        if self.pos > _CHUNK:  # drop what is consumed; keep memory to the current window
            self.buf = self.buf[self.pos:]
            self.pos = 0
        data = self._handle.read(max(want, _CHUNK))
        if not data:
            self.eof = True
            self.buf += self._decoder.decode(b"", final=True)
            return False
        self.buf += self._decoder.decode(data)
        return True

    def advance(self, end: int) -> None:
        self.line += self.buf.count("\n", self.pos, end)
        self.pos = end

    def peek(self) -> str:
        """The next non-whitespace character ("" at end of file), consuming the whitespace."""
        while True:
            m = self._WS.match(self.buf, self.pos)
            assert m is not None  # the pattern matches the empty string
            self.advance(m.end())
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def value(self) -> tuple[object, str]:
        """Decode the next JSON value; return it and its source text."""
        if self.peek() == "":
            raise _JsonSyntaxError("JSON syntax error: unexpected end of file", self.line)
        start_line = self.line
        while True:
            try:
                obj, end = self._json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                incomplete = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated")
                size = len(self.buf) - self.pos
                if incomplete and not self.eof and size <= MAX_JSON_ITEM_CHARS:
                    self._fill(size)  # double the window: large items cost O(n log n)
                    continue
                if size > MAX_JSON_ITEM_CHARS:
                    raise _JsonSyntaxError(
                        f"JSON item larger than {MAX_JSON_ITEM_CHARS} characters", start_line
                    ) from None
                line = start_line + self.buf.count("\n", self.pos, exc.pos)
                raise _JsonSyntaxError(f"JSON syntax error: {exc.msg}", line) from None
            if end == len(self.buf) and not self.eof and not isinstance(obj, dict | list | str):
                self._fill()  # a bare number at the window's edge may continue in the next chunk
                continue
            raw = self.buf[self.pos:end]
            self.advance(end)
            return obj, raw

    def expect(self, char: str) -> None:
        if self.peek() != char:
            got = self.peek() or "end of file"
            raise _JsonSyntaxError(f"JSON syntax error: expected {char!r}, found {got!r}",
                                   self.line)
        self.advance(self.pos + 1)


def _read_json(
    path: Path, mapping: dict[str, str], source: str, default_tz: tzinfo,
    redact_text: bool = True,
) -> Iterator[Row | Reject]:
    paths = _json_paths(mapping)
    with path.open("rb") as handle:
        stream = _JsonStream(handle)
        if stream.peek() == "\ufeff":
            stream.advance(stream.pos + 1)

        def array() -> Iterator[Row | Reject]:
            stream.expect("[")
            if stream.peek() == "]":
                stream.advance(stream.pos + 1)
                return
            while True:
                if stream.peek() == "]":  # a trailing comma before "]": tolerated
                    stream.advance(stream.pos + 1)
                    return
                line = stream.line
                obj, raw = stream.value()
                yield _from_object(obj, line, raw, paths, source, default_tz, redact_text)
                nxt = stream.peek()
                if nxt == "]":
                    stream.advance(stream.pos + 1)
                    return
                stream.expect(",")

        try:
            while (char := stream.peek()) != "":
                if char == "[":
                    yield from array()
                    continue
                if char != "{":
                    raise _JsonSyntaxError(
                        f"JSON syntax error: expected an array or object, found {char!r}",
                        stream.line,
                    )
                # an object: a wrapper ({"tickets": [...], ...}) whose list we stream, or a
                # single record; read it key by key so a 1 GB wrapper is never held whole
                line = stream.line
                stream.expect("{")
                record: dict[str, object] = {}
                wrapped = False
                first = True
                while stream.peek() != "}":
                    if not first:
                        stream.expect(",")
                        if stream.peek() == "}":  # trailing comma: tolerated
                            break
                    first = False
                    if stream.peek() != '"':
                        stream.expect('"')
                    key, _ = stream.value()
                    stream.expect(":")
                    if str(key).lower() in _LIST_KEYS and stream.peek() == "[":
                        yield from array()
                        wrapped = True
                        break  # the records are read; trailing metadata does not matter
                    record[str(key)], _ = stream.value()
                if wrapped:
                    return
                stream.expect("}")
                lists = [k for k, v in record.items()
                         if isinstance(v, list) and v and isinstance(v[0], dict)]
                if lists and "text" not in _json_values(record, paths):
                    raise IngestError(
                        f"{path.name}: found a list of objects under {lists[0]!r}; records must "
                        f"be a top-level array or under one of: {', '.join(sorted(_LIST_KEYS))}"
                    )
                yield _from_object(record, line, json.dumps(record, ensure_ascii=False)[:1000],
                                   paths, source, default_tz, redact_text)
        except _JsonSyntaxError as exc:
            # A syntax error leaves no reliable place to resume inside an array: stop, loudly.
            tail = stream.buf[stream.pos: stream.pos + RAW_CHARS]
            yield Reject(exc.line, f"{exc}; the rest of the file was not read",
                         _redacted_raw(tail))


# ------------------------------------------------------------------------------------ entry


def read_complaints(
    path: Path,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    *,
    source: str | None = None,
    default_tz: tzinfo = UTC,
    redact_text: bool = True,
) -> Iterator[Row | Reject]:
    """Stream `path` as Rows and Rejects in file order, in constant memory.

    Problems with the file as a whole (missing, unknown format, no text column) raise
    IngestError: eagerly for the path and format, at the first `next()` for the header.
    `redact_text=False` leaves each complaint's text as read (cleaned, not redacted) for a
    caller that redacts it elsewhere; attributes and rejects are redacted either way.
    """
    path = Path(path)
    kind = detect_format(path, fmt)
    if not path.is_file():
        raise IngestError(f"no such file: {path}")
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise IngestError(f"unknown field(s) in mapping: {', '.join(unknown)}")
    name = source if source is not None else path.name
    if kind == "csv":
        tab = path.suffix.lower() == ".tsv" or (fmt or "").strip().lower() == "tsv"
        return _read_csv(path, mapping, name, default_tz, "\t" if tab else None, redact_text)
    if kind == "jsonl":
        return _read_jsonl(path, mapping, name, default_tz, redact_text)
    return _read_json(path, mapping, name, default_tz, redact_text)
