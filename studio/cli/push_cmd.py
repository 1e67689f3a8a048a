"""``studio push RUN REPO``: a finished run's merged model to the Hugging Face Hub.

The run is merged first when ``exports/<run>/merged`` is not there yet (or pass a folder of your
own with ``--folder``). The repository is private unless ``--public``; the token comes from
``HF_TOKEN`` (never from the command line, where it would land in the shell history).
"""

from __future__ import annotations

from studio.cli import runs_dir_option


def register(sub) -> None:
    p = sub.add_parser("push", help="push a run's merged model to the Hugging Face Hub")
    p.add_argument("run", help="run id or run folder")
    p.add_argument("repo", help="hub repository, owner/name")
    p.add_argument("--public", action="store_true", help="make a new repository public")
    p.add_argument("--folder", default=None, help="push this folder instead of the merged run")
    runs_dir_option(p)
    p.add_argument("--exports-dir", default="exports")
    p.set_defaults(func=push)


def push(args) -> int:
    from studio.engine.export import deploy
    from studio.engine.export.hub import push_to_hub
    from studio.engine.runs import RunStore

    folder = args.folder
    if folder is None:
        run = RunStore(args.runs_dir).resolve(args.run)
        folder = deploy.export("merged", run, args.exports_dir).path
    print(f"pushed: {push_to_hub(folder, args.repo, private=not args.public)}")
    return 0
