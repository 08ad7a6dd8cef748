"""The line map `<run>/.events.lines` (docs/ARCHITECTURE.md, "line map"): one record per line of
events.jsonl with its byte range and CRC-32, and a rollout's index fields. The extension trusts a
record only as far as it checks out, but the writer must never record a wrong range: these tests
check every record against the bytes of events.jsonl, across torn lines, reopens, two writers on
one file and a map that cannot be written."""

import errno
import json
import math
import os
import subprocess
import sys
import zlib
from contextlib import closing
from pathlib import Path

import pytest

from conftest import tiny_config
from hbpo.config import load_config
from hbpo.events import EventLog, parse_map_record, read_events
from hbpo.train import new_run_dir, train

HEADER = b'{"hbpo_lines": 1}'
ROLLOUT_FIELDS = ("time", "step", "query_index", "sample", "tier", "n_gen", "correct", "truncated")


def map_path(log: Path) -> Path:
    return log.with_name(".events.lines")


def map_lines(log: Path) -> list[bytes]:
    """The map's lines: the header first; the map always ends with a newline here."""
    raw = map_path(log).read_bytes()
    assert raw.endswith(b"\n"), raw[-200:]
    lines = raw[:-1].split(b"\n")
    assert lines[0] == HEADER
    return lines


def records_of(log: Path) -> list[list]:
    records = [parse_map_record(line) for line in map_lines(log)[1:]]
    assert None not in records, "every record's own check holds"
    return records


def line_starts(log: Path) -> list[int]:
    """Where each complete line of the log starts."""
    raw, starts, at = log.read_bytes(), [], 0
    while (nl := raw.find(b"\n", at)) != -1:
        if nl > at:
            starts.append(at)
        at = nl + 1
    return starts


def expected_record(offset: int, line: bytes) -> list:
    event = json.loads(line)
    record = [offset, len(line), zlib.crc32(line)]
    if event["type"] == "rollout":
        record += [event[k] for k in ROLLOUT_FIELDS]
        record += [event["reward"]["reward"], event["reward"]["case"], event["query_id"], event["difficulty"]]
    return record


def check_records(log: Path, records: list[list]) -> None:
    """Each record names the bytes of one whole line of the log, and holds that line's fields."""
    raw = log.read_bytes()
    for record in records:
        offset, length = record[0], record[1]
        assert offset == 0 or raw[offset - 1:offset] == b"\n", record  # a line's first byte
        assert raw[offset + length:offset + length + 1] == b"\n", record
        assert record == expected_record(offset, raw[offset:offset + length])


def rollout(**overrides) -> dict:
    payload = {
        "query_id": "q-ü-数", "query_index": 3, "sample": 1, "tier": 8, "problem": "√2 · π ≈ ?",
        "difficulty": "難しい", "prompt": "Solve within 8 tokens.\n", "text": "√4 = 2 😀 \"done\"\n\\boxed{2}",
        "token_marks": [[5, 9]], "n_gen": 5, "truncated": False, "correct": True, "answer": "2",
        "ground_truth": "2", "reward": {"reward": 0.75, "cos": 0.5, "penalty": 0.0, "f1": 0.1, "f2": 0.2,
                                        "case": "within"},
        "advantage": {"intra": 0.5, "inter": -0.25, "total": 0.25},
    }
    return payload | overrides


def emit_some(log: EventLog, n: int = 1) -> None:
    for i in range(n):
        log.emit("rollout", 1, **rollout(sample=i))
        log.emit("log", 1, level="info", message=f"event {i} ✓")


def test_a_training_run_and_its_resume_map_every_line(write_config):
    config = load_config(write_config(tiny_config(train__steps=1), "r.yaml"), ["run.name=mapped"])
    run_dir = new_run_dir(config)
    assert train(config, run_dir) == "finished"
    log = run_dir / "events.jsonl"
    assert len(records_of(log)) == len(line_starts(log))
    config = load_config(run_dir / "config.yaml", ["train.steps=2"])
    assert train(config, run_dir, resume=True) == "finished"
    # non-ASCII ids and text (the tiny run's are ASCII); a NaN reward (null in both), null tier and difficulty
    with closing(EventLog(log)) as extra:
        extra.emit("rollout", 2, **rollout())
        extra.emit("rollout", 2, **rollout(tier=None, difficulty=None, reward={"reward": math.nan, "case": "wrong"}))

    records = records_of(log)
    assert [r[0] for r in records] == line_starts(log)  # one record per line, in file order
    check_records(log, records)
    events, errors = read_events(log)
    assert errors == [] and len(events) == len(records)
    types = [e["type"] for e in events]
    assert types.count("run_start") == 2 and types.count("run_end") == 2 and types.count("rollout") >= 16
    assert [len(r) for r in records] == [15 if t == "rollout" else 3 for t in types]
    assert records[-2][-2:] == ["q-ü-数", "難しい"]
    assert records[-1][7] is None and records[-1][11] is None and records[-1][14] is None
    assert "q-ü-数".encode() in map_path(log).read_bytes()  # as UTF-8, not \\u escapes


def test_a_torn_last_line_gets_no_record_and_the_next_starts_after_its_newline(tmp_path):
    path = tmp_path / "events.jsonl"
    with closing(EventLog(path)) as log:
        emit_some(log)
    with open(path, "ab") as f:
        f.write('{"v": 2, "type": "rollout", "query_id": "ü'.encode())  # a crash mid-line
    torn_end = path.stat().st_size
    with closing(EventLog(path)) as log:
        emit_some(log)
    records = records_of(path)
    assert len(records) == 4
    assert records[2][0] == torn_end + 1  # after the newline the log put before it, not on it
    check_records(path, records)


def test_a_reopened_log_continues_its_map_and_a_torn_record_stays_its_own_line(tmp_path):
    path = tmp_path / "events.jsonl"
    with closing(EventLog(path)) as log:
        emit_some(log)
    with closing(EventLog(path)) as log:  # a resume: the map goes on
        emit_some(log)
    assert [r[0] for r in records_of(path)] == line_starts(path)
    with open(map_path(path), "ab") as f:
        f.write(b"[1234,56,7")  # a map line torn by a crash
    with closing(EventLog(path)) as log:
        emit_some(log, 2)
    lines = map_lines(path)
    assert lines[5] == b"[1234,56,7"
    records = [parse_map_record(line) for line in lines[1:5] + lines[6:]]
    assert [r[0] for r in records] == line_starts(path)
    check_records(path, records)


def test_a_log_with_data_and_no_map_gets_none(tmp_path):
    path = tmp_path / "events.jsonl"
    with closing(EventLog(path)) as log:
        emit_some(log)
    map_path(path).unlink()  # a run from before maps
    with closing(EventLog(path)) as log:
        emit_some(log, 3)
    assert not map_path(path).exists()
    assert len(read_events(path)[0]) == 8


def test_a_new_log_replaces_an_old_map(tmp_path):
    path = tmp_path / "events.jsonl"
    map_path(path).write_bytes(HEADER + b"\n[0,99,1]\n[100,5,2]\n")  # left by a deleted log
    with closing(EventLog(path)) as log:
        emit_some(log)
    records = records_of(path)
    assert [r[0] for r in records] == line_starts(path) and len(records) == 2
    check_records(path, records)


def test_two_logs_appending_to_one_file_in_turn(tmp_path):
    """`hbpo eval --run` appends to a run's log while the trainer does: neither may record the
    other's bytes as its own, however their writes interleave."""
    path = tmp_path / "events.jsonl"
    trainer = EventLog(path, reserve=0)
    trainer.emit("run_start", 0, note="first")
    evaluator = EventLog(path, reserve=0)
    for i in range(5):
        trainer.emit("rollout", 1, **rollout(sample=i, text="x" * (i * 37)))
        evaluator.emit("eval", 1, dataset="ü" * i, accuracy=0.5)
        evaluator.emit("log", 1, level="info", message="√" * (i + 1))
    trainer.close()
    evaluator.close()
    records = records_of(path)
    assert [r[0] for r in records] == line_starts(path)
    check_records(path, records)


def test_two_processes_appending_at_once(tmp_path):
    path = tmp_path / "events.jsonl"
    with closing(EventLog(path, reserve=0)) as log:
        log.emit("run_start", 0)
    code = ("import sys; from pathlib import Path; from hbpo.events import EventLog\n"
            "log = EventLog(Path(sys.argv[1]), reserve=0)\n"
            "for i in range(2000):\n"
            "    log.emit('log', i, level='info', message=sys.argv[2] * (i % 50 + 1))\n"
            "log.close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), mark]) for mark in ("a", "ü数")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    records = records_of(path)
    assert sorted(r[0] for r in records) == line_starts(path)  # every line, whatever the order
    assert len(records) == 4001
    check_records(path, records)


def fds_of(path: Path) -> list[int]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                found.append(int(name))
        except OSError:
            pass
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the map's fd in /proc/self/fd")


@needs_proc
@pytest.mark.parametrize("failure", ["ENOSPC", "partial"])
def test_a_map_that_cannot_be_written_stops_and_the_log_goes_on(tmp_path, monkeypatch, capsys, failure):
    path = tmp_path / "events.jsonl"
    log = EventLog(path, stdout=True)
    emit_some(log)
    [map_fd] = fds_of(map_path(path))
    real_write = os.write

    def write(fd, data):
        if fd == map_fd:
            if failure == "ENOSPC":
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(fd, bytes(data)[: len(data) // 2])
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    emit_some(log, 2)
    monkeypatch.setattr(os, "write", real_write)
    emit_some(log)  # the disk has room again: the map stays stopped
    assert fds_of(map_path(path)) == []  # closed
    log.finish("run_end", 1, status="finished", reason=None, checkpoint=None)
    log.close()
    events, errors = read_events(path)
    assert errors == [] and len(events) == 9
    assert len(capsys.readouterr().out.splitlines()) == 9
    # ENOSPC: the header and the first two events' records; partial: then half a record
    raw = map_path(path).read_bytes()
    assert raw.count(b"\n") == 3 and raw.endswith(b"\n") == (failure == "ENOSPC")
    # A resume starts its record on a fresh line; the events in between simply have none.
    with closing(EventLog(path)) as log:
        log.emit("run_start", 1)
    lines = map_lines(path)
    assert len(lines) == (4 if failure == "ENOSPC" else 5)
    records = [parse_map_record(line) for line in lines[1:3] + lines[-1:]]
    assert records[-1][0] == line_starts(path)[-1]
    check_records(path, records)


@needs_proc
def test_close_closes_the_map(tmp_path):
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    emit_some(log)
    assert len(fds_of(map_path(path))) == 1
    log.close()
    assert fds_of(map_path(path)) == []


def test_a_log_write_in_pieces_stops_the_map(tmp_path, monkeypatch):
    """A line that took two writes may have another process's line between its pieces'
    positions: its offset is not known for sure, so it gets no record, and neither does any later."""
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    emit_some(log)
    real_write, calls = os.write, []

    def short_first(fd, data):
        calls.append(fd)
        if fd == log._fd and len(calls) == 1:
            return real_write(fd, bytes(data)[:10])
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_first)
    emit_some(log)
    monkeypatch.setattr(os, "write", real_write)
    emit_some(log)
    log.close()
    events, errors = read_events(path)
    assert errors == [] and len(events) == 6  # the log itself is whole
    records = records_of(path)
    assert len(records) == 2
    check_records(path, records)


def test_a_map_that_cannot_be_opened_is_no_map(tmp_path):
    path = tmp_path / "events.jsonl"
    map_path(path).mkdir()
    with closing(EventLog(path)) as log:
        emit_some(log)
    assert len(read_events(path)[0]) == 2 and map_path(path).is_dir()


def test_a_rollout_whose_record_cannot_be_made_stops_the_map(tmp_path):
    path = tmp_path / "events.jsonl"
    with closing(EventLog(path)) as log:
        emit_some(log)
        payload = rollout()
        del payload["reward"]
        log.emit("rollout", 1, **payload)  # the log takes it; its record cannot be made
        emit_some(log)
    assert len(read_events(path)[0]) == 5
    records = records_of(path)
    assert len(records) == 2
    check_records(path, records)


def test_a_damaged_record_fails_its_own_check(tmp_path):
    path = tmp_path / "events.jsonl"
    with closing(EventLog(path)) as log:
        log.emit("rollout", 1, **rollout())
    line = map_lines(path)[1]
    assert parse_map_record(line) is not None
    damaged = line.replace(b",0.75,", b",0.76,")
    assert damaged != line and parse_map_record(damaged) is None
    assert parse_map_record(line[:-1]) is None  # torn
