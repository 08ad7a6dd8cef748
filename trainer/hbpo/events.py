"""The run's event log: append-only JSON lines, one event a line, versioned.

Schema: `schemas/events.schema.json` (shared with the extension). Each event is written with a
single `write` and flushed, so a reader sees whole lines; a line torn by a crash is left alone and
the next event starts on a fresh line. With `stdout=True` every event is also printed to stdout for
a supervising process (human-readable logs go to stderr).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1


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
    def __init__(self, path: Path, *, stdout: bool = False):
        self.path = Path(path)
        self.stdout = stdout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = self.path.exists() and self.path.stat().st_size > 0 and not self._ends_with_newline()
        self._file = open(self.path, "a", encoding="utf-8")
        if torn:  # keep the torn line (readers skip it) but never glue an event onto it
            self._file.write("\n")
            self._file.flush()

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, 2)
            return f.read(1) == b"\n"

    def emit(self, type: str, step: int, **payload: Any) -> dict:
        event = {"v": SCHEMA_VERSION, "type": type, "time": time.time(), "step": step, **_finite(payload)}
        line = json.dumps(event, ensure_ascii=False, allow_nan=False) + "\n"
        self._file.write(line)
        self._file.flush()
        if self.stdout:
            write_stream("stdout", line)
        return event

    def log(self, step: int, message: str, level: str = "info") -> None:
        write_stream("stderr", f"[hbpo] {message}\n")
        self.emit("log", step, level=level, message=message)

    def close(self) -> None:
        self._file.close()


def read_events(path: Path) -> tuple[list[dict], list[tuple[int, str]]]:
    """All events of a file, and (line number, error) for lines that do not parse."""
    events, errors = [], []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                errors.append((number, str(exc)))
    return events, errors
