"""OpenAIClient against a local fake server, through the real openai SDK and real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from bot.config import load_settings
from bot.errors import LLMError
from bot.llm import PLACEHOLDER_KEY, OpenAIClient, build_llm, strict_json_schema
from bot.sandbox.fake_llm import FakeLLMServer, Reply

KEY = "sk-test-5f3a9c0d1e2b4a6f8c7d"
SYSTEM = "SYSTEM-MARKER you speak for the customer"
USER = "USER-MARKER proposal: close the phone line on Saturdays"
FAST = 0.01  # Retry-After in seconds; the SDK honours values in (0, 120], 0 means "use backoff"


class Finding(BaseModel):
    complaint_id: str
    severity: Literal["low", "medium", "high"]


class Answer(BaseModel):
    summary: str
    findings: list[Finding]
    note: str = ""


GOOD: dict[str, Any] = {
    "summary": "CONTENT-MARKER weekend callers lose their deliveries",
    "findings": [{"complaint_id": "C-1", "severity": "high"}],
    "note": "",
}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def make_client(
    server: FakeLLMServer, *, max_retries: int = 1, timeout: float = 1.0
) -> OpenAIClient:
    return OpenAIClient(
        api_key=KEY, base_url=server.base_url, model="test-model",
        timeout=timeout, max_retries=max_retries,
    )


def ask(client: OpenAIClient) -> Answer:
    return client.complete(SYSTEM, USER, Answer, schema_name="answer")


def test_good_answer_validates_and_request_is_structured(server: FakeLLMServer) -> None:
    server.script(Reply(content=GOOD))
    result = ask(make_client(server))

    assert result == Answer.model_validate(GOOD)
    [body] = server.requests
    assert body["model"] == "test-model"
    assert body["temperature"] <= 0.3
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == SYSTEM  # the schema travels in response_format
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "answer"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["summary", "findings", "note"]  # `note` has a default
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"


def test_strict_schema_closes_nested_objects_and_drops_defaults() -> None:
    schema = strict_json_schema(Answer)
    nested = schema["$defs"]["Finding"]
    assert nested["additionalProperties"] is False
    assert nested["required"] == ["complaint_id", "severity"]
    assert "default" not in schema["properties"]["note"]


def test_code_fences_and_think_blocks_are_tolerated(server: FakeLLMServer) -> None:
    import json

    server.script(
        Reply(content="```json\n" + json.dumps(GOOD) + "\n```"),
        Reply(content="<think>customers first</think>\n" + json.dumps(GOOD)),
    )
    client = make_client(server)
    assert ask(client).summary == GOOD["summary"]
    assert ask(client).summary == GOOD["summary"]
    assert len(server.requests) == 2  # no repair round needed


@pytest.mark.parametrize(
    ("bad", "feedback"),
    [
        ('{"summary": "cut off', "Invalid JSON"),
        ({**GOOD, "findings": [{"complaint_id": "C-1", "severity": "urgent"}]},
         "findings.0.severity"),
    ],
    ids=["invalid-json", "schema-violation"],
)
def test_one_repair_round_fixes_a_bad_answer(
    server: FakeLLMServer, bad: str | dict[str, Any], feedback: str
) -> None:
    server.script(Reply(content=bad), Reply(content=GOOD))
    result = ask(make_client(server))

    assert result.findings[0].severity == "high"
    first, second = server.requests
    assert len(second["messages"]) == len(first["messages"]) + 2
    previous, repair = second["messages"][-2:]
    assert previous["role"] == "assistant"
    assert previous["content"] == Reply(content=bad).text()
    assert repair["role"] == "user"
    assert feedback in repair["content"]
    assert '"additionalProperties":false' in repair["content"]  # the schema, for lax servers


def test_garbage_every_time_gives_up_after_exactly_two_requests(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(content="Sure! Here are my thoughts, in prose.")
    with pytest.raises(LLMError, match="did not match the expected format"):
        ask(make_client(server, max_retries=2))
    assert len(server.requests) == 2


def test_rate_limit_is_retried_honouring_retry_after(
    server: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.script(Reply(status=429, retry_after=FAST), Reply(content=GOOD))
    assert ask(make_client(server)).summary == GOOD["summary"]

    assert len(server.requests) == 2
    # Retries are stamped as the SDK stamps its own, so server logs read the same.
    assert [h["x-stainless-retry-count"] for h in server.headers] == ["0", "1"]
    retry_logs = [r.getMessage() for r in caplog.records if r.name == "bot.llm"]
    assert any("retrying in 0.01 s" in m for m in retry_logs), retry_logs


def test_server_error_every_time_fails_after_max_retries_plus_one(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(status=500, retry_after=FAST)
    with pytest.raises(LLMError, match="HTTP 500"):
        ask(make_client(server, max_retries=2))
    assert len(server.requests) == 3
    assert [h["x-stainless-retry-count"] for h in server.headers] == ["0", "1", "2"]


def test_timeout_becomes_llm_error_and_is_not_retried(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(content=GOOD, delay=5)
    with pytest.raises(LLMError, match="did not answer within 0.3 s"):
        ask(make_client(server, max_retries=1, timeout=0.3))
    assert len(server.requests) == 1  # the deadline is spent: a retry could not finish


def test_dropped_connection_becomes_llm_error(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(drop_connection=True)
    with pytest.raises(LLMError, match="Could not reach"):
        ask(make_client(server, max_retries=1))
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(empty_choices=True), "no answer"),
        (Reply(content=""), "empty answer"),
        (Reply(content=None, refusal="I can't help with that."), "declined"),
    ],
    ids=["empty-choices", "empty-content", "refusal"],
)
def test_unusable_completions_are_llm_errors(
    server: FakeLLMServer, reply: Reply, message: str
) -> None:
    server.script(reply)
    with pytest.raises(LLMError, match=message):
        ask(make_client(server))
    assert len(server.requests) == 1


def test_json_mode_only_server_falls_back_once_and_remembers() -> None:
    with FakeLLMServer(json_mode_only=True, responder=lambda body: Reply(content=GOOD)) as srv:
        client = make_client(srv)
        assert ask(client).summary == GOOD["summary"]
        assert len(srv.requests) == 2
        assert ask(client).summary == GOOD["summary"]
        assert len(srv.requests) == 3  # the second call went straight to json_object

        formats = [body["response_format"]["type"] for body in srv.requests]
        assert formats == ["json_schema", "json_object", "json_object"]
        system = srv.requests[1]["messages"][0]["content"]
        assert system.startswith(SYSTEM)
        assert '"additionalProperties":false' in system  # the schema moved into the prompt
        assert client.mode == "json_object"


def test_unrelated_bad_request_does_not_trigger_the_fallback(server: FakeLLMServer) -> None:
    server.script(Reply(status=400, error_message="This model's maximum context length is 8192"))
    client = make_client(server)
    with pytest.raises(LLMError, match="HTTP 400"):
        ask(client)
    assert len(server.requests) == 1
    assert client.mode == "json_schema"


def test_model_rejecting_temperature_is_asked_again_without_it(server: FakeLLMServer) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if "temperature" in body:
            return Reply(status=400, error_message="Unsupported value: 'temperature' does not "
                         "support 0.2 with this model. Only the default (1) value is supported.")
        return Reply(content=GOOD)

    server.responder = responder
    client = make_client(server)
    ask(client)
    ask(client)
    assert ["temperature" in body for body in server.requests] == [True, False, False]


def test_key_prompt_and_content_never_leak(
    server: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(server, max_retries=0, timeout=0.3)  # retries are covered above
    errors: list[str] = []
    scenarios = [
        Reply(status=401, error_message=f"Incorrect API key provided: {KEY}."),
        Reply(status=500, error_message=f"upstream said {KEY}"),
        Reply(content=GOOD, delay=5),
        Reply(content=f"not json {KEY}"),
        Reply(drop_connection=True),
    ]
    for reply in scenarios:
        server.responder = lambda body, reply=reply: reply
        with pytest.raises(LLMError) as info:
            ask(client)
        errors.append(str(info.value))
    server.responder = lambda body: Reply(content=GOOD)
    ask(client)

    assert errors and all(KEY not in e for e in errors), errors
    assert "OPENAI_API_KEY" in errors[0]
    assert KEY not in repr(client)
    for record in caplog.records:
        assert KEY not in record.getMessage(), record.name
    ours = [r.getMessage() for r in caplog.records if r.name == "bot.llm"]
    assert ours
    for message in ours:
        assert "SYSTEM-MARKER" not in message
        assert "USER-MARKER" not in message
        assert "CONTENT-MARKER" not in message


def test_success_is_logged_with_model_requests_latency_and_tokens(
    server: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.llm")
    server.script(Reply(status=503, retry_after=FAST), Reply(content=GOOD))
    ask(make_client(server))
    [record] = [r for r in caplog.records
                if r.name == "bot.llm" and r.getMessage().startswith("llm call")]
    message = record.getMessage()
    assert record.levelno == logging.INFO
    for part in ("model=test-model", "requests=2", "latency_ms=", "prompt_tokens=",
                 "completion_tokens="):
        assert part in message
    assert "prompt_tokens=?" not in message


def test_build_llm_is_none_without_key_or_base_url() -> None:
    assert build_llm(load_settings()) is None


def test_build_llm_for_a_local_server_needs_no_key(server: FakeLLMServer) -> None:
    settings = load_settings(OPENAI_BASE_URL=server.base_url, EMPTYCHAIR_MODEL="local-model")
    llm = build_llm(settings)
    assert isinstance(llm, OpenAIClient)
    assert llm.model == "local-model"
    server.script(Reply(content=GOOD))
    ask(llm)
    assert server.headers[0]["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert server.requests[0]["model"] == "local-model"
