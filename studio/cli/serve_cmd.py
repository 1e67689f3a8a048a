"""``studio serve``: the base model and its finished runs behind an OpenAI-compatible API.

``studio serve`` listens on 127.0.0.1:8000; any OpenAI client then talks to it with
``base_url="http://127.0.0.1:8000/v1"`` and a run id (``GET /v1/models`` lists them) as the
model. Serving on another address needs ``--api-key`` (or ``STUDIO_API_KEY``). ``--engine vllm``
hands the same models to vLLM on a GPU machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from studio.cli import runs_dir_option
from studio.engine.models import BUNDLED_ID


def register(sub) -> None:
    p = sub.add_parser("serve", help="serve the base model and its runs on an OpenAI-style API")
    p.add_argument("--model", default=BUNDLED_ID, help=f"base model (default: {BUNDLED_ID})")
    runs_dir_option(p, "finished runs here are served too")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback; others need --api-key)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key", default=os.environ.get("STUDIO_API_KEY", ""),
                   help="key clients must send as a Bearer token (default: $STUDIO_API_KEY)")
    p.add_argument("--engine", default="studio", choices=["studio", "vllm"],
                   help="studio: continuous batching on this machine; vllm: hand off to vLLM")
    p.add_argument("--max-batch", type=int, default=32, help="rows decoded together at most")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float16", "float32"])
    p.set_defaults(func=serve)


def serve(args) -> int:
    from studio.engine.errors import ServeError
    from studio.engine.runs import RunStore
    from studio.engine.serve.server import ServeOptions, StudioServer

    options = ServeOptions(model=args.model, host=args.host, port=args.port,
                           api_key=args.api_key, engine=args.engine, max_batch=args.max_batch,
                           dtype=args.dtype)
    problems = options.problems()
    if problems:
        raise ServeError(problems)
    runs = RunStore(args.runs_dir) if Path(args.runs_dir).is_dir() else None
    if options.engine == "vllm":
        return _vllm(options, runs)
    server = StudioServer(options, runs=runs)
    server.warm()
    server.start()
    names = [e.name for e in server.service.registry.entries()]
    print(f"serving {', '.join(names)} at {options.url} (Ctrl-C stops)", flush=True)
    try:
        server.wait()
    finally:
        server.stop()
    return 0


def _vllm(options, runs) -> int:
    from studio.engine.serve.service import ModelRegistry
    from studio.engine.serve.vllm import launch_vllm

    process = launch_vllm(options, ModelRegistry(options.model, runs))
    print(f"vLLM serving at {options.url} (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        return process.wait()
    finally:
        process.terminate()
