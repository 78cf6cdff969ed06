"""OpenAIClient's limits against the local fake server: deadline, length cap, repair, context.

The server shapes the fake imitates, as found in public sources:
- llama.cpp server README (ggml-org/llama.cpp, tools/server/README.md @25d5b0c): `GET /props`
  answers `{"default_generation_settings": {"n_ctx": 1024, ...}, "total_slots": 1, ...}` (the
  n_ctx of one slot); `POST /tokenize {"content": ..., "add_special": ...}` answers
  `{"tokens": [123, 456, 789]}`.
- llama.cpp server source (`server_task_result_error::to_json` adds `n_prompt_tokens` and `n_ctx`
  for ERROR_TYPE_EXCEED_CONTEXT_SIZE, sent as HTTP 400 with type `exceed_context_size_error`
  and the message "request (N tokens) exceeds the available context size (M tokens), try
  increasing it"); a prompt is refused when its tokens reach the slot's n_ctx.
- Ollama docs (ollama/ollama, docs/context-length.mdx): the context it runs with is its own
  default (4k under 24 GiB VRAM) or OLLAMA_CONTEXT_LENGTH, not the model's trained length;
  `POST /api/show` returns `parameters` as text ("num_ctx 2048") and `model_info` with
  `<arch>.context_length`. aider's Ollama docs: Ollama silently discards what exceeds the window.
- OpenAI names the same refusal with code `context_length_exceeded`; vLLM words it "This
  model's maximum context length is ...".
No test here asserts a duration: deadlines are short so the tests are fast, and the assertions
are on outcomes (the error type, what was sent, that the connection was dropped).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from bot.config import load_settings
from bot.errors import LLMContextError, LLMError
from bot.llm import (
    REPAIR_EXCERPT_CHARS,
    OpenAIClient,
    build_llm,
    estimate_tokens,
    server_root,
)
from bot.sandbox.fake_llm import CONTEXT_EXCEEDED_TYPE, FakeLLMServer, Reply, fake_tokens

SYSTEM = "You speak for the customer."
USER = "Proposal: close the phone line on Saturdays."


class Answer(BaseModel):
    summary: str
    findings: list[str]


GOOD: dict[str, Any] = {"summary": "weekend callers lose their deliveries", "findings": ["C-1"]}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


def make_client(
    server: FakeLLMServer, *, timeout: float = 2.0, max_retries: int = 1, **kwargs: Any
) -> OpenAIClient:
    return OpenAIClient(api_key="sk-test-limits-0000", base_url=server.base_url,
                        model="test-model", timeout=timeout, max_retries=max_retries, **kwargs)


def ask(client: OpenAIClient, user: str = USER) -> Answer:
    return client.complete(SYSTEM, user, Answer, schema_name="answer")


def eventually(check: Callable[[], bool], limit: float = 10.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return check()


# -- one total deadline -----------------------------------------------------------------------


def test_stalled_stream_gives_up_with_llm_error_and_drops_the_connection(
    server: FakeLLMServer,
) -> None:
    # A byte at a time, each well inside any per-read timeout: only a total deadline stops it.
    server.responder = lambda body: Reply(content=GOOD, trickle=0.05)
    client = make_client(server, timeout=0.5, max_retries=2)
    with pytest.raises(LLMError, match="did not answer within 0.5 s"):
        ask(client)
    assert len(server.requests) == 1  # a timeout is not retried
    # The abandoned request does not hold the connection until the server stops sending.
    assert eventually(lambda: server.hangups == 1)


def test_a_server_silent_after_its_headers_is_a_timeout(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(content=GOOD, trickle=30)
    with pytest.raises(LLMError, match="did not answer within"):
        ask(make_client(server, timeout=0.3, max_retries=2))
    assert len(server.requests) == 1


def test_the_deadline_spans_the_repair_round(server: FakeLLMServer) -> None:
    server.script(Reply(content="Sure, in prose."), Reply(content=GOOD, delay=5))
    with pytest.raises(LLMError, match="did not answer within"):
        ask(make_client(server, timeout=0.5))
    assert len(server.requests) == 2


def test_retries_stop_when_the_pause_would_outlast_the_deadline(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(status=503, retry_after=0.6)
    with pytest.raises(LLMError, match="HTTP 503"):
        ask(make_client(server, timeout=1.0, max_retries=5))
    assert 1 <= len(server.requests) <= 2  # two pauses of 0.6 s never fit in 1 s


def test_a_later_call_gets_a_fresh_deadline(server: FakeLLMServer) -> None:
    server.script(Reply(content=GOOD, trickle=0.05), Reply(content=GOOD))
    client = make_client(server, timeout=0.5)
    with pytest.raises(LLMError):
        ask(client)
    assert ask(client).summary == GOOD["summary"]


# -- nothing but LLMError escapes ---------------------------------------------------------------


def test_invalid_utf8_is_an_llm_error(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(content=GOOD, invalid_utf8=True)
    with pytest.raises(LLMError):
        ask(make_client(server, max_retries=2))


FAULTS: dict[str, Reply] = {
    "stalled": Reply(content=GOOD, trickle=0.05),
    "invalid-utf8": Reply(content=GOOD, invalid_utf8=True),
    "dropped": Reply(drop_connection=True),
    "run-on": Reply(run_on=True),
    "context": Reply(context_exceeded=True),
    "server-error": Reply(status=500),
    "prose": Reply(content="I would rather not use JSON today."),
    "length-and-empty": Reply(content=None, finish_reason="length"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_is_an_llm_error(server: FakeLLMServer, fault: str) -> None:
    server.responder = lambda body: FAULTS[fault]
    with pytest.raises(LLMError) as info:
        ask(make_client(server, timeout=0.5, max_retries=1))
    assert "sk-test-limits" not in str(info.value)


def test_an_unforeseen_exception_becomes_an_llm_error(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(server)

    def explode(**kwargs: Any) -> Any:
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    monkeypatch.setattr(client._client.chat.completions, "create", explode)
    with pytest.raises(LLMError, match="unreadable"):
        ask(client)


# -- the answer's length ------------------------------------------------------------------------


def test_max_tokens_is_sent_and_follows_the_setting(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(content=GOOD)
    ask(make_client(server))
    ask(make_client(server, max_tokens=321))
    assert [body["max_tokens"] for body in server.requests] == [900, 321]
    assert all("max_completion_tokens" not in body for body in server.requests)


def test_build_llm_passes_the_length_and_context_settings(server: FakeLLMServer) -> None:
    settings = load_settings(OPENAI_BASE_URL=server.base_url, EMPTYCHAIR_LLM_MAX_TOKENS=444,
                             EMPTYCHAIR_LLM_CONTEXT_TOKENS=3000)
    llm = build_llm(settings)
    assert isinstance(llm, OpenAIClient)
    assert (llm.max_tokens, llm.context_tokens()) == (444, 3000)
    server.script(Reply(content=GOOD))
    ask(llm)
    assert server.requests[0]["max_tokens"] == 444


def test_a_server_rejecting_max_tokens_gets_max_completion_tokens_from_then_on(
    server: FakeLLMServer,
) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if "max_tokens" in body:
            return Reply(status=400, error_message="Unsupported parameter: 'max_tokens' is not "
                         "supported with this model. Use 'max_completion_tokens' instead.")
        return Reply(content=GOOD)

    server.responder = responder
    client = make_client(server)
    ask(client)
    ask(client)
    caps = [(body.get("max_tokens"), body.get("max_completion_tokens"))
            for body in server.requests]
    assert caps == [(900, None), (None, 900), (None, 900)]


def test_an_answer_cut_off_at_the_cap_is_repaired_with_an_excerpt(server: FakeLLMServer) -> None:
    server.script(Reply(run_on=True), Reply(content=GOOD))
    result = ask(make_client(server))

    assert result.summary == GOOD["summary"]
    first, second = server.requests
    assert first["max_tokens"] == second["max_tokens"] == 900
    previous, repair = second["messages"][-2:]
    assert previous["role"] == "assistant"
    assert len(previous["content"]) <= REPAIR_EXCERPT_CHARS + 4
    assert previous["content"].startswith('{ " summary')  # the start of what the model wrote
    assert "length limit of 900 tokens" in repair["content"]


def test_a_cut_off_answer_is_not_parsed_even_when_it_happens_to_validate(
    server: FakeLLMServer,
) -> None:
    server.script(Reply(content=GOOD, finish_reason="length"), Reply(content=GOOD))
    ask(make_client(server))
    assert len(server.requests) == 2


def test_running_on_every_time_fails_after_one_repair(server: FakeLLMServer) -> None:
    server.responder = lambda body: Reply(run_on=True)
    with pytest.raises(LLMError, match="ran past the 900-token limit"):
        ask(make_client(server, max_retries=2))
    assert len(server.requests) == 2


def test_the_repair_request_carries_only_an_excerpt_of_a_long_bad_answer(
    server: FakeLLMServer,
) -> None:
    bad = "BAD-START " + "The customer is unhappy about many things. " * 400 + " BAD-END"
    server.script(Reply(content=bad), Reply(content=GOOD))
    ask(make_client(server))

    first, second = server.requests
    previous = second["messages"][-2]["content"]
    assert previous.startswith("BAD-START")
    assert len(previous) <= REPAIR_EXCERPT_CHARS + 4
    assert "BAD-END" not in json.dumps(second)
    assert len(json.dumps(second)) < len(json.dumps(first)) + len(bad) // 2


# -- the model's context ------------------------------------------------------------------------


def test_server_root_drops_a_trailing_v1() -> None:
    assert server_root("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:8080/v1/") == "http://127.0.0.1:8080"
    assert server_root("http://127.0.0.1:11434") == "http://127.0.0.1:11434"


def test_llama_cpp_context_and_tokenizer_are_used_and_cached() -> None:
    with FakeLLMServer(n_ctx=4096) as srv:
        client = make_client(srv)
        assert client.context_tokens() == 4096
        assert client.context_tokens() == 4096
        text = "Weekend callers, again: where is my parcel?"
        assert client.count_tokens(text) == len(fake_tokens(text))
        assert client.budget_tokens() == 4096 - 900 - 64
        assert client.fits(SYSTEM, USER, Answer)
        assert not client.fits(SYSTEM, "word " * 4000, Answer)

        paths = [(method, path) for method, path, _ in srv.calls]
        assert paths.count(("GET", "/props")) == 1  # asked once per client
        assert ("POST", "/api/show") not in paths
        tokenized = [body for method, path, body in srv.calls if path == "/tokenize"]
        assert tokenized and tokenized[0] is not None and tokenized[0]["content"] == text


def test_budget_reserves_room_for_the_schema_and_a_repair_turn() -> None:
    with FakeLLMServer(n_ctx=4096) as srv:
        client = make_client(srv)
        assert client.budget_tokens(Answer) < client.budget_tokens()
        json_mode = make_client(srv)
        json_mode._mode_index = 1  # a server without json_schema: the schema rides in the prompt
        assert json_mode.budget_tokens(Answer) < client.budget_tokens(Answer)


def test_a_llama_cpp_build_without_tokenize_falls_back_to_the_estimate() -> None:
    with FakeLLMServer(n_ctx=4096, tokenize=False) as srv:
        client = make_client(srv)
        text = "where is my refund " * 10
        assert client.count_tokens(text) == estimate_tokens(text)
        client.count_tokens(text)
        assert [path for _, path, _ in srv.calls].count("/tokenize") == 1  # not asked again


@pytest.mark.parametrize(
    ("show", "expected"),
    [
        ({"model_info": {"general.architecture": "llama", "llama.context_length": 131072},
          "parameters": "temperature 0.7"}, 8192),
        ({"model_info": {"qwen2.context_length": 32768},
          "parameters": "stop \"<|im_end|>\"\nnum_ctx 4096"}, 4096),
        ({"model_info": {"gemma.context_length": 2048}}, 2048),
    ],
    ids=["trained-length-capped-by-setting", "num_ctx-parameter", "small-trained-length"],
)
def test_ollama_context_comes_from_api_show(show: dict[str, Any], expected: int) -> None:
    with FakeLLMServer(ollama_show=show) as srv:
        client = make_client(srv)
        assert client.context_tokens() == expected
        text = "where is my refund"
        assert client.count_tokens(text) == estimate_tokens(text)  # Ollama has no tokenizer route
        calls = srv.calls
        assert ("POST", "/api/show", {"model": "test-model"}) in calls
        assert all(path != "/tokenize" for _, path, _ in calls)


def test_a_server_that_does_not_say_uses_the_setting(server: FakeLLMServer) -> None:
    client = make_client(server, context_tokens=5000)
    assert client.context_tokens() == 5000
    assert client.count_tokens("abcdef") == estimate_tokens("abcdef") == 2
    client.fits(SYSTEM, USER)
    assert len(server.calls) == 2  # /props and /api/show, once each
    assert server.requests == []


def test_the_estimate_is_conservative_for_non_ascii_text() -> None:
    assert estimate_tokens("abc" * 10) == 10
    assert estimate_tokens("退货太慢了") == 5
    assert estimate_tokens("") == 0


def test_context_refusal_is_a_distinct_error_with_the_servers_counts() -> None:
    with FakeLLMServer(n_ctx=256, responder=lambda body: Reply(content=GOOD)) as srv:
        client = make_client(srv, max_retries=2)
        long_user = "The parcel never came and nobody answered. " * 60
        assert not client.fits(SYSTEM, long_user)
        with pytest.raises(LLMContextError) as info:
            ask(client, long_user)
        error = info.value
        assert error.context_tokens == 256
        assert error.prompt_tokens is not None and error.prompt_tokens >= 256
        assert "context window" in str(error)
        assert len(srv.requests) == 1  # neither retried nor taken for a format problem
        assert client.mode == "json_schema"
        # The caller shrinks what it sends and asks once more.
        assert ask(client, USER).summary == GOOD["summary"]


def test_a_refusal_teaches_the_client_the_servers_context(server: FakeLLMServer) -> None:
    server.script(Reply(context_exceeded=True))
    client = make_client(server)
    with pytest.raises(LLMContextError):
        ask(client)
    assert client.context_tokens() == 4096  # what the refusal said, not the 8192 default


def test_openai_wording_of_the_refusal_is_recognised(server: FakeLLMServer) -> None:
    server.script(Reply(status=400, error_message="This model's maximum context length is 8192 "
                        "tokens. However, your messages resulted in 9100 tokens."))
    with pytest.raises(LLMContextError, match="HTTP 400"):
        ask(make_client(server))


def test_the_fake_refuses_with_llama_cpps_body() -> None:
    import httpx2

    with FakeLLMServer(n_ctx=8) as srv:
        response = httpx2.post(f"{srv.base_url}/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "one two three four five"}]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == CONTEXT_EXCEEDED_TYPE
    assert error["code"] == 400 and error["n_ctx"] == 8 and error["n_prompt_tokens"] >= 8
    assert "exceeds the available context size" in error["message"]


def test_an_unreachable_server_is_asked_again_later(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.llm as llm_mod

    monkeypatch.setattr(llm_mod, "REPROBE_AFTER", 0.0)
    with FakeLLMServer(n_ctx=2048) as gone:
        url = gone.base_url
    client = OpenAIClient(api_key="", base_url=url, model="m", timeout=1.0)
    assert client.context_tokens() == 8192  # nothing listens: the setting, for now
    with FakeLLMServer(n_ctx=2048) as srv:
        client.base_url = srv.base_url  # the server has come up
        assert client.context_tokens() == 2048


def test_hosted_openai_is_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenAI has no /props, /api/show or /tokenize: the answer comes from the setting alone.
    client = OpenAIClient(api_key="sk-x", base_url=None, model="gpt-4o-mini",
                          context_tokens=16000)
    probes: list[Any] = []
    monkeypatch.setattr(client._http, "request", lambda *a, **k: probes.append(a))
    assert client.context_tokens() == 16000
    assert client.count_tokens("abcdef") == 2
    assert probes == []


def test_lone_surrogates_in_the_answer_do_not_reach_the_caller(server: FakeLLMServer) -> None:
    # The wire JSON escapes it (valid JSON); decoded, the content holds a lone surrogate.
    raw = json.dumps({"summary": "late \udc80 again", "findings": []}, ensure_ascii=False)
    server.script(Reply(content=raw))
    result = ask(make_client(server))
    assert len(server.requests) == 1
    result.summary.encode("utf-8")  # would raise on a lone surrogate
    assert result.summary.startswith("late ") and result.summary.endswith(" again")
