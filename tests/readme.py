"""The commands README.md documents, read from README.md itself, so tests run what a person
would copy and a README that drifts from the real command line fails."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
VENV_BIN = ".venv/bin/"


def fenced_block(after: str, lang: str) -> list[str]:
    """The lines of the first ```lang block after the text ``after``."""
    text = README.read_text(encoding="utf-8")
    start = text.find(after)
    assert start >= 0, f"README.md no longer says {after!r}"
    block = re.compile(rf"^```{lang}\n(.*?)^```", re.S | re.M).search(text, start)
    assert block, f"README.md has no ```{lang} block after {after!r}"
    return block.group(1).splitlines()


def shell_quickstart() -> tuple[list[str], list[str]]:
    """The "same run from a shell" command as argv, and the output lines its comments show."""
    lines = fenced_block("The same run from a shell", "bash")
    commands = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 1, commands
    shown = [line.lstrip().removeprefix("#").strip() for line in lines
             if line.lstrip().startswith("#")]
    return shlex.split(commands[0]), shown


def documented_usage(subcommand: str) -> list[str]:
    """The words of the README's "Command line" usage line for ``studio <subcommand>``."""
    for line in fenced_block("Command line", "text"):
        words = line.split("#")[0].split()
        if words[:2] == ["studio", subcommand]:
            return words
    raise AssertionError(f"README.md documents no `studio {subcommand}` line")


def as_python(argv: list[str]) -> list[str]:
    """``.venv/bin/studio ARGS`` (or ``studio ARGS``) as ``python -m studio.cli ARGS`` of this
    interpreter, which is the same entry point without needing the script installed."""
    assert argv[0].removeprefix(VENV_BIN) == "studio", argv
    return [sys.executable, "-m", "studio.cli", *argv[1:]]
