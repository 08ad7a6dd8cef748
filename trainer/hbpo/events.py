"""The run's event log: append-only JSON lines, one event a line, versioned.

Schema: `schemas/events.schema.json` (shared with the extension). Each event is written with a
single `write` and flushed, so a reader sees whole lines; a line torn by a crash is left alone and
the next event starts on a fresh line. With `stdout=True` every event is also printed to stdout for
a supervising process (human-readable logs go to stderr). Beside the log, `.events.lines` maps its
lines (`_LineMap`), so the extension's first open of a big run need not skim every rollout.
"""

from __future__ import annotations

import errno
import json
import math
import os
import sys
import time
import zlib
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
        size = os.fstat(self._fd).st_size
        # A line torn by a crash (or a full disk) is kept (readers skip it), never glued onto.
        self._torn = size > 0 and not self._ends_with_newline()
        if self._reserve:
            try:
                _allocate(self._reserve, reserve)
            except OSError as exc:
                self._release_reserve()
                message = (f"no space left on device: the run folder {self.path.parent} needs at least "
                           f"{human(reserve)} free to start a run ({human(free_bytes(self.path))} free)")
                self._failed = True
                # run_end below gets its record too, and an old map beside an emptied log is reset
                self._map = _LineMap(self.path, fresh=size == 0)
                self.finish("run_end", 0, status="failed", reason=message, checkpoint=None)
                self.close()
                raise DiskFullError(message) from exc
        # After the reserve: a map must never cost the run its last words.
        self._map = _LineMap(self.path, fresh=size == 0)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, 2)
            return f.read(1) == b"\n"

    def _line(self, type: str, step: int, payload: dict) -> tuple[dict, str]:
        event = {"v": SCHEMA_VERSION, "type": type, "time": time.time(), "step": step, **_finite(payload)}
        return event, json.dumps(event, ensure_ascii=False, allow_nan=False) + "\n"

    def _append(self, line: str, event: dict) -> None:
        prefix = b"\n" if self._torn else b""
        data = prefix + line.encode("utf-8")
        view, wrote, calls = memoryview(data), 0, 0
        try:
            while wrote < len(data):
                calls += 1
                wrote += os.write(self._fd, view[wrote:])
            self._torn = False
        except OSError as exc:
            self._torn = self._torn or wrote > 0
            if wrote:  # part of a line: where the rest went is unknown
                self._map.stop()
            if is_disk_full(exc):
                raise DiskFullError(f"no space left on device writing {self.path} "
                                    f"({human(free_bytes(self.path))} free)") from None
            raise
        if calls == 1:
            self._map.add(self._fd, data, len(prefix), event)
        else:  # another process may have appended between the pieces
            self._map.stop()

    def emit(self, type: str, step: int, **payload: Any) -> dict:
        event, line = self._line(type, step, payload)
        try:
            self._append(line, event)
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
                self._append(line, event)
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
        self._map.stop()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# A rollout's fields in its map record, after offset, length and crc32 (then its reward's reward and
# case, its query_id and difficulty): what the extension's rollout index keeps of it.
_ROLLOUT_FIELDS = ("time", "step", "query_index", "sample", "tier", "n_gen", "correct", "truncated")


class _LineMap:
    """`.events.lines` beside the log (format: docs/ARCHITECTURE.md, "line map"): a header line,
    then one JSON array per line the log appended, `[offset, length, crc32]`, plus a rollout's index
    fields. Best effort: the first error of any kind stops it for good (its fd closed), so the map
    may lag the log or miss lines but never holds a wrong range, and the log never notices."""

    HEADER = json.dumps({"hbpo_lines": 1})

    def __init__(self, log: Path, *, fresh: bool):
        """Start a map with a new (empty) log, continue one that exists; a log with data and no
        map (a run from before maps) gets none: its reader scans it."""
        self._fd, self._torn = -1, False
        path = log.with_name(f".{log.stem}.lines")
        try:
            if fresh:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC, 0o644)
                self._write(self.HEADER + "\n")
            elif path.exists():
                self._fd = os.open(path, os.O_RDWR | os.O_APPEND)
                size = os.fstat(self._fd).st_size
                head = (self.HEADER + "\n").encode()
                if os.pread(self._fd, len(head), 0) != head:
                    self.stop()  # not a map this writer knows (or its header torn): leave it be
                else:  # a record torn by a crash stays its own (unreadable) line
                    self._torn = os.pread(self._fd, 1, size - 1) != b"\n"
        except Exception:  # noqa: BLE001 - no map is fine; a failing one is not
            self.stop()

    def add(self, log_fd: int, data: bytes, start: int, event: dict) -> None:
        """Record the line `data[start:-1]` that one O_APPEND write of `data` to `log_fd` just put
        at the log's end. The offset comes from that fd's own position, which another process
        appending to the same file cannot move."""
        if self._fd < 0:
            return
        try:
            line = data[start:-1]
            record = [os.lseek(log_fd, 0, os.SEEK_CUR) - len(data) + start, len(line), zlib.crc32(line)]
            if event["type"] == "rollout":
                record += [event[k] for k in _ROLLOUT_FIELDS]
                # difficulty is optional in the schema; its reader takes a missing one as null
                record += [event["reward"]["reward"], event["reward"]["case"], event["query_id"],
                           event.get("difficulty")]
            self._write(("\n" if self._torn else "") + map_record_line(record) + "\n")
        except Exception:  # noqa: BLE001 - see the class docstring
            self.stop()

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")
        if os.write(self._fd, data) != len(data):  # torn: a later writer starts on a fresh line
            self.stop()
        self._torn = False

    def stop(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            try:
                os.close(fd)
            except OSError:
                pass


def map_record_line(fields: list) -> str:
    """A line map record as written: the fields as a JSON array, then its own check, the CRC-32 of
    the UTF-8 text before it (up to the last comma), so a reader tells a damaged record from a sound one."""
    text = json.dumps(fields, ensure_ascii=False, allow_nan=False, separators=(",", ":"))[:-1]
    return f"{text},{zlib.crc32(text.encode('utf-8'))}]"


def parse_map_record(line: bytes) -> list | None:
    """The fields of a line map record (its check taken off), or None when it is torn, damaged or
    not one: what the extension's reader (extension/runs/lineMap.ts) believes of it."""
    comma = line.rfind(b",")
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if comma < 0 or not isinstance(record, list) or len(record) not in (4, 16):
        return None
    return record[:-1] if record[-1] == zlib.crc32(line[:comma]) else None


class RankLog:
    """The event log of a rank other than 0 in a multi-process run: rank 0 writes the run's events;
    this one's log messages go to stderr (torchrun prefixes them with the rank), nothing to a file."""

    def __init__(self, rank: int):
        self.rank = rank

    def emit(self, type: str, step: int, **payload: Any) -> dict:
        return {"v": SCHEMA_VERSION, "type": type, "time": time.time(), "step": step, **payload}

    def finish(self, type: str, step: int, **payload: Any) -> dict:
        if type == "log":
            write_stream("stderr", f"[hbpo rank {self.rank}] {payload.get('message', '')}\n")
        return self.emit(type, step, **payload)

    def log(self, step: int, message: str, level: str = "info") -> None:
        write_stream("stderr", f"[hbpo rank {self.rank}] {message}\n")

    def close(self) -> None:
        pass


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
