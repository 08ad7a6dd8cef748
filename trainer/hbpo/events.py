"""The run's event log: append-only JSON lines, one event a line, versioned.

Schema: `schemas/events.schema.json` (shared with the extension). Each event is written with a
single `write` and flushed, so a reader sees whole lines; a line torn by a crash is left alone and
the next event starts on a fresh line. With `stdout=True` every event is also printed to stdout for
a supervising process (human-readable logs go to stderr).
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from .diskfull import DiskFullError, free_bytes, human, is_disk_full

SCHEMA_VERSION = 2  # 2: typed reward/advantage on run_start, per_tier on step (schema description)
# What the run's last events need on a full disk: an error log with a traceback, and run_end.
RESERVE_BYTES = 64 * 1024


class RolloutKey(NamedTuple):
    """A rollout's identity in a run. `sample` counts within its (query, tier) group, so every tier
    has a sample 0: the sample alone names no rollout (the extension's twin: common/rolloutKey.ts)."""
    step: int
    query_index: int
    tier: int | None  # budget in tokens; None for a rollout without a budget prompt
    sample: int

    @classmethod
    def of(cls, event: dict) -> "RolloutKey":
        return cls(event["step"], event["query_index"], event["tier"], event["sample"])


def schema() -> dict:
    return json.loads(resources.files("hbpo").joinpath("schemas/events.schema.json").read_text())


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: report them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_stream(name: str, text: str) -> None:
    """Write to sys.stdout or sys.stderr and flush. When the reader is gone (the editor that started
    the run reloaded: EPIPE), the stream is pointed at os.devnull and the run goes on; everything
    it would have said is in events.jsonl anyway."""
    stream = getattr(sys, name)
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):  # BrokenPipeError, or a stream already closed
        setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


class EventLog:
    """Appends events to `path`. A full disk must not leave a run without its `run_end` (the
    editor would show it as stale forever): the log holds `reserve` bytes in a side file
    (`.events.jsonl.reserve`), and when a write fails for lack of space it raises
    `DiskFullError` once; the run's last words (`finish`) then release the reserve and land."""

    def __init__(self, path: Path, *, stdout: bool = False, reserve: int = RESERVE_BYTES):
        self.path = Path(path)
        self.stdout = stdout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._reserve = self.path.with_name(f".{self.path.name}.reserve") if reserve else None
        self._failed = False
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # A line torn by a crash (or a full disk) is kept (readers skip it), never glued onto.
        self._torn = os.fstat(self._fd).st_size > 0 and not self._ends_with_newline()
        if self._reserve:
            try:
                _allocate(self._reserve, reserve)
            except OSError as exc:
                self._release_reserve()
                message = (f"no space left on device: the run folder {self.path.parent} needs at least "
                           f"{human(reserve)} free to start a run ({human(free_bytes(self.path))} free)")
                self._failed = True
                self.finish("run_end", 0, status="failed", reason=message, checkpoint=None)
                os.close(self._fd)
                raise DiskFullError(message) from exc

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, 2)
            return f.read(1) == b"\n"

    def _line(self, type: str, step: int, payload: dict) -> tuple[dict, str]:
        event = {"v": SCHEMA_VERSION, "type": type, "time": time.time(), "step": step, **_finite(payload)}
        return event, json.dumps(event, ensure_ascii=False, allow_nan=False) + "\n"

    def _append(self, line: str) -> None:
        data = (b"\n" if self._torn else b"") + line.encode("utf-8")
        view, wrote = memoryview(data), 0
        try:
            while wrote < len(data):
                wrote += os.write(self._fd, view[wrote:])
            self._torn = False
        except OSError as exc:
            self._torn = self._torn or wrote > 0
            if is_disk_full(exc):
                raise DiskFullError(f"no space left on device writing {self.path} "
                                    f"({human(free_bytes(self.path))} free)") from None
            raise

    def emit(self, type: str, step: int, **payload: Any) -> dict:
        event, line = self._line(type, step, payload)
        try:
            self._append(line)
        except OSError:
            self._failed = True
            raise
        if self.stdout:
            write_stream("stdout", line)
        return event

    def finish(self, type: str, step: int, **payload: Any) -> dict:
        """Write one of the run's last events (its error log, its run_end) whatever happened before:
        after a failed write the reserve is released first, and a write that still fails is
        reported on stderr instead of raising, so the first error is the one the caller sees.
        The event always reaches stdout, where a supervising editor reads it."""
        event, line = self._line(type, step, payload)
        for attempt in (0, 1):
            if self._failed or attempt:
                self._release_reserve()
            try:
                self._append(line)
                break
            except OSError as exc:
                self._failed = True
                if attempt:
                    write_stream("stderr", f"[hbpo] could not write {type} to {self.path}: {exc}\n")
        if self.stdout:
            write_stream("stdout", line)
        return event

    def log(self, step: int, message: str, level: str = "info") -> None:
        write_stream("stderr", f"[hbpo] {message}\n")
        self.emit("log", step, level=level, message=message)

    def _release_reserve(self) -> None:
        if self._reserve:
            self._reserve.unlink(missing_ok=True)

    def close(self) -> None:
        self._release_reserve()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _allocate(path: Path, size: int) -> None:
    """A file of `size` bytes whose blocks are really allocated (not a sparse hole)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if hasattr(os, "posix_fallocate"):
            try:
                os.posix_fallocate(fd, 0, size)
                return
            except OSError as exc:
                if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                    raise
        zeros, wrote = memoryview(bytes(size)), 0
        while wrote < size:
            wrote += os.write(fd, zeros[wrote:])
        os.fsync(fd)
    finally:
        os.close(fd)


def read_events(path: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """All events of a file, and (line number, error) for lines that do not parse (a line torn
    by a crash or a full disk may end inside a UTF-8 character). A BOM at the start is skipped."""
    events, errors = [], []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                continue
            try:
                events.append(json.loads(raw.decode("utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                errors.append((number, str(exc)))
    return events, errors
