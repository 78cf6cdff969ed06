"""HTTP plumbing for the emulator: the threaded server and request-body decoding."""

from __future__ import annotations

import contextlib
import json
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from bot.sandbox.emulator.base import log

if TYPE_CHECKING:
    from bot.sandbox.emulator.core import SlackEmulator

# slack_sdk sends these as JSON strings inside form bodies (files.completeUploadExternal's
# `files`, any method called with params=…); tests want Python objects, not strings.
JSON_PARAMS = frozenset({
    "blocks", "attachments", "view", "files", "metadata", "chunks", "user_auth_blocks",
    "unfurls", "loading_messages", "prompts",
})


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    emulator: SlackEmulator


class RequestHandler(BaseHTTPRequestHandler):
    server: HttpServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.server.emulator._serve(self)

    def do_GET(self) -> None:  # noqa: N802
        self.server.emulator._serve(self)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("emulator http: " + format, *args)



def request_token(headers: dict[str, str], params: dict[str, Any]) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[len("bearer "):].strip()
    return str(params.get("token") or "")


def _decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    for key in JSON_PARAMS & params.keys():
        value = params[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # Undecodable JSON is left as sent, so the test sees what the client posted.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


def parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Query string + body (JSON, form or multipart) → one dict; raises ValueError on bad JSON."""
    params: dict[str, Any] = _form(query)
    ctype = content_type.split(";", 1)[0].strip().lower()
    if body:
        if ctype == "application/json" or (not ctype and body.lstrip()[:1] == b"{"):
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                raise ValueError("JSON body is not an object")
            params.update(decoded)
        elif ctype == "multipart/form-data":
            params.update(_multipart(body, content_type))
        else:
            params.update(_form(body.decode("utf-8", "replace")))
    return _decode_json_params(params)


def _form(text: str) -> dict[str, Any]:
    parsed = parse_qs(text, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


def _multipart(body: bytes, content_type: str) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        out[name] = data if part.get_filename() else data.decode("utf-8", "replace")
    return out


def short(params: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(params, default=str)
    return text if len(text) <= limit else text[:limit] + "…"
