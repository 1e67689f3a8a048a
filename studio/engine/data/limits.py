"""How much of a dataset one Data-tab session reads and keeps, so no file can freeze the server.

The Data tab holds a whole dataset in memory for each browser session and sends pieces of it to
the page, so it reads with caps: a file bigger than ``MAX_FILE_BYTES`` is refused from its size on
disk before a byte of it is parsed; at most ``MAX_ROWS`` rows are kept (the first ones, with a
warning saying so); a value nested deeper than ``MAX_DEPTH`` levels is refused naming its row,
because such JSON crashes the recursive code that copies and renders rows, and no training row
needs it. Training (``studio train``, the Train tab) reads files whole, without the first two
caps. The constants are read at call time, so a test may lower them in-process.
"""

from __future__ import annotations

from pathlib import Path

from studio.engine.errors import DataError

MAX_FILE_BYTES = 100_000_000  # 100 MB: far more than a set one person edits in a browser
MAX_ROWS = 200_000
MAX_DEPTH = 100  # a chat row is ~6 levels deep; tool schemas reach ~15


def size_text(n: int) -> str:
    """A byte count as people read it: ``812 bytes``, ``4.2 kB``, ``200.0 MB``, ``1.5 GB``."""
    if n < 1000:
        return f"{n} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if n == int(n) else f"{n:.1f} {unit}"
    return f"{n} TB"  # unreachable; keeps type checkers content


def check_size(path: Path, shown: str, max_bytes: int | None) -> int:
    """The file's size; DataError naming it and the limit when it is over ``max_bytes``."""
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise DataError("data_too_big", path=shown, size=size_text(size),
                        limit=size_text(max_bytes))
    return size


def too_deep(value, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels deep (no recursion:
    the point is to survive values that recursion cannot)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, (list, tuple)):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item
                     if isinstance(child, (dict, list, tuple)))
    return False
