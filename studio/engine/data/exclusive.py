"""Writing a new file into the workspace that never replaces one, even when two sessions race.

Checking that a name is free and then writing leaves a gap in which another session can take
the name: two people saving "my-data" at once would both see it free, and the later write would
replace the earlier one. Here the file is first written whole under a hidden temporary name in
the same folder, then hard-linked to its final name; the link is one step that fails when the
name exists, so exactly one session gets each name and no reader ever sees half a file under a
visible name. Filesystems without hard links fall back to an exclusive create (``O_EXCL``) of
the final name. The temporary file is removed whatever happens.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

# errno values of "this filesystem cannot hard-link", as opposed to a real failure.
NO_LINKS = {errno.EPERM, errno.EXDEV, errno.ENOSYS, errno.EMLINK,
            getattr(errno, "ENOTSUP", errno.EPERM), getattr(errno, "EOPNOTSUPP", errno.EPERM)}


def write_new(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``; FileExistsError when the name is taken (nothing written)."""
    tmp = _staged(path.parent, lambda out: out.write(data))
    try:
        if not _claim(tmp, path):
            raise FileExistsError(errno.EEXIST, "name taken", path.name)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def copy_new(src: Path, folder: Path, names: Iterable[str]) -> Path:
    """Copy ``src`` into ``folder`` under the first of ``names`` that is free; the path."""
    def fill(out):
        with open(src, "rb") as fh:
            shutil.copyfileobj(fh, out)

    tmp = _staged(folder, fill)
    try:
        for name in names:
            if _claim(tmp, folder / name):
                return folder / name
        raise FileExistsError(errno.EEXIST, "no free name", str(folder.name))
    finally:
        tmp.unlink(missing_ok=True)


def _staged(folder: Path, fill: Callable) -> Path:
    """A hidden file in ``folder`` (pickers skip dot-files) filled by ``fill(file)``."""
    tmp = folder / f".{uuid.uuid4().hex}.part"
    try:
        with open(tmp, "xb") as out:
            fill(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _claim(tmp: Path, path: Path) -> bool:
    """Give ``tmp``'s content the name ``path`` unless it is taken; whether it was free."""
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            raise
    return _claim_by_copy(tmp, path)


def _claim_by_copy(tmp: Path, path: Path) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "wb") as out, open(tmp, "rb") as fh:
            shutil.copyfileobj(fh, out)
    except BaseException:
        path.unlink(missing_ok=True)  # ours: created exclusively above
        raise
    return True
