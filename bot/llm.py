"""LLM access: an OpenAI-compatible chat client returning pydantic-validated structured output."""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat
from pydantic import BaseModel, ValidationError

from bot.config import Settings
from bot.errors import LLMError

if TYPE_CHECKING:
    import httpx2

log = logging.getLogger("bot.llm")

T = TypeVar("T", bound=BaseModel)

OPENAI_BASE_URL = "https://api.openai.com/v1"
# Local servers (Ollama, llama.cpp, vLLM) ignore the key, but the SDK refuses to start without one.
PLACEHOLDER_KEY = "not-needed"
TEMPERATURE = 0.2  # low: challenges should follow the evidence, not wander

Mode = Literal["json_schema", "json_object", "text"]
# Tried in order; a server that rejects one mode is asked in the next one from then on.
MODES: tuple[Mode, ...] = ("json_schema", "json_object", "text")

# Status codes the SDK itself retries (see openai._base_client.BaseClient._should_retry).
SDK_RETRIED = frozenset({408, 409, 429})

_SCHEMA_NAME = re.compile(r"[^a-zA-Z0-9_-]")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
# How OpenAI-compatible servers word "I do not do structured output": OpenAI ("Invalid schema for
# response_format"), vLLM/pydantic ("response_format.type ... json_schema"), llama.cpp and Ollama
# ("json_schema is not supported", "unknown response_format type"), LM Studio, LiteLLM proxies.
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured output",
                 "guided_json", "grammar")

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


class LLMClient(Protocol):
    """What the service needs from a language model: a system + user prompt in, a model out."""

    model: str

    def complete(
        self, system: str, user: str, schema: type[T], *, schema_name: str = "response"
    ) -> T: ...


@dataclass
class _Call:
    """Book-keeping of one `complete` call, for the INFO log line (never prompt or content)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    usage_known: bool = False
    repaired: bool = False


class _Unusable(Exception):
    """The model answered, but not with something the schema accepts (worth one repair)."""


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


class OpenAIClient:
    """`LLMClient` on the official `openai` SDK; any OpenAI-compatible base URL works.

    Transient failures (connection errors, timeouts, 408/409/429, 5xx) are retried by the SDK
    itself, with exponential backoff that honours `Retry-After`; this class never retries them
    again. It only re-asks for its own reasons: a server that rejects a response format (it falls
    back to the next mode and remembers), and one repair round for output that fails validation.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None,
        model: str,
        timeout: float = 30.0,
        max_retries: int = 2,
        http_client: httpx2.Client | None = None,
    ) -> None:
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self._secret = api_key  # kept only to scrub it from messages, never logged
        self._client = openai.OpenAI(
            api_key=api_key or PLACEHOLDER_KEY,
            # Explicit, so the SDK does not fall back to reading OPENAI_BASE_URL itself.
            base_url=base_url or OPENAI_BASE_URL,
            timeout=timeout,
            max_retries=max_retries,
            http_client=http_client,
        )
        self._lock = threading.Lock()
        self._mode_index = 0
        self._temperature: float | None = TEMPERATURE

    def __repr__(self) -> str:
        return f"OpenAIClient(model={self.model!r}, mode={self.mode!r})"

    @property
    def mode(self) -> Mode:
        """The structured-output mode this server accepts (as far as we know so far)."""
        return MODES[self._mode_index]

    def close(self) -> None:
        self._client.close()

    # -- the one public operation ----------------------------------------------------------------
    def complete(
        self, system: str, user: str, schema: type[T], *, schema_name: str = "response"
    ) -> T:
        """Ask the model and return its answer validated as `schema`; every failure is LLMError."""
        name = _SCHEMA_NAME.sub("_", schema_name)[:64] or "response"
        json_schema = strict_json_schema(schema)
        call = _Call()
        started = time.monotonic()
        turns: list[ChatCompletionMessageParam] = [{"role": "user", "content": user}]
        try:
            content = self._ask(system, turns, name, json_schema, call)
            try:
                result = self._parse(content, schema)
            except _Unusable as exc:
                # One repair round: show the model its own answer and what is wrong with it.
                call.repaired = True
                log.info("llm answer failed validation, asking once for a repair (model=%s)",
                         self.model)
                turns = [
                    *turns,
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": REPAIR_PROMPT.format(
                        problem=exc, schema=_compact(json_schema))},
                ]
                content = self._ask(system, turns, name, json_schema, call)
                try:
                    result = self._parse(content, schema)
                except _Unusable:
                    raise LLMError(
                        "The language model's answer did not match the expected format, "
                        "even after a correction request."
                    ) from None
        except LLMError as exc:
            log.warning(
                "llm call failed model=%s schema=%s requests=%d latency_ms=%d reason=%s",
                self.model, name, call.requests, _ms(started), exc,
            )
            raise LLMError(self._scrub(str(exc))) from None
        log.info(
            "llm call ok model=%s schema=%s mode=%s requests=%d repaired=%s latency_ms=%d "
            "prompt_tokens=%s completion_tokens=%s",
            self.model, name, self.mode, call.requests, call.repaired, _ms(started),
            call.prompt_tokens if call.usage_known else "?",
            call.completion_tokens if call.usage_known else "?",
        )
        return result

    # -- one round trip (plus format/parameter fallbacks) -----------------------------------------
    def _ask(
        self,
        system: str,
        turns: list[ChatCompletionMessageParam],
        name: str,
        json_schema: dict[str, Any],
        call: _Call,
    ) -> str:
        while True:
            mode_index, temperature = self._mode_index, self._temperature
            mode = MODES[mode_index]
            try:
                raw = self._client.chat.completions.with_raw_response.create(
                    model=self.model,
                    messages=self._messages(system, turns, mode, json_schema),
                    response_format=_response_format(mode, name, json_schema),
                    temperature=openai.omit if temperature is None else temperature,
                )
                completion: ChatCompletion = raw.parse()
            except openai.APIStatusError as exc:
                call.requests += self._attempts(exc.status_code)
                if self._downgrade_format(exc, mode_index) or self._drop_temperature(exc):
                    continue
                raise LLMError(self._status_message(exc)) from None
            except openai.APITimeoutError:
                call.requests += self.max_retries + 1
                raise LLMError(
                    f"The language model did not answer within {self.timeout:g} s "
                    f"({self.max_retries + 1} attempt(s))."
                ) from None
            except openai.APIConnectionError:
                call.requests += self.max_retries + 1
                raise LLMError("Could not reach the language model server.") from None
            except openai.OpenAIError as exc:
                # e.g. APIResponseValidationError: a 200 whose body is not a chat completion.
                call.requests += 1
                log.warning("llm response unusable: %s", type(exc).__name__)
                raise LLMError("The language model server sent an unreadable response.") from None
            call.requests += raw.retries_taken + 1
            usage = getattr(completion, "usage", None)
            if usage is not None:
                call.usage_known = True
                call.prompt_tokens += getattr(usage, "prompt_tokens", 0) or 0
                call.completion_tokens += getattr(usage, "completion_tokens", 0) or 0
            return _content_of(completion)

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

    def _parse(self, content: str, schema: type[T]) -> T:
        try:
            return schema.model_validate_json(extract_json(content))
        except ValidationError as exc:
            raise _Unusable(describe_validation_error(exc)) from None

    # -- error handling ---------------------------------------------------------------------------
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

    def _attempts(self, status: int) -> int:
        return self.max_retries + 1 if status in SDK_RETRIED or status >= 500 else 1

    def _status_message(self, exc: openai.APIStatusError) -> str:
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
            return f"The language model server failed (HTTP {status}), also after retrying."
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


def _content_of(completion: ChatCompletion) -> str:
    # getattr: the SDK builds responses leniently, so a sloppy server can leave fields unset.
    choices = getattr(completion, "choices", None)
    if not choices:
        raise LLMError("The language model returned no answer.")
    choice = choices[0]
    message = getattr(choice, "message", None)
    if message is None:
        raise LLMError("The language model returned no answer.")
    if getattr(message, "refusal", None):
        raise LLMError("The language model declined to answer.")
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        if getattr(choice, "finish_reason", None) == "content_filter":
            raise LLMError("The language model's answer was blocked by its content filter.")
        raise LLMError("The language model returned an empty answer.")
    return content


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
    )
