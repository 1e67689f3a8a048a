"""The ``studio`` command: the same engine calls as the browser, from a shell.

Each subcommand lives in its own module exposing ``register(subparsers)``, which adds its parser
and sets ``func`` to the function that runs it. Every command finds runs where the studio does
(``runs_dir_option``): the workspace's ``runs/``, so a run started in a shell shows in the page.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("train", "runs", "export", "eval", "chat", "serve", "push", "worker")


def runs_dir_option(parser: argparse.ArgumentParser, help: str = "where run ids are looked up"):
    """``--runs-dir``, by default the studio's own (``$STUDIO_WORKSPACE`` or
    ``~/fine-tune-studio``, then ``runs/``)."""
    from studio.engine.workspace import default_root

    default = str(default_root() / "runs")
    parser.add_argument("--runs-dir", default=default, help=f"{help} (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Fine-Tune Studio from the shell.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"studio.cli.{name}_cmd").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one readable line for expected failures, not a traceback
        from studio.engine.errors import USER_ERRORS

        if isinstance(exc, USER_ERRORS):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
