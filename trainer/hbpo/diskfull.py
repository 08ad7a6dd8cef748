"""Telling a full disk apart from other write failures, and saying so plainly.

A full disk reaches the trainer in several disguises: `OSError(ENOSPC)` from Python's own files,
`SafetensorError: ... code: 28, kind: StorageFull` from safetensors, and from `torch.save`'s zip
writer `RuntimeError: [enforce fail at inline_container.cc:...] unexpected pos` or `... file write
failed`, which carry no errno at all. `is_disk_full` recognises all of them; for the torch ones it
also asks the file system, since "unexpected pos" alone does not prove the disk is full.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

_NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_NO_SPACE_TEXT = re.compile(r"No space left on device|StorageFull|Disk quota exceeded|code: 28\b", re.I)
_TORCH_WRITER_TEXT = re.compile(r"unexpected pos|file write failed|PytorchStreamWriter failed", re.I)
# Below this much free space a torch writer error is taken for a full disk.
NEARLY_FULL_BYTES = 1 << 20


class DiskFullError(OSError):
    """A write failed for lack of space. The message names the path and, where known, the need."""

    def __init__(self, message: str):
        super().__init__(errno.ENOSPC, message)

    def __str__(self) -> str:
        return self.strerror


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def free_bytes(path: Path) -> int | None:
    """Free space of the file system holding `path` (its nearest existing parent)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def is_disk_full(exc: BaseException, path: Path | None = None) -> bool:
    """True when `exc` (or what it was raised from) says the disk or quota is full. For torch's
    errno-less writer errors, true only if the file system holding `path` is nearly full."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in _NO_SPACE_ERRNOS:
            return True
        if _NO_SPACE_TEXT.search(str(e)):
            return True
    if path is not None and any(_TORCH_WRITER_TEXT.search(str(e)) for e in _chain(exc)):
        free = free_bytes(path)
        return free is not None and free < NEARLY_FULL_BYTES
    return False


def folder_bytes(path: Path) -> int:
    """Bytes in the files under `path` (0 if it is gone)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def human(n: int | float | None) -> str:
    if n is None:
        return "an unknown amount"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            break
        n /= 1024
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
