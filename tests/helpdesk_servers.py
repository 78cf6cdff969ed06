"""Local Zendesk and Intercom API servers on 127.0.0.1, shaped as the vendors' docs show."""

from __future__ import annotations

import base64
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

ZENDESK_EMAIL = "agent@company.example"
ZENDESK_TOKEN = "zd-token-123"
INTERCOM_TOKEN = "ic-token-456"
INTERCOM_APP_ID = "this_is_an_id1_that_should_be_at_least_40"

# A fault hook sees each request and may answer it instead: (status, headers, JSON body).
Fault = Callable[["Seen"], "tuple[int, dict[str, str], object] | None"]


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass
class FakeHelpDesk:
    """State shared by a server's handler threads; tests edit `items` between runs."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    page_size: int = 2
    requests: list[Seen] = field(default_factory=list)
    fault: Fault | None = None
    base: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


# ------------------------------------------------------------------------------------ Zendesk


def zendesk_ticket(base: str, ticket_id: int, description: str, *, updated: int,
                   tags: list[str], created: int | None = None, status: str = "open",
                   subject: str = "Help, my order") -> dict[str, Any]:
    """A ticket as the incremental export's documented example shows it."""
    return {
        "assignee_id": 235323,
        "collaborator_ids": [35334, 234],
        "created_at": iso(created if created is not None else updated - 3600),
        "custom_fields": [{"id": 27642, "value": "745"}, {"id": 27648, "value": "yes"}],
        "description": description,
        "due_at": None,
        "external_id": f"ext-{ticket_id}",
        "follower_ids": [35334, 234],
        "generated_timestamp": updated,
        "group_id": 98738,
        "has_incidents": False,
        "id": ticket_id,
        "organization_id": 509974,
        "priority": "high",
        "problem_id": None,
        "raw_subject": subject,
        "recipient": "support@company.com",
        "requester_id": 20978392,
        "satisfaction_rating": None,
        "sharing_agreement_ids": [84432],
        "status": status,
        "subject": subject,
        "submitter_id": 76872,
        "tags": tags,
        "type": "incident",
        "updated_at": iso(updated),
        "url": f"{base}/api/v2/tickets/{ticket_id}.json",
        "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
    }


def _zendesk_cursor(ticket: dict[str, Any]) -> str:
    # Zendesk's cursors decode to "<generated_timestamp>.0||<id>|"
    raw = f"{ticket['generated_timestamp']}.0||{ticket['id']}|"
    return base64.b64encode(raw.encode()).decode()


def _zendesk_position(cursor: str) -> tuple[int, int]:
    stamp, _, rest = base64.b64decode(cursor).decode().partition("||")
    return int(float(stamp)), int(rest.rstrip("|"))


def _zendesk_export(desk: FakeHelpDesk, seen: Seen) -> tuple[int, dict[str, str], object]:
    expected = "Basic " + base64.b64encode(
        f"{ZENDESK_EMAIL}/token:{ZENDESK_TOKEN}".encode()).decode()
    if seen.headers.get("authorization") != expected:
        return 401, {}, {"error": "Couldn't authenticate you"}
    if seen.path != "/api/v2/incremental/tickets/cursor.json":
        return 404, {}, {"error": "InvalidEndpoint", "description": "Not found"}
    ordered = sorted(desk.items.values(), key=lambda t: (t["generated_timestamp"], t["id"]))
    if "cursor" in seen.query:
        after = _zendesk_position(seen.query["cursor"])
        rest = [t for t in ordered if (t["generated_timestamp"], t["id"]) > after]
    elif "start_time" in seen.query:
        start = int(seen.query["start_time"])
        rest = [t for t in ordered if t["generated_timestamp"] >= start]
    else:
        return 400, {}, {"error": "InvalidPaginationParameter",
                         "description": "start_time or cursor is required"}
    page = rest[: desk.page_size]
    # An empty page carries no cursor of its own: the caller keeps the one it had.
    after_cursor = _zendesk_cursor(page[-1]) if page else seen.query.get("cursor")
    body = {
        "after_cursor": after_cursor,
        "after_url": (f"{desk.base}/api/v2/incremental/tickets/cursor.json?cursor={after_cursor}"
                      if after_cursor else None),
        "before_cursor": _zendesk_cursor(page[0]) if page else None,
        "before_url": None,
        "end_of_stream": len(rest) <= desk.page_size,
        "tickets": page,
    }
    return 200, {}, body


# ----------------------------------------------------------------------------------- Intercom


def intercom_conversation(conversation_id: str, body_html: str, *, updated: int,
                          tags: list[str], created: int | None = None) -> dict[str, Any]:
    """A conversation as the conversation model and search responses document it."""
    return {
        "type": "conversation",
        "id": conversation_id,
        "title": None,
        "created_at": created if created is not None else updated - 3600,
        "updated_at": updated,
        "waiting_since": updated,
        "snoozed_until": None,
        "source": {
            "type": "conversation",
            "id": f"40{conversation_id}",
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": body_html,
            "author": {"type": "user", "id": "5bc8f7421ae2d96695c18a", "name": "Jane Doe",
                       "email": "jane.doe@example.com"},
            "attachments": [],
            "url": "https://shop.example.com/orders",
            "redacted": False,
        },
        "contacts": {"type": "contact.list",
                     "contacts": [{"type": "contact", "id": "5bc8f7ae2d96695c18a"}]},
        "teammates": {"type": "admin.list", "teammates": []},
        "admin_assignee_id": 814860,
        "team_assignee_id": None,
        "open": True,
        "state": "open",
        "read": True,
        "tags": {"type": "tag.list", "tags": [
            {"type": "tag", "id": str(100 + i), "name": name, "applied_at": updated,
             "applied_by": {"type": "admin", "id": "814860"}}
            for i, name in enumerate(tags)
        ]},
        "priority": "not_priority",
        "sla_applied": None,
        "statistics": None,
        "conversation_rating": None,
    }


def _intercom(desk: FakeHelpDesk, seen: Seen) -> tuple[int, dict[str, str], object]:
    if seen.headers.get("authorization") != f"Bearer {INTERCOM_TOKEN}":
        return 401, {}, {"type": "error.list", "request_id": "b3e1",
                         "errors": [{"code": "unauthorized", "message": "Access Token Invalid"}]}
    if seen.method == "GET" and seen.path == "/me":
        return 200, {}, {
            "type": "admin", "id": "991267390", "email": "admin1@email.com",
            "name": "Ciaran1 Lee", "email_verified": True,
            "app": {"type": "app", "id_code": INTERCOM_APP_ID, "name": "MyApp 1",
                    "created_at": 1719492696, "secure": False, "identity_verification": False,
                    "timezone": "America/Los_Angeles", "region": "US"},
            "has_inbox_seat": True, "away_mode_enabled": False, "away_mode_reassign": False,
            "job_title": "Philosopher", "team_ids": [814865],
        }
    if seen.method != "POST" or seen.path != "/conversations/search":
        return 404, {}, {"type": "error.list", "errors": [{"code": "not_found",
                                                          "message": "Resource Not Found"}]}
    query = (seen.body or {}).get("query", {})
    value = query.get("value")
    if query.get("field") != "updated_at" or query.get("operator") != ">" \
            or not isinstance(value, int):
        return 400, {}, {"type": "error.list", "errors": [{"code": "parameter_invalid",
                                                          "message": "bad query"}]}
    pagination = (seen.body or {}).get("pagination", {})
    per_page = min(int(pagination.get("per_page", 20)), 150, desk.page_size)
    matching = sorted((c for c in desk.items.values() if c["updated_at"] > value),
                      key=lambda c: (c["updated_at"], c["id"]))
    offset = 0
    if pagination.get("starting_after"):
        offset = json.loads(base64.b64decode(pagination["starting_after"]))[0]
    page = matching[offset: offset + per_page]
    total_pages = max(1, -(-len(matching) // per_page))
    pages: dict[str, Any] = {"type": "pages", "page": offset // per_page + 1,
                             "per_page": per_page, "total_pages": total_pages}
    if offset + per_page < len(matching):
        token = base64.b64encode(json.dumps([offset + per_page, page[-1]["id"]]).encode())
        pages["next"] = {"page": offset // per_page + 2, "starting_after": token.decode()}
    return 200, {}, {"type": "conversation.list", "pages": pages,
                     "total_count": len(matching), "conversations": page}


# ------------------------------------------------------------------------------------ serving


def _handler(desk: FakeHelpDesk,
             answer: Callable[[FakeHelpDesk, Seen], tuple[int, dict[str, str], object]]
             ) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = Seen(
                method=self.command, path=url.path,
                query={k: v[-1] for k, v in parse_qs(url.query).items()},
                body=json.loads(raw) if raw else None,
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            with desk.lock:
                desk.requests.append(seen)
                result = desk.fault(seen) if desk.fault else None
                status, headers, body = result if result is not None else answer(desk, seen)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def _serve(answer: Callable[[FakeHelpDesk, Seen], tuple[int, dict[str, str], object]]
           ) -> Iterator[FakeHelpDesk]:
    desk = FakeHelpDesk()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(desk, answer))
    server.daemon_threads = True
    desk.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield desk
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def zendesk_server() -> Iterator[FakeHelpDesk]:
    with _serve(_zendesk_export) as desk:
        yield desk


@contextmanager
def intercom_server() -> Iterator[FakeHelpDesk]:
    with _serve(_intercom) as desk:
        yield desk


def failing(times: int, status: int, headers: dict[str, str] | None = None,
            when: Callable[[Seen], bool] = lambda seen: True) -> Fault:
    """Answer the first `times` matching requests with `status` (then serve normally)."""
    left = [times]

    def fault(seen: Seen) -> tuple[int, dict[str, str], object] | None:
        if left[0] > 0 and when(seen):
            left[0] -= 1
            return status, dict(headers or {}), {"error": f"HTTP {status}"}
        return None

    return fault


def reset_in(seconds: int) -> str:
    """An X-RateLimit-Reset value (a Unix time) `seconds` from now."""
    return str(int(time.time()) + seconds)
