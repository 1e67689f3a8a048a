"""Launch Fine-Tune Studio in the browser: ``python app.py [--host ...] [--port ...]``.

Binds to 127.0.0.1 unless told otherwise; sharing beyond this machine (``--share`` or a public
``--host``) requires ``--auth USER:PASS``. Runs and datasets go to the workspace folder
(``~/fine-tune-studio`` by default). Whether a model may run the Python code it ships is the
operator's choice here (``--trust-remote-code MODEL``), never a field of the page.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys

from studio.engine.serve.hosts import is_loopback

PUBLIC_HOSTS_NEED_AUTH = "Sharing the studio beyond this machine requires --auth USER:PASS."
SIZE = re.compile(r"^[1-9]\d*(b|kb|mb|gb|tb)$")  # the form Gradio's max_file_size reads


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Fine-Tune Studio")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--workspace", default=None,
                   help="folder for runs, datasets and presets (default: $STUDIO_WORKSPACE "
                        "or ~/fine-tune-studio)")
    p.add_argument("--runs-dir", default=None, help="run folders (default: WORKSPACE/runs)")
    p.add_argument("--allow-path", action="append", default=[], metavar="DIR",
                   help="an extra folder users may read data from (repeatable)")
    p.add_argument("--auth", default=None, metavar="USER:PASS", help="require this login")
    p.add_argument("--share", action="store_true", help="public Gradio link (needs --auth)")
    p.add_argument("--token", action="store_true",
                   help="ask every request for a token made at launch (the console prints the "
                        "link that carries it); keeps other local users out")
    p.add_argument("--max-upload", default="200mb", metavar="SIZE",
                   help="largest file a browser may upload, e.g. 50mb or 2gb (default 200mb)")
    p.add_argument("--trust-remote-code", action="append", default=[], metavar="MODEL",
                   help="let this model id or folder run the Python code it ships ('*' = any "
                        "model; repeatable). Off for every model otherwise.")
    p.add_argument("--allow-code", action="store_true",
                   help="let GRPO runs load a reward file (Python code named in the form). "
                        "Off by default: the page can name only built-in reward rules.")
    args = p.parse_args(argv)
    user, _, password = (args.auth or "").partition(":")
    args.max_upload = args.max_upload.strip().lower()
    if not SIZE.match(args.max_upload):
        p.error(f"--max-upload takes a size such as 50mb or 2gb, got {args.max_upload!r}")
    if args.auth is not None and not (user and password):
        p.error("--auth takes USER:PASS, both non-empty")
    if not is_loopback(args.host, args.share) and not args.auth:
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


def open_starting_page(args: argparse.Namespace):
    """Answer the studio's address at once with a page that shows the start's progress."""
    from studio.ui.starting import StartingPage

    try:
        page = StartingPage(args.host, args.port, is_loopback(args.host, args.share))
    except OSError as exc:
        sys.exit(f"Cannot serve on {args.host}:{args.port} ({exc.strerror or exc}); "
                 "is another studio running there? Choose another port with --port.")
    if not args.token:  # with --token the console prints the link once the token exists
        print(f"Fine-Tune Studio is starting at http://{args.host}:{args.port}/ "
              "(the page shows its progress)", flush=True)
    return page


def main(argv=None) -> None:
    args = parse_args(argv)
    starting = open_starting_page(args)
    starting.show("Preparing the bundled model / 正在准备内置模型")
    prepare_bundled_model()
    starting.show("Loading the interface and the training engine / 正在加载界面和训练引擎")
    from studio.engine.workspace import Workspace, default_root
    from studio.ui.app import LaunchOptions, build_app, launch
    from studio.ui.context import StudioContext

    workspace = Workspace(args.workspace or default_root(), args.allow_path,
                          frozenset(args.trust_remote_code), args.allow_code)
    workspace.root.mkdir(parents=True, exist_ok=True)
    print(f"Workspace: {workspace.root}", flush=True)
    starting.show("Building the tabs / 正在构建页面")
    ctx = StudioContext.create(workspace, args.runs_dir)
    options = LaunchOptions(
        host=args.host, port=args.port, share=args.share, max_upload=args.max_upload,
        auth=tuple(args.auth.split(":", 1)) if args.auth else None,
        token=secrets.token_urlsafe(24) if args.token else None)
    if options.token:
        print(f"Open http://{args.host}:{args.port}/?token={options.token}", flush=True)
    demo = build_app(ctx)
    starting.show("Opening the studio / 正在打开工作室")
    starting.close()  # Gradio binds the same port next; open pages reload onto it
    launch(demo, ctx, options)


if __name__ == "__main__":
    sys.exit(main())
