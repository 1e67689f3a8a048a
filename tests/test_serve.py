"""``studio serve`` through the official ``openai`` client, on the tiny model and a tuned run.

The server runs for real on a loopback port (uvicorn in a thread, the studio's batcher behind
it); the run is a real LoRA adapter taught to say its new name (``make_identity_run``), so "the
tuned model answers with its trained name while the base does not" is a fact about weights.
"""

from __future__ import annotations

import json
import socket
import threading

import openai
import pytest
import torch

from studio.engine.errors import ServeError
from studio.engine.runs import RunStore
from studio.engine.serve.server import ServeOptions, StudioServer
from studio.engine.train.config import TrainConfig
from tests.test_chat import make_identity_run, teach

WHO = [{"role": "user", "content": "Who are you?"}]
WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_tool_run(store: RunStore, model_dir, steps: int = 100):
    """A completed full fine-tune that answers the weather question with a ``<tool_call>``
    (the tiny model is too small to learn that through a LoRA adapter)."""
    from transformers import AutoModelForCausalLM

    run = store.create(TrainConfig(model=str(model_dir), dataset="unused.json",
                                   finetuning_type="full", dtype="float32"))
    torch.manual_seed(0)
    teach(AutoModelForCausalLM.from_pretrained(model_dir), model_dir,
          [*WEATHER, {"role": "assistant", "content": CALL}], steps, 3e-3, run.model_dir, TOOLS)
    run.update_status(state="completed", step=steps, total_steps=steps)
    return run


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny model is all overhead; a second thread only spins
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_dir):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    store.nova = make_identity_run(store, tiny_model_dir).id
    store.tool = make_tool_run(store, tiny_model_dir).id
    return store


@pytest.fixture(scope="module")
def server(store, tiny_model_dir):
    options = ServeOptions(model=str(tiny_model_dir), port=free_port(), api_key="sk-test",
                           dtype="float32")
    server = StudioServer(options, runs=store).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.options.url, api_key="sk-test", max_retries=0)


@pytest.fixture(scope="module")
def base(tiny_model_dir):
    return tiny_model_dir.name


def ask(client, model, messages=WHO, **kwargs):
    kwargs.setdefault("temperature", 0)
    kwargs.setdefault("max_tokens", 24)
    return client.chat.completions.create(model=model, messages=messages, **kwargs)


def test_models_lists_the_base_and_every_finished_run(client, store, base):
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == base
    assert set(ids[1:]) == {store.nova, store.tool}
    assert client.models.retrieve(store.nova).id == store.nova


def test_tuned_run_says_its_trained_name_and_the_base_does_not(client, store, base):
    tuned = ask(client, store.nova)
    plain = ask(client, base)
    assert "Nova" in tuned.choices[0].message.content
    assert "Nova" not in plain.choices[0].message.content
    assert tuned.choices[0].finish_reason == "stop"  # it learned to stop, too
    assert tuned.model == store.nova
    usage = tuned.usage
    assert usage.prompt_tokens > 3 and usage.completion_tokens > 3
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_gives_the_same_answer_token_by_token(client, store):
    whole = ask(client, store.nova).choices[0].message.content
    stream = ask(client, store.nova, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    parts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(parts) > 3  # token by token, not one blob
    assert "".join(parts) == whole
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop" and not any(finish[:-1])
    usage = chunks[-1].usage  # the include_usage chunk comes last, with no choices
    assert not chunks[-1].choices
    assert usage.completion_tokens == ask(client, store.nova).usage.completion_tokens >= len(parts)


def test_max_tokens_stop_n_and_seed(client, base):
    short = ask(client, base, max_tokens=3)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 3
    full = ask(client, base, max_tokens=20).choices[0].message.content
    cut = full[len(full) // 2:][:3]
    stopped = ask(client, base, max_tokens=20, stop=[cut]).choices[0]
    assert stopped.finish_reason == "stop" and stopped.message.content == full[:full.index(cut)]
    sampled = ask(client, base, temperature=1.5, top_p=1.0, n=3, seed=11)
    again = ask(client, base, temperature=1.5, top_p=1.0, n=3, seed=11)
    texts = [c.message.content for c in sampled.choices]
    assert [c.index for c in sampled.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in again.choices]  # the seed repeats them
    assert len(set(texts)) > 1  # ... and each choice samples on its own


def test_tool_calls_come_back_in_openai_shape(client, store):
    tools = TOOLS
    reply = ask(client, store.tool, WEATHER, tools=tools, max_tokens=80).choices[0]
    assert reply.finish_reason == "tool_calls", reply.message.content
    call = reply.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    chunks = list(ask(client, store.tool, WEATHER, tools=tools, max_tokens=80, stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "<tool_call>" not in content
    calls = [t for c in chunks if c.choices for t in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].function.name == "get_weather"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    without = ask(client, store.tool, WEATHER, tools=tools, tool_choice="none", max_tokens=80)
    assert without.choices[0].finish_reason != "tool_calls"  # no tools offered: no call parsed


def test_completions_endpoint(client, base):
    out = client.completions.create(model=base, prompt=["Once upon a time", "Hello"],
                                    max_tokens=5, temperature=0)
    assert [c.index for c in out.choices] == [0, 1]
    assert all(c.finish_reason in ("length", "stop") and c.text for c in out.choices)
    streamed = client.completions.create(model=base, prompt="Once upon a time", max_tokens=5,
                                         temperature=0, stream=True)
    assert "".join(c.choices[0].text for c in streamed if c.choices) == out.choices[0].text


def test_bad_requests_get_openai_shaped_errors(client, server, base):
    with pytest.raises(openai.NotFoundError) as missing:
        ask(client, "no-such-model")
    assert missing.value.code == "model_not_found" and base in missing.value.message
    with pytest.raises(openai.BadRequestError) as hot:
        ask(client, base, temperature=7)
    assert hot.value.param == "temperature" and "<= 2" in hot.value.message
    with pytest.raises(openai.BadRequestError) as empty:
        ask(client, base, messages=[])
    assert empty.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as long:
        ask(client, base, max_tokens=10**6)
    assert long.value.code == "context_length_exceeded"
    stranger = openai.OpenAI(base_url=server.options.url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        stranger.models.list()
    assert denied.value.code == "invalid_api_key"
    assert ask(client, base).choices[0].message.content  # the server is still fine


def test_eight_concurrent_clients_are_all_answered_as_if_alone(client, store, base):
    prompts = [[{"role": "user", "content": text}] for text in
               ("Who are you?", "Hi", "What is two plus two, in words?", "Name a colour",
                "Tell me a story about a cat who lived on a boat", "Why?", "Who are you?", "Go")]
    models = [store.nova if i % 2 else base for i in range(8)]
    alone = [ask(client, m, p).choices[0].message.content for m, p in zip(models, prompts)]
    together: list[str | None] = [None] * 8

    def one(i):
        together[i] = ask(client, models[i], prompts[i]).choices[0].message.content

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Rows joined mid-answer, padded, mixed base and adapter: each answer is still its own.
    assert together == alone
    assert "Nova" in together[1] and "Nova" not in together[0]


def test_unsafe_options_are_refused_before_anything_starts(tiny_model_dir):
    with pytest.raises(ServeError, match="API key"):
        StudioServer(ServeOptions(model=str(tiny_model_dir), host="0.0.0.0"))
    assert ServeOptions(host="0.0.0.0", api_key="k").problems() == []
    assert ServeOptions(host="localhost").problems() == []
    with pytest.raises(ServeError, match="65535"):
        StudioServer(ServeOptions(model=str(tiny_model_dir), port=70000))


def test_a_port_in_use_is_named(tiny_model_dir, server):
    other = StudioServer(ServeOptions(model=str(tiny_model_dir), port=server.options.port))
    with pytest.raises(ServeError, match=f"{server.options.port}"):
        other.start()


def test_rows_that_join_mid_answer_write_what_they_would_alone(server, store, base):
    """Joining a running batch pads both caches to one length; nothing of that may leak."""
    from queue import Queue

    from studio.engine.serve.protocol import parse_chat

    def body(model, text, tokens=16):
        return parse_chat({"model": model, "messages": [{"role": "user", "content": text}],
                           "temperature": 0, "max_tokens": tokens})

    def run(asks, join_after: int | None = None):
        events: Queue = Queue()
        texts = [""] * len(asks)
        first, *rest = asks
        server.service.submit(first, lambda i, e: events.put((0, e)))
        seen, done, started = 0, 0, join_after is None
        if started:
            for k, a in enumerate(rest, 1):
                server.service.submit(a, lambda i, e, k=k: events.put((k, e)))
        while done < len(asks):
            k, event = events.get(timeout=60)
            texts[k] += event.delta
            done += event.finish is not None
            seen += k == 0
            if not started and seen >= join_after:
                started = True
                for j, a in enumerate(rest, 1):
                    server.service.submit(a, lambda i, e, j=j: events.put((j, e)))
        return texts

    asks = [body(base, "Tell me a story about a cat who lived on a boat", 24),
            body(store.nova, "Who are you?"), body(base, "Hi")]
    alone = [run([a])[0] for a in asks]
    assert run(asks, join_after=5) == alone
