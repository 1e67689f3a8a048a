"""The HTTP face of the server: OpenAI's ``/v1`` routes on FastAPI (which Gradio already uses).

``create_app`` wires four routes (``GET /v1/models``, ``GET /v1/models/{id}``, ``POST
/v1/chat/completions``, ``POST /v1/completions``) plus an unauthenticated ``GET /health`` to a
``ServeService``. Answers stream as server-sent events in OpenAI's chunk shape (``data: {...}``
then ``data: [DONE]``) or come back whole; every failure, from a bad key to a bad parameter to a
model that broke mid-answer, is an OpenAI-shaped error body so the official clients raise their
usual exceptions. A client that disconnects mid-stream frees its batch rows at the next token.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from studio.engine.errors import ServeError, StudioError
from studio.engine.serve import protocol as p
from studio.engine.serve.hosts import refusal
from studio.engine.serve.service import ServeService

STATUS = {"serve_api_key": 401, "serve_host": 403, "serve_model_not_found": 404}
OPENAI_CODE = {"serve_api_key": "invalid_api_key", "serve_model_not_found": "model_not_found",
               "serve_context_length": "context_length_exceeded"}


def create_app(service: ServeService, api_key: str | None = None,
               hosts: set[str] | None = None) -> FastAPI:
    """``hosts``: the only Host (and Origin) values served, for a loopback server: a web page
    that points its own domain name at 127.0.0.1 (DNS rebinding) is refused."""
    app = FastAPI(title="Fine-Tune Studio API", docs_url=None, redoc_url=None)
    _guard(app, api_key, hosts)
    _errors(app)

    @app.get("/health")
    async def health():
        return {"status": "ok", "in_flight": service.batcher.active}

    @app.get("/v1/models")
    async def models():
        entries = await asyncio.to_thread(service.registry.entries)
        return {"object": "list", "data": [_model(e) for e in entries]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str):
        return _model(await asyncio.to_thread(service.registry.entry, name))

    async def answer(request: Request, chat: bool):
        ask = (p.parse_chat if chat else p.parse_completion)(await _body(request))
        job, events = await _start(service, ask)
        if ask.stream:
            return _sse((_chat_chunks if chat else _text_chunks)(ask, job, events))
        return await _whole(ask, job, events, chat=chat)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await answer(request, chat=True)

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await answer(request, chat=False)

    return app


# ---------------------------------------------------------------------- guard and errors
def _guard(app: FastAPI, api_key: str | None, hosts: set[str] | None) -> None:
    @app.middleware("http")
    async def check_key(request: Request, call_next):
        if hosts is not None and refusal(request.headers.get("host", ""),
                                         request.headers.get("origin"), hosts):
            return _error(ServeError("serve_host", host=request.headers.get("host", "")))
        if api_key and request.url.path.startswith("/v1"):
            header = request.headers.get("authorization", "")
            given = header[7:].strip() if header.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return _error(ServeError("serve_api_key"))
        return await call_next(request)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(StudioError)
    async def studio_error(request: Request, exc: StudioError):
        return _error(exc)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse(p.error_body(str(exc.detail), None), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception):
        return JSONResponse(p.error_body(f"{type(exc).__name__}: {exc}", None,
                                         kind="server_error"), status_code=500)


def _error(exc: StudioError) -> JSONResponse:
    code = exc.reason.code
    return JSONResponse(p.error_body(str(exc), OPENAI_CODE.get(code, code),
                                     exc.reason.params.get("param")),
                        status_code=STATUS.get(code, 400))


async def _body(request: Request):
    try:
        return json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServeError("serve_bad_json", detail=str(exc)) from None


def _model(entry) -> dict:
    return {"id": entry.name, "object": "model", "created": entry.created,
            "owned_by": "fine-tune-studio", "kind": entry.kind}


# ---------------------------------------------------------------------- running a request
async def _start(service: ServeService, ask: p.Ask):
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def emit(index, event):
        loop.call_soon_threadsafe(events.put_nowait, (index, event))

    job = await asyncio.to_thread(service.submit, ask, emit)  # may load weights: off the loop
    return job, events


async def _events(job, events: asyncio.Queue):
    """Every (choice, event) until each choice has finished; a client gone cancels the rest."""
    left = len(job.sequences)
    try:
        while left:
            index, event = await events.get()
            left -= event.finish is not None
            yield index, event
    finally:
        job.cancel()  # no-op for finished rows; frees the batch of a client that went away


async def _whole(ask: p.Ask, job, events, chat: bool) -> JSONResponse:
    n = len(job.sequences)
    texts, finish, tokens = [""] * n, [""] * n, [0] * n
    async for i, event in _events(job, events):
        texts[i] += event.delta
        if event.finish == "error":
            raise RuntimeError(event.error)
        if event.finish:
            finish[i], tokens[i] = event.finish, event.completion_tokens
    choices = []
    for i in range(n):
        if chat:
            message, reason = p.chat_message(texts[i], finish[i], bool(ask.tools))
            choices.append({"index": i, "message": message, "finish_reason": reason,
                            "logprobs": None})
        else:
            choices.append({"index": i, "text": texts[i], "finish_reason": finish[i],
                            "logprobs": None})
    kind, prefix = ("chat.completion", "chatcmpl") if chat else ("text_completion", "cmpl")
    return JSONResponse(p.envelope(kind, p.new_id(prefix), ask.model, choices,
                                   usage=_usage(job, tokens)))


def _usage(job, tokens: list[int]) -> dict:
    return p.usage(job.prompt_tokens, sum(tokens))


def _sse(chunks) -> StreamingResponse:
    async def lines():
        async for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def _chat_chunks(ask: p.Ask, job, events):
    rid, n = p.new_id("chatcmpl"), len(job.sequences)

    def chunk(i, delta, finish=None):
        return p.envelope("chat.completion.chunk", rid, ask.model,
                          [{"index": i, "delta": delta, "finish_reason": finish,
                            "logprobs": None}])

    for i in range(n):
        yield chunk(i, {"role": "assistant", "content": ""})
    full, shown, tokens = [""] * n, [0] * n, [0] * n
    async for i, event in _events(job, events):
        if event.finish == "error":
            yield p.error_body(event.error, None, kind="server_error")
            return
        full[i] += event.delta
        safe = _shown_upto(full[i], bool(ask.tools), event.finish is not None)
        if safe > shown[i]:
            yield chunk(i, {"content": full[i][shown[i]:safe]})
            shown[i] = safe
        if event.finish:
            tokens[i] = event.completion_tokens
            message, reason = p.chat_message(full[i], event.finish, bool(ask.tools))
            calls = [{"index": k, **call} for k, call in enumerate(message.get("tool_calls", []))]
            yield chunk(i, {"tool_calls": calls} if calls else {}, reason)
    if ask.include_usage:
        yield p.envelope("chat.completion.chunk", rid, ask.model, [],
                         usage=_usage(job, tokens))


def _shown_upto(text: str, tools: bool, finished: bool) -> int:
    """How much of an answer may be streamed as content now: with tools, nothing from the
    start of a ``<tool_call>`` on (it is sent as ``tool_calls`` at the end)."""
    if not tools:
        return len(text)
    if p.TOOL_OPEN in text:
        return text.index(p.TOOL_OPEN)
    return len(text) if finished else len(text) - p.held_back(text, (p.TOOL_OPEN,))


async def _text_chunks(ask: p.Ask, job, events):
    rid, tokens = p.new_id("cmpl"), [0] * len(job.sequences)
    async for i, event in _events(job, events):
        if event.finish == "error":
            yield p.error_body(event.error, None, kind="server_error")
            return
        if event.finish:
            tokens[i] = event.completion_tokens
        if event.delta or event.finish:
            yield p.envelope("text_completion", rid, ask.model,
                             [{"index": i, "text": event.delta, "logprobs": None,
                               "finish_reason": event.finish}])
    if ask.include_usage:
        yield p.envelope("text_completion", rid, ask.model, [], usage=_usage(job, tokens))
