"""LLM access: an OpenAI-compatible chat client returning pydantic-validated structured output."""

from __future__ import annotations

import contextvars
import copy
import email.utils
import json
import logging
import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat
from pydantic import BaseModel, ValidationError

from bot.config import Settings
from bot.errors import LLMContextError, LLMError

log = logging.getLogger("bot.llm")

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, llama.cpp, vLLM) ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
TEMPERATURE = 0.2  # low: challenges should follow the evidence, not wander
DEFAULT_MAX_TOKENS = 900
DEFAULT_CONTEXT_TOKENS = 8192

Mode = Literal["json_schema", "json_object", "text"]
# Tried in order; a server that rejects one mode is asked in the next one from then on.
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "text")
CapParam = Literal["max_tokens", "max_completion_tokens"]

# Transient answers worth another try (the statuses the openai SDK itself retries).
RETRIED_STATUS = frozenset({408, 409, 429})
MAX_RETRY_AFTER = 60.0  # a server asking for a longer pause is treated as down
RETRY_HEADER = "x-stainless-retry-count"  # the SDK's own name, so server logs read the same

# The bad answer is shown back to the model only in part: all of it is what overflowed a small
# context in the first place, and the start is enough for the model to see what it did.
REPAIR_EXCERPT_CHARS = 1500
REPAIR_PROBLEM_CHARS = 600
# What a chat template adds around each message (role markers, separators); generous on purpose.
MESSAGE_OVERHEAD_TOKENS = 16
# Server probes (/props, /api/show, /tokenize) are small; a server slow to answer them is treated
# as not having them rather than holding up an answer.
PROBE_TIMEOUT = 5.0
# A server that could not be reached at all when asked may just be starting: ask again later.
REPROBE_AFTER = 60.0

_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
# How OpenAI-compatible servers word "I do not do structured output": OpenAI ("Invalid schema for
# response_format"), vLLM/pydantic ("response_format.type ... json_schema"), llama.cpp and Ollama
# ("json_schema is not supported", "unknown response_format type"), LM Studio, LiteLLM proxies.
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output",
                 "guided_json", "grammar")
# How servers word "the prompt is longer than the context": llama.cpp (type
# exceed_context_size_error, "exceeds the available context size"), OpenAI (code
# context_length_exceeded), vLLM ("This model's maximum context length is ..."), LM Studio.
_CONTEXT_TYPES = ("exceed_context_size_error", "context_length_exceeded")
_CONTEXT_WORDS = ("context size", "context length", "context window", "maximum context",
                  "too many tokens", "prompt is too long")

# The schema is repeated because some servers accept json_schema but silently ignore it, so the
# model may never have seen it.
REPAIR_PROMPT = (
    "Your previous reply could not be used: {problem}\n"
    "Reply again with only the corrected JSON object, no explanation, no Markdown, no code "
    "fences. It must match this JSON schema:\n{schema}"
)
SCHEMA_PROMPT = (
    "\n\nReply with a single JSON object and nothing else (no prose, no code fences). "
    "It must match this JSON schema:\n{schema}"
)
LENGTH_PROBLEM = (
    "it stopped at the length limit of {limit} tokens before the JSON was complete "
    "(the start of it is above). Write a much shorter answer: fewer items, short sentences."
)

# The end of the `complete` call in progress on this thread (time.monotonic()), read by the
# transport so that no request made for it can outlive it.
_DEADLINE: ContextVar[float | None] = ContextVar("emptychair_llm_deadline", default=None)


class LLMClient(Protocol):
    """What the service needs from a language model: a system + user prompt in, a model out.

    `fits`, `budget_tokens` and `count_tokens` let the caller size the prompt to the model's
    context before asking; `complete` raises LLMContextError when the server refuses it anyway.
    """

    model: str

    def complete(
        self, system: str, user: str, schema: type[T], *, schema_name: str = "response"
    ) -> T: ...

    def fits(self, system: str, user: str, schema: type[BaseModel] | None = None) -> bool: ...

    def budget_tokens(self, schema: type[BaseModel] | None = None) -> int: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass
class _Call:
    """Book-keeping of one `complete` call, for the INFO log line (never prompt or content)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_known: bool = False
    repaired: bool = False


@dataclass(frozen=True)
class _Answer:
    content: str
    finish_reason: str | None


_UNREACHABLE = object()  # what a probe returns when the server did not answer at all


class _Unusable(Exception):
    """The model answered, but not with something the schema accepts (worth one repair)."""

    def __init__(self, problem: str, *, cut_off: bool = False) -> None:
        super().__init__(problem)
        self.cut_off = cut_off


class _DeadlineStream(httpx2.SyncByteStream):
    """A response body that stops with a timeout once the call's deadline has passed."""

    def __init__(self, inner: httpx2.SyncByteStream, deadline: float, request: httpx2.Request):
        self._inner = inner
        self._deadline = deadline
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            if time.monotonic() >= self._deadline:
                raise httpx2.ReadTimeout("deadline passed while reading", request=self._request)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _DeadlineTransport(httpx2.BaseTransport):
    """Holds each request made under a `complete` deadline to it, the body's bytes included.

    httpx's timeouts bound each socket read, not the response: a server that sends a byte now and
    then stays inside every read timeout and could hold a call until it chose to stop.
    """

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        deadline = _DEADLINE.get()
        if deadline is None:
            return self._inner.handle_request(request)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx2.ConnectTimeout("deadline passed before sending", request=request)
        given = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {
            phase: remaining if given.get(phase) is None else min(given[phase], remaining)
            for phase in ("connect", "read", "write", "pool")
        }
        response = self._inner.handle_request(request)
        stream = response.stream
        if not isinstance(stream, httpx2.SyncByteStream):
            return response
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_DeadlineStream(stream, deadline, request),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()


def strict_json_schema(schema: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the subset OpenAI's strict mode accepts.

    Strict mode wants every object closed (`additionalProperties: false`) and every property listed
    in `required`; pydantic leaves out fields with defaults, so they are added here. Defaults are
    dropped because they mean nothing once a field is required.
    """
    root = schema.model_json_schema()
    defs = root.get("$defs", {})

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = dict(node)
        # `{"$ref": ..., "description": ...}` is rejected in strict mode: inline the target.
        ref = node.get("$ref")
        if isinstance(ref, str) and len(node) > 1 and ref.startswith("#/$defs/"):
            target = defs.get(ref.removeprefix("#/$defs/"), {})
            node = {**copy.deepcopy(target), **{k: v for k, v in node.items() if k != "$ref"}}
        node.pop("default", None)
        if node.get("type") == "object" or "properties" in node:
            props = node.get("properties", {})
            node["properties"] = {name: fix(sub) for name, sub in props.items()}
            node["required"] = list(props)
            node["additionalProperties"] = False
        for key in ("items", "anyOf", "allOf", "oneOf", "prefixItems"):
            if key in node:
                node[key] = fix(node[key])
        if "$defs" in node:
            node["$defs"] = {name: fix(sub) for name, sub in node["$defs"].items()}
        return node

    fixed: dict[str, Any] = fix(root)
    return fixed


def extract_json(content: str) -> str:
    """The JSON part of a reply: local models often wrap it in code fences or a <think> block."""
    text = _THINK.sub("", content).strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text.startswith(("{", "[")):
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            text = text[start : end + 1]
    return text


def describe_validation_error(exc: ValidationError) -> str:
    """A compact list of what is wrong, for the repair prompt (locations and messages only)."""
    problems = []
    for err in exc.errors()[:8]:
        where = ".".join(str(part) for part in err["loc"]) or "the top level"
        problems.append(f"{where}: {err['msg']}")
    more = len(exc.errors()) - len(problems)
    if more > 0:
        problems.append(f"and {more} more problem(s)")
    return "; ".join(problems)


def estimate_tokens(text: str) -> int:
    """A count no real tokenizer is likely to exceed: a token per 3 ASCII characters, and one per
    other character (CJK, emoji and accented letters often take a token or more each)."""
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)


def server_root(base_url: str) -> str:
    """The server's own root for its non-OpenAI routes: the base URL without a trailing /v1."""
    root = base_url.rstrip("/")
    if root.endswith("/v1"):
        root = root[: -len("/v1")]
    return root


class OpenAIClient:
    """`LLMClient` on the official `openai` SDK; any OpenAI-compatible base URL works.

    One deadline (`timeout`) covers a whole `complete` call: every request, retry, pause and the
    reading of each response body. Transient failures (connection errors, 408/409/429, 5xx) are
    retried up to `max_retries` times while the deadline allows, honouring `Retry-After`; a
    timeout is not retried, since the deadline is already spent. The client also re-asks for its
    own reasons: a server that rejects a response format, a temperature or a length parameter (it
    switches and remembers), and one repair round for output that fails validation or was cut
    off at `max_tokens`.

    Give `http_client` only for a special network setup: the deadline then still holds for the
    caller, but a stalled request runs on in the background until httpx's own timeouts end it.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout: float = 30.0,
        max_retries: int = 2,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.default_context_tokens = context_tokens
        self.base_url = base_url or OPENAI_BASE_URL
        self._secret = api_key  # kept only to scrub it from messages, never logged
        self._owns_http = http_client is None
        self._http = http_client or openai.DefaultHttpxClient(
            transport=_DeadlineTransport(httpx2.HTTPTransport())
        )
        self._client = openai.OpenAI(
            api_key=api_key or PLACEHOLDER_KEY,
            # Explicit, so the SDK does not fall back to reading OPENAI_BASE_URL itself.
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,  # retried here, where the deadline is known
            http_client=self._http,
        )
        self._lock = threading.Lock()
        self._mode_index = 0
        self._temperature: float | None = TEMPERATURE
        host = (urlsplit(self.base_url).hostname or "").lower()
        self._hosted_openai = host == "api.openai.com" or host.endswith(".openai.azure.com")
        # OpenAI's reasoning models reject max_tokens; local servers have long known only it.
        self._cap_param: CapParam = (
            "max_completion_tokens" if self._hosted_openai else "max_tokens")
        self._cap_switched = False
        self._probe_lock = threading.Lock()
        self._context: int | None = None
        self._reprobe_at: float | None = None
        self._server_kind: Literal["llama.cpp", "ollama", "unknown"] | None = None
        self._tokenizer_ok = True
        self._schema_tokens: dict[type[BaseModel], int] = {}

    def __repr__(self) -> str:
        return f"OpenAIClient(model={self.model!r}, mode={self.mode!r})"

    @property
    def mode(self) -> Mode:
        """The structured-output mode this server accepts (as far as we know so far)."""
        return MODES[self._mode_index]

    def close(self) -> None:
        self._client.close()

    # -- the model's context ----------------------------------------------------------------------
    def context_tokens(self) -> int:
        """The model's context window in tokens: asked of the server once, else the setting.

        llama.cpp answers `GET /props` with the window of one slot
        (`default_generation_settings.n_ctx`); Ollama answers `POST /api/show` with the model's
        trained `<arch>.context_length`, but runs it with its own `num_ctx` (in `parameters` when
        the model file sets it) and silently drops what does not fit, so there the setting caps
        the trained length. A context size a server states in a refusal replaces what was found.
        """
        with self._probe_lock:
            if self._context is None or (
                    self._reprobe_at is not None and time.monotonic() >= self._reprobe_at):
                self._reprobe_at = None
                self._context = self._discover_context()
            return self._context

    def count_tokens(self, text: str) -> int:
        """Tokens in `text`: llama.cpp's own tokenizer (`POST /tokenize`) when the server is one,
        else a conservative estimate (`estimate_tokens`)."""
        self.context_tokens()  # learns which server this is
        if self._server_kind == "llama.cpp" and self._tokenizer_ok and text:
            counted = self._tokenize(text)
            if counted is not None:
                return counted
        return estimate_tokens(text)

    def budget_tokens(self, schema: type[BaseModel] | None = None) -> int:
        """Tokens left for the system and user prompts together.

        The context minus the answer's cap and the chat template's framing; given the schema,
        also minus the schema where it travels in the prompt and the room a repair turn needs
        (an excerpt of the bad answer, the problem and the schema again), so a repair never
        overflows a prompt that fit.
        """
        reserve = self.max_tokens + 4 * MESSAGE_OVERHEAD_TOKENS
        if schema is not None:
            schema_tokens = self._schema_cost(schema)
            if self.mode != "json_schema":
                reserve += schema_tokens + estimate_tokens(SCHEMA_PROMPT)
            reserve += (schema_tokens + estimate_tokens(REPAIR_PROMPT + LENGTH_PROBLEM)
                        + estimate_tokens("x" * (REPAIR_EXCERPT_CHARS + REPAIR_PROBLEM_CHARS)))
        return max(0, self.context_tokens() - reserve)

    def fits(self, system: str, user: str, schema: type[BaseModel] | None = None) -> bool:
        """Whether this system + user prompt leaves room for the answer (see `budget_tokens`)."""
        return self.count_tokens(system + "\n\n" + user) <= self.budget_tokens(schema)

    def _schema_cost(self, schema: type[BaseModel]) -> int:
        cached = self._schema_tokens.get(schema)
        if cached is None:
            cached = self.count_tokens(_compact(strict_json_schema(schema)))
            self._schema_tokens[schema] = cached
        return cached

    def _discover_context(self) -> int:
        fallback = self.default_context_tokens
        if self._hosted_openai:
            self._server_kind = "unknown"
            return fallback
        root = server_root(self.base_url)
        props = self._probe("GET", f"{root}/props")
        if props is _UNREACHABLE:
            self._server_kind = "unknown"
            self._reprobe_at = time.monotonic() + REPROBE_AFTER
            log.info("llm context %d tokens (EMPTYCHAIR_LLM_CONTEXT_TOKENS; the server could not "
                     "be reached to ask, model=%s)", fallback, self.model)
            return fallback
        n_ctx = _llama_cpp_n_ctx(props)
        if n_ctx is not None:
            self._server_kind = "llama.cpp"
            log.info("llm context %d tokens (llama.cpp /props, model=%s)", n_ctx, self.model)
            return n_ctx
        show = self._probe("POST", f"{root}/api/show", {"model": self.model})
        num_ctx, trained = _ollama_context(show)
        if num_ctx is not None or trained is not None:
            self._server_kind = "ollama"
            found = num_ctx if num_ctx is not None else min(trained or fallback, fallback)
            log.info("llm context %d tokens (Ollama /api/show num_ctx=%s context_length=%s, "
                     "model=%s)", found, num_ctx, trained, self.model)
            return found
        self._server_kind = "unknown"
        log.info("llm context %d tokens (EMPTYCHAIR_LLM_CONTEXT_TOKENS; the server does not "
                 "say, model=%s)", fallback, self.model)
        return fallback

    def _tokenize(self, text: str) -> int | None:
        data = self._probe("POST", f"{server_root(self.base_url)}/tokenize",
                           {"content": text, "add_special": True})
        tokens = data.get("tokens") if isinstance(data, dict) else None
        if isinstance(tokens, list):
            return len(tokens)
        if data is _UNREACHABLE:
            return None  # this once; the server may be back for the next count
        self._tokenizer_ok = False  # a llama.cpp build without it; estimate from now on
        log.info("llm server has no usable /tokenize; estimating token counts (model=%s)",
                 self.model)
        return None

    def _probe(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        """The JSON a server route answers with; None when it answers with anything else, and
        _UNREACHABLE when it does not answer at all (never raises)."""
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        try:
            response = self._http.request(method, url, json=body, headers=headers,
                                          timeout=min(self.timeout, PROBE_TIMEOUT))
            if response.status_code != 200:
                return None
            return response.json()
        except httpx2.TransportError as exc:
            log.debug("llm probe %s failed: %s", url.rsplit("/", 1)[-1], type(exc).__name__)
            return _UNREACHABLE
        except Exception as exc:  # a probe is optional: any failure means "not this server"
            log.debug("llm probe %s failed: %s", url.rsplit("/", 1)[-1], type(exc).__name__)
            return None

    # -- the one public operation ----------------------------------------------------------------
    def complete(
        self, system: str, user: str, schema: type[T], *, schema_name: str = "response"
    ) -> T:
        """Ask the model and return its answer validated as `schema`.

        Every failure is an LLMError (LLMContextError when the server refuses the prompt's
        length), raised by `timeout` seconds after the call began at the latest.
        """
        name = _SCHEMA_NAME.sub("_", schema_name)[:64] or "response"
        call = _Call()
        started = time.monotonic()
        deadline = started + self.timeout
        try:
            result = self._run_until(deadline, lambda: self._complete(
                system, user, schema, name, call))
        except LLMError as exc:
            log.warning(
                "llm call failed model=%s schema=%s requests=%d latency_ms=%d reason=%s",
                self.model, name, call.requests, _ms(started), exc,
            )
            exc.args = (self._scrub(str(exc)),)
            raise exc from None
        except Exception as exc:  # a decoder or the SDK failing in a way not foreseen above
            log.warning(
                "llm call failed model=%s schema=%s requests=%d latency_ms=%d error=%s",
                self.model, name, call.requests, _ms(started), type(exc).__name__,
            )
            raise LLMError("The language model server sent an unreadable response.") from None
        log.info(
            "llm call ok model=%s schema=%s mode=%s requests=%d repaired=%s latency_ms=%d "
            "prompt_tokens=%s completion_tokens=%s",
            self.model, name, self.mode, call.requests, call.repaired, _ms(started),
            call.prompt_tokens if call.usage_known else "?",
            call.completion_tokens if call.usage_known else "?",
        )
        return result

    def _run_until(self, deadline: float, work: Callable[[], R]) -> R:
        """Run `work` on its own thread and give up on it at `deadline`.

        The transport already stops each request at the deadline; the thread makes the deadline
        hold whatever else may block (DNS, a proxy, a decoder), and the abandoned work then ends
        by itself at its next read.
        """
        outcome: list[tuple[bool, Any]] = []
        done = threading.Event()

        def run() -> None:
            _DEADLINE.set(deadline)
            try:
                outcome.append((True, work()))
            except Exception as exc:
                outcome.append((False, exc))
            finally:
                done.set()

        context = contextvars.copy_context()
        threading.Thread(target=context.run, args=(run,), name="llm-call", daemon=True).start()
        done.wait(max(0.0, deadline - time.monotonic()))
        if not outcome:  # checked rather than wait()'s answer: work may end right at the deadline
            raise LLMError(self._timeout_message())
        ok, value = outcome[0]
        if not ok:
            raise value
        result: R = value
        return result

    def _complete(
        self, system: str, user: str, schema: type[T], name: str, call: _Call
    ) -> T:
        json_schema = strict_json_schema(schema)
        turns: list[ChatCompletionMessageParam] = [{"role": "user", "content": user}]
        answer = self._ask(system, turns, name, json_schema, call)
        try:
            return self._accept(answer, schema)
        except _Unusable as exc:
            # One repair round: show the model the start of its answer and what is wrong with it.
            call.repaired = True
            log.info("llm answer unusable (%s), asking once for a repair (model=%s)",
                     "cut off at max_tokens" if exc.cut_off else "failed validation", self.model)
            turns = [
                *turns,
                {"role": "assistant", "content": _excerpt(answer.content)},
                {"role": "user", "content": REPAIR_PROMPT.format(
                    problem=str(exc)[:REPAIR_PROBLEM_CHARS], schema=_compact(json_schema))},
            ]
        answer = self._ask(system, turns, name, json_schema, call)
        try:
            return self._accept(answer, schema)
        except _Unusable as exc:
            if exc.cut_off:
                raise LLMError(
                    f"The language model's answer ran past the {self.max_tokens}-token limit, "
                    "even after a correction request."
                ) from None
            raise LLMError(
                "The language model's answer did not match the expected format, "
                "even after a correction request."
            ) from None

    def _accept(self, answer: _Answer, schema: type[T]) -> T:
        if answer.finish_reason == "length":
            # Even JSON that happens to parse is the front of something longer: not the answer.
            raise _Unusable(LENGTH_PROBLEM.format(limit=self.max_tokens), cut_off=True)
        try:
            return schema.model_validate_json(extract_json(answer.content))
        except ValidationError as exc:
            raise _Unusable(describe_validation_error(exc)) from None

    # -- one round trip (plus retries and format/parameter fallbacks) ------------------------------
    def _ask(
        self,
        system: str,
        turns: list[ChatCompletionMessageParam],
        name: str,
        json_schema: dict[str, Any],
        call: _Call,
    ) -> _Answer:
        deadline = _DEADLINE.get() or time.monotonic() + self.timeout
        retries = 0
        while True:
            mode_index, temperature, cap = self._mode_index, self._temperature, self._cap_param
            mode = MODES[mode_index]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LLMError(self._timeout_message())
            call.requests += 1
            try:
                completion: ChatCompletion = self._client.chat.completions.create(
                    model=self.model,
                    messages=self._messages(system, turns, mode, json_schema),
                    response_format=_response_format(mode, name, json_schema),
                    temperature=openai.omit if temperature is None else temperature,
                    max_tokens=self.max_tokens if cap == "max_tokens" else openai.omit,
                    max_completion_tokens=(
                        self.max_tokens if cap == "max_completion_tokens" else openai.omit),
                    timeout=remaining,
                    extra_headers={RETRY_HEADER: str(retries)},
                )
            except openai.APITimeoutError:
                raise LLMError(self._timeout_message()) from None
            except openai.APIStatusError as exc:
                refusal = self._context_refusal(exc)
                if refusal is not None:
                    raise refusal from None
                if (self._downgrade_format(exc, mode_index) or self._drop_temperature(exc)
                        or self._switch_cap_param(exc, cap)):
                    continue
                if retries < self.max_retries and self._pause_before_retry(
                        exc.response.headers, retries, deadline, _retryable(exc)):
                    retries += 1
                    continue
                raise LLMError(self._status_message(exc, retried=retries > 0)) from None
            except openai.APIConnectionError:
                if retries < self.max_retries and self._pause_before_retry(
                        None, retries, deadline, True):
                    retries += 1
                    continue
                raise LLMError("Could not reach the language model server.") from None
            except openai.OpenAIError as exc:
                # e.g. APIResponseValidationError: a 200 whose body is not a chat completion.
                log.warning("llm response unusable: %s", type(exc).__name__)
                raise LLMError("The language model server sent an unreadable response.") from None
            usage = getattr(completion, "usage", None)
            if usage is not None:
                call.usage_known = True
                call.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
                call.completion_tokens += getattr(usage, "completion_tokens", 0) or 0
            return _answer_of(completion)

    def _messages(
        self,
        system: str,
        turns: list[ChatCompletionMessageParam],
        mode: Mode,
        json_schema: dict[str, Any],
    ) -> list[ChatCompletionMessageParam]:
        if mode != "json_schema":
            # Without server-side schema enforcement the model only knows the shape from the prompt.
            system += SCHEMA_PROMPT.format(schema=_compact(json_schema))
        return [{"role": "system", "content": system}, *turns]

    def _pause_before_retry(
        self, headers: httpx2.Headers | None, retries: int, deadline: float, retryable: bool
    ) -> bool:
        """Sleep before the next try and say True, or say False when it must not be tried."""
        should = headers.get("x-should-retry") if headers is not None else None
        if should == "false" or (not retryable and should != "true"):
            return False
        delay = _retry_after(headers)
        if delay is None:
            delay = min(0.5 * 2.0**retries, 8.0) * (1 - 0.25 * random.random())
        elif not 0 <= delay <= MAX_RETRY_AFTER:
            return False
        if time.monotonic() + delay >= deadline:
            return False  # the pause alone would outlast the deadline
        log.info("llm retrying in %.2f s (retry %d of %d, model=%s)",
                 delay, retries + 1, self.max_retries, self.model)
        time.sleep(delay)
        return True

    # -- error handling ---------------------------------------------------------------------------
    def _context_refusal(self, exc: openai.APIStatusError) -> LLMContextError | None:
        """The refusal of a prompt longer than the context, as LLMContextError (else None)."""
        if exc.status_code not in (400, 413, 422):
            return None
        body = exc.body if isinstance(exc.body, dict) else {}
        if exc.type not in _CONTEXT_TYPES and exc.code not in _CONTEXT_TYPES and not _mentions(
                exc, _CONTEXT_WORDS):
            return None
        prompt_tokens, n_ctx = _positive_int(body.get("n_prompt_tokens")), _positive_int(
            body.get("n_ctx"))
        if n_ctx is not None:
            with self._probe_lock:
                # The server's word on its live window beats anything found before.
                self._context = n_ctx
        log.warning("llm server refused the prompt as too long status=%d type=%s code=%s "
                    "prompt_tokens=%s n_ctx=%s model=%s", exc.status_code, exc.type, exc.code,
                    prompt_tokens, n_ctx, self.model)
        counts = f"{prompt_tokens} tokens for a context of {n_ctx}; " if prompt_tokens and n_ctx \
            else ""
        return LLMContextError(
            f"The prompt is too long for the language model's context window ({counts}"
            f"HTTP {exc.status_code}).",
            prompt_tokens=prompt_tokens, context_tokens=n_ctx,
        )

    def _downgrade_format(self, exc: openai.APIStatusError, mode_index: int) -> bool:
        """Switch to the next response format if the server rejected this one (kept from now on)."""
        if exc.status_code not in (400, 422) or mode_index + 1 >= len(MODES):
            return False
        if not _mentions(exc, _FORMAT_WORDS):
            return False
        with self._lock:
            # max(): another thread may already have moved further down the ladder.
            self._mode_index = max(self._mode_index, mode_index + 1)
        log.warning(
            "llm server rejected response_format %s (HTTP %d); using %s from now on (model=%s)",
            MODES[mode_index], exc.status_code, self.mode, self.model,
        )
        return True

    def _drop_temperature(self, exc: openai.APIStatusError) -> bool:
        """Reasoning models (o-series, gpt-5) reject any temperature but the default."""
        if exc.status_code != 400 or self._temperature is None:
            return False
        if exc.param != "temperature" and not _mentions(exc, ("temperature",)):
            return False
        self._temperature = None
        log.warning("llm model %s rejects temperature; using its default from now on", self.model)
        return True

    def _switch_cap_param(self, exc: openai.APIStatusError, cap: CapParam) -> bool:
        """Use the other name for the length cap if the server rejected this one (once)."""
        if exc.status_code not in (400, 422) or self._cap_switched:
            return False
        if exc.param != cap and not _mentions(exc, (cap,)):
            return False
        with self._lock:
            self._cap_switched = True
            self._cap_param = "max_tokens" if cap == "max_completion_tokens" else (
                "max_completion_tokens")
        log.warning("llm server rejected %s; sending %s from now on (model=%s)",
                    cap, self._cap_param, self.model)
        return True

    def _timeout_message(self) -> str:
        return f"The language model did not answer within {self.timeout:g} s."

    def _status_message(self, exc: openai.APIStatusError, *, retried: bool) -> str:
        # The server's own text is left out: it may echo the (masked) key or parts of the prompt.
        log.warning(
            "llm server error status=%d type=%s code=%s param=%s request_id=%s model=%s",
            exc.status_code, exc.type, exc.code, exc.param, exc.request_id, self.model,
        )
        status = exc.status_code
        if status == 401:
            return (
                "The language model server rejected the API key (HTTP 401); "
                "check OPENAI_API_KEY."
            )
        if status == 403:
            return "The API key may not use this model (HTTP 403)."
        if status == 404:
            return (
                f"The language model server does not know model {self.model!r} (HTTP 404); "
                "check EMPTYCHAIR_MODEL and OPENAI_BASE_URL."
            )
        if status == 429:
            return "The language model is rate-limited or out of quota (HTTP 429); try again later."
        if status >= 500:
            again = ", also after retrying" if retried else ""
            return f"The language model server failed (HTTP {status}){again}."
        return f"The language model server refused the request (HTTP {status})."

    def _scrub(self, message: str) -> str:
        if len(self._secret) >= 4:
            message = message.replace(self._secret, "***")
        return message


def _response_format(
    mode: Mode, name: str, json_schema: dict[str, Any]
) -> ResponseFormat | openai.Omit:
    if mode == "json_schema":
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": json_schema, "strict": True},
        }
    if mode == "json_object":
        return {"type": "json_object"}
    # Servers that reject both JSON modes may not know the field at all: leave it out.
    return openai.omit


def _answer_of(completion: ChatCompletion) -> _Answer:
    # getattr: the SDK builds responses leniently, so a sloppy server can leave fields unset.
    choices = getattr(completion, "choices", None)
    if not choices:
        raise LLMError("The language model returned no answer.")
    choice = choices[0]
    finish_reason = getattr(choice, "finish_reason", None)
    message = getattr(choice, "message", None)
    if message is None:
        raise LLMError("The language model returned no answer.")
    if getattr(message, "refusal", None):
        raise LLMError("The language model declined to answer.")
    content = getattr(message, "content", None)
    if isinstance(content, str):
        # JSON may escape lone surrogates (\udc80): valid JSON, but no UTF-8 encoder downstream
        # (Slack, SQLite, logs) would take the text.
        content = content.encode("utf-8", "replace").decode("utf-8")
    if finish_reason == "length":
        # A reasoning model can spend the whole cap before writing anything: still worth a repair.
        return _Answer(content if isinstance(content, str) else "", finish_reason)
    if not isinstance(content, str) or not content.strip():
        if finish_reason == "content_filter":
            raise LLMError("The language model's answer was blocked by its content filter.")
        raise LLMError("The language model returned an empty answer.")
    return _Answer(content, finish_reason if isinstance(finish_reason, str) else None)


def _excerpt(content: str) -> str:
    text = _THINK.sub("", content).strip()
    if len(text) <= REPAIR_EXCERPT_CHARS:
        return text
    return text[:REPAIR_EXCERPT_CHARS] + " […]"


def _retryable(exc: openai.APIStatusError) -> bool:
    return exc.status_code in RETRIED_STATUS or exc.status_code >= 500


def _retry_after(headers: httpx2.Headers | None) -> float | None:
    """The pause a server asked for (retry-after-ms, or Retry-After in seconds or as a date)."""
    if headers is None:
        return None
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when.timestamp() - time.time()


def _llama_cpp_n_ctx(props: Any) -> int | None:
    if not isinstance(props, dict):
        return None
    settings = props.get("default_generation_settings")
    if isinstance(settings, dict) and _positive_int(settings.get("n_ctx")) is not None:
        return _positive_int(settings.get("n_ctx"))
    return _positive_int(props.get("n_ctx"))


def _ollama_context(show: Any) -> tuple[int | None, int | None]:
    """(num_ctx from the model's parameters, the trained context_length), each None if absent."""
    if not isinstance(show, dict):
        return None, None
    num_ctx = None
    parameters = show.get("parameters")
    if isinstance(parameters, str):
        found = _NUM_CTX.search(parameters)
        num_ctx = _positive_int(int(found.group(1))) if found else None
    trained = None
    info = show.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if isinstance(key, str) and key.endswith(".context_length"):
                trained = _positive_int(value)
                break
    return num_ctx, trained


def _positive_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def _mentions(exc: openai.APIStatusError, words: tuple[str, ...]) -> bool:
    text = f"{exc.message} {exc.body} {exc.param or ''}".lower()
    return any(word in text for word in words)


def _compact(json_schema: dict[str, Any]) -> str:
    return json.dumps(json_schema, separators=(",", ":"), ensure_ascii=False)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def build_llm(settings: Settings) -> LLMClient | None:
    """The configured LLM client, or None when neither a key nor a base URL is set (offline)."""
    if not settings.llm_configured:
        return None
    return OpenAIClient(
        api_key=settings.openai_api_key or PLACEHOLDER_KEY,
        base_url=settings.openai_base_url or None,
        model=settings.model,
        timeout=settings.llm_timeout,
        max_retries=settings.llm_max_retries,
        max_tokens=settings.llm_max_tokens,
        context_tokens=settings.llm_context_tokens,
    )
