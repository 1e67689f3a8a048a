"""Launch Fine-Tune Studio in the browser: ``python app.py [--host ...] [--port ...]``.

Binds to 127.0.0.1 unless told otherwise; sharing beyond this machine (``--share`` or a public
``--host``) requires ``--auth USER:PASS``.
"""

from __future__ import annotations

import argparse
import os
import sys

PUBLIC_HOSTS_NEED_AUTH = "Sharing the studio beyond this machine requires --auth USER:PASS."


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fine-Tune Studio")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--workspace", default=os.environ.get("STUDIO_WORKSPACE", "."),
                   help="folder for runs and saved datasets (default: current folder)")
    p.add_argument("--runs-dir", default=None, help="run folders (default: WORKSPACE/runs)")
    p.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                   help="an extra folder users may read data from (repeatable)")
    p.add_argument("--auth", default=None, metavar="USER:PASS", help="require this login")
    p.add_argument("--share", action="store_true", help="public Gradio link (needs --auth)")
    args = p.parse_args(argv)
    user, _, password = (args.auth or "").partition(":")
    if args.auth is not None and not (user and password):
        p.error("--auth takes USER:PASS, both non-empty")
    if (args.share or args.host not in ("127.0.0.1", "localhost", "::1")) and not args.auth:
        p.error(PUBLIC_HOSTS_NEED_AUTH)
    return args


def prepare_bundled_model() -> None:
    """Convert the bundled model before the page opens, so the first click never waits on it."""
    from studio.engine.errors import ModelError
    from studio.engine.models import BUNDLED_ID, resolve_model

    print("Preparing the bundled model (the first launch converts it once, ~20 s)...", flush=True)
    try:
        print(f"Bundled model ready: {resolve_model(BUNDLED_ID)}", flush=True)
    except ModelError as exc:  # the studio still works with other models
        print(f"Bundled model unavailable: {exc}", file=sys.stderr, flush=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    prepare_bundled_model()
    from studio.engine.workspace import Workspace
    from studio.ui.app import build_app, launch_kwargs
    from studio.ui.context import StudioContext

    workspace = Workspace(args.workspace, args.allow_path)
    ctx = StudioContext.create(workspace, args.runs_dir)
    demo = build_app(ctx)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    demo.queue(default_concurrency_limit=4).launch(
        server_name=args.host, server_port=args.port, auth=auth, share=args.share,
        **launch_kwargs(ctx))


if __name__ == "__main__":
    sys.exit(main())
