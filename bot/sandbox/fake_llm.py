"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for tests and demos."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

JSON_SCHEMA_UNSUPPORTED = "response_format json_schema is not supported"
# llama.cpp's refusal of a prompt longer than a slot's context (HTTP 400), as its server sends it.
CONTEXT_EXCEEDED_TYPE = "exceed_context_size_error"
# Where a run-on answer stops when the request sets no cap (llama.cpp's n_predict -1 runs on
# until the context is full).
RUNAWAY_TOKENS = 7000
RUN_ON_TEXT = '{"summary": "' + "and then the customer waited again, " * 3
_WORDS = re.compile(r"\w+|[^\w\s]")
_BAD_UTF8_MARK = "@@not-utf8@@"


@dataclass
class Reply:
    """One scripted answer. `content` may be a dict or list (sent JSON-encoded) or raw text."""

    content: str | dict[str, Any] | list[Any] | None = None
    status: int = 200
    retry_after: float | None = None  # sent as the Retry-After header (seconds) when set
    delay: float = 0.0  # seconds to wait before answering: longer than the client timeout = timeout
    error_message: str | None = None
    empty_choices: bool = False
    refusal: str | None = None
    drop_connection: bool = False  # close the socket without any response
    finish_reason: str = "stop"
    trickle: float = 0.0  # seconds between the body's bytes, sent one at a time (a stalled stream)
    invalid_utf8: bool = False  # the answer's content carries bytes that are not UTF-8
    run_on: bool = False  # write until the request's max_tokens, then stop with "length"
    context_exceeded: bool = False  # refuse as llama.cpp does when the prompt is too long

    def text(self) -> str | None:
        if self.content is None or isinstance(self.content, str):
            return self.content
        return json.dumps(self.content)


def _schema_name(body: dict[str, Any]) -> str:
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and isinstance(fmt.get("json_schema"), dict):
        return str(fmt["json_schema"].get("name", ""))
    for message in body.get("messages") or []:  # json_object mode: the schema is in the prompt
        content = str(message.get("content", "")) if isinstance(message, dict) else ""
        for name in ("query_rewrite", "rerank"):
            if f'"title": "{"QueryRewrite" if name == "query_rewrite" else "Rerank"}"' in content:
                return name
    return ""


def no_scripted_reply(body: dict[str, Any]) -> Reply:
    return Reply(status=500, error_message="no scripted reply")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # handlers may be sleeping on a scripted delay; never wait for them

    def __init__(self, fake: FakeLLMServer) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out hang up mid-answer; that is expected here, not worth a traceback.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like real servers: the SDK pools connections
    # Buffered, so headers and body leave in one segment: two small writes would meet the
    # client's delayed ACK and cost ~40 ms per request.
    wbufsize = -1
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def do_GET(self) -> None:
        fake = self.server.fake
        path = self.path.split("?", 1)[0].rstrip("/")
        fake._record_call("GET", path, None)
        if path == "/props" and fake.n_ctx is not None:
            self._json(200, _props(fake))
        elif path == "/v1/models":
            self._json(200, {
                "object": "list",
                "data": [{"id": fake.model, "object": "model", "created": 0, "owned_by": "fake"}],
            })
        else:
            self._json(404, _error(f"no route {self.path}", "not_found_error"))

    def do_POST(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(400, _error("request body is not JSON", "invalid_request_error"))
            return
        fake._record_call("POST", path, body)
        if path == "/tokenize" and fake.n_ctx is not None and fake.tokenize:
            self._json(200, {"tokens": fake_tokens(str(body.get("content") or ""))})
            return
        if path == "/api/show" and fake.ollama_show is not None:
            self._json(200, fake.ollama_show)
            return
        if path != "/v1/chat/completions":
            self._json(404, _error(f"no route {self.path}", "not_found_error"))
            return
        fake._record(body, dict(self.headers.items()))
        response_format = body.get("response_format") or {}
        if fake.json_mode_only and response_format.get("type") == "json_schema":
            self._json(400, _error(JSON_SCHEMA_UNSUPPORTED, "invalid_request_error"))
            return
        reply = fake._next_reply(body)
        prompt_tokens = _prompt_tokens(body)
        if reply.context_exceeded or (fake.n_ctx is not None and prompt_tokens >= fake.n_ctx):
            n_ctx = fake.n_ctx or 4096
            self._json(400, _context_exceeded(max(prompt_tokens, n_ctx + 1)
                                              if reply.context_exceeded else prompt_tokens, n_ctx))
            return
        if reply.delay and fake._closing.wait(reply.delay):
            return  # the server is shutting down
        if reply.drop_connection:
            self.close_connection = True
            return
        headers = {}
        if reply.retry_after is not None:
            headers["Retry-After"] = f"{reply.retry_after:g}"
        if reply.status != 200:
            message = reply.error_message or f"scripted error {reply.status}"
            kind = "rate_limit_error" if reply.status == 429 else (
                "server_error" if reply.status >= 500 else "invalid_request_error")
            self._json(reply.status, _error(message, kind), headers)
            return
        data = json.dumps(_completion(body, reply, fake.model)).encode()
        if reply.invalid_utf8:
            data = data.replace(_BAD_UTF8_MARK.encode(), b"\xff\xfe\xc3\x28")
        self._send(200, data, headers, trickle=reply.trickle)

    def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _send(
        self, status: int, data: bytes, headers: dict[str, str] | None = None,
        *, trickle: float = 0.0,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:12]}")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            if not trickle:
                self.wfile.write(data)
                return
            self.wfile.flush()
            for index in range(len(data)):
                if self.server.fake._closing.wait(trickle):
                    self.close_connection = True
                    return
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout); nothing to tell it
            self.server.fake._hung_up()


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def fake_tokens(text: str) -> list[int]:
    """The fake's tokenizer: a token per word and per punctuation mark (ids are arbitrary)."""
    return [sum(word.encode()) % 32000 for word in _WORDS.findall(text)]


def _prompt_tokens(body: dict[str, Any]) -> int:
    # Four tokens of chat template per message, roughly what real templates add.
    messages = body.get("messages") or []
    return sum(len(fake_tokens(str(m.get("content") or ""))) + 4 for m in messages)


def _cap(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return RUNAWAY_TOKENS


def _run_on(body: dict[str, Any]) -> tuple[str, int]:
    """An answer that never closes its JSON, as long as the request's cap allows."""
    cap = _cap(body)
    words = _WORDS.findall(RUN_ON_TEXT)
    pieces: list[str] = []
    while len(pieces) < cap:
        pieces.extend(words)
    return " ".join(pieces[:cap]), cap


def _context_exceeded(n_prompt_tokens: int, n_ctx: int) -> dict[str, Any]:
    return {"error": {
        "code": 400,
        "message": f"request ({n_prompt_tokens} tokens) exceeds the available context size "
                   f"({n_ctx} tokens), try increasing it",
        "type": CONTEXT_EXCEEDED_TYPE,
        "n_prompt_tokens": n_prompt_tokens,
        "n_ctx": n_ctx,
    }}


def _props(fake: FakeLLMServer) -> dict[str, Any]:
    return {
        "default_generation_settings": {"id": 0, "n_ctx": fake.n_ctx,
                                        "params": {"n_predict": -1, "max_tokens": -1}},
        "total_slots": 1,
        "model_path": f"/models/{fake.model}.gguf",
        "build_info": "b0000-fake",
    }


def _completion(body: dict[str, Any], reply: Reply, default_model: str) -> dict[str, Any]:
    content = reply.text()
    finish_reason = reply.finish_reason
    completion_tokens = len(content or "") // 4 + 1
    if reply.run_on:
        content, completion_tokens = _run_on(body)
        finish_reason = "length"
    if reply.invalid_utf8:
        content = (content or "") + _BAD_UTF8_MARK
    choices = [] if reply.empty_choices else [{
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": reply.refusal},
        "logprobs": None,
        "finish_reason": finish_reason,
    }]
    prompt_tokens = _prompt_tokens(body)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model") or default_model,
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class FakeLLMServer:
    """An OpenAI-compatible server whose answers are scripted; it records every request.

    `script(*replies)` queues replies consumed in order; once the queue is empty, `responder`
    (a function of the request body) answers, by default with a 500 "no scripted reply".
    `json_mode_only` makes it reject `response_format: json_schema` with a 400, as older
    llama.cpp and Ollama builds do.

    `n_ctx` makes it a llama.cpp server: `GET /props` reports that context, `POST /tokenize`
    counts with `fake_tokens` (unless `tokenize` is False), and a chat prompt of `n_ctx` tokens
    or more is refused with llama.cpp's `exceed_context_size_error`. `ollama_show` makes it answer
    Ollama's `POST /api/show` with that body. `calls` records every request on every route.
    """

    def __init__(
        self,
        *,
        responder: Callable[[dict[str, Any]], Reply] | None = None,
        json_mode_only: bool = False,
        model: str = "fake-model",
        n_ctx: int | None = None,
        tokenize: bool = True,
        ollama_show: dict[str, Any] | None = None,
    ) -> None:
        self.responder = responder
        # Retrieval's calls by schema name, answered apart from the script: by default "no
        # help" (no phrases, no ranking), so a scripted answer always reaches the answer call.
        self.side_replies: dict[str, Reply] = {
            "query_rewrite": Reply(content={"queries": []}),
            "rerank": Reply(content={"ids": []}),
        }
        self.json_mode_only = json_mode_only
        self.model = model
        self.n_ctx = n_ctx
        self.tokenize = tokenize
        self.ollama_show = ollama_show
        self._queue: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self._hangups = 0
        self._headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeLLMServer:
        if self._server is None:
            self._closing.clear()
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="fake-llm", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._closing.set()  # wakes handlers sleeping on a scripted delay
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeLLMServer is not running; use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- scripting and inspection -----------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._queue.extend(replies)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The chat-completions request bodies for answers (retrieval's own calls, answered
        by `side_replies`, are in `side_requests`), oldest first (a copy)."""
        with self._lock:
            return [b for b in self._requests if _schema_name(b) not in self.side_replies]

    @property
    def side_requests(self) -> list[dict[str, Any]]:
        """The request bodies that `side_replies` answered, oldest first (a copy)."""
        with self._lock:
            return [b for b in self._requests if _schema_name(b) in self.side_replies]

    @property
    def headers(self) -> list[dict[str, str]]:
        """The HTTP headers of each request in `requests`, in the same order."""
        with self._lock:
            return [h for b, h in zip(self._requests, self._headers, strict=True)
                    if _schema_name(b) not in self.side_replies]

    @property
    def calls(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """(method, path, JSON body or None) of every request on any route, oldest first."""
        with self._lock:
            return list(self._calls)

    @property
    def hangups(self) -> int:
        """How many answers the client hung up on while they were being sent."""
        with self._lock:
            return self._hangups

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._headers.clear()
            self._calls.clear()

    def _hung_up(self) -> None:
        with self._lock:
            self._hangups += 1

    def _record_call(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        with self._lock:
            self._calls.append((method, path, body))

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(body)
            self._headers.append({k.lower(): v for k, v in headers.items()})

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        name = _schema_name(body)
        with self._lock:
            if name in self.side_replies:
                # retrieval's own calls (rewrite, re-rank) never take a scripted answer
                return self.side_replies[name]
            if self._queue:
                return self._queue.popleft()
            responder = self.responder
        return (responder or no_scripted_reply)(body)
