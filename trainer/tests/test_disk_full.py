"""A full disk ends a run cleanly: run_end says so, nothing is torn or leaked, resume finishes it.

The cases run on real tmpfs file systems in a user and mount namespace (`disk_full_cases.py`);
HBPO_DISKFULL_CASES sets how many sizes (default 6; `0` = every 4 KiB page from 12 to 260).
The unit tests below fake the boundary: the messages torch and safetensors give a full disk."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hbpo import diskfull
from hbpo.events import EventLog, read_events

HERE = Path(__file__).resolve().parent


def namespaces_work() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not namespaces_work(), reason="needs `unshare -rm` (user namespaces) to mount a small tmpfs")
def test_every_disk_full_case_ends_with_run_end_and_resumes():
    cases = os.environ.get("HBPO_DISKFULL_CASES", "6")
    proc = subprocess.run(["unshare", "-rm", sys.executable, str(HERE / "disk_full_cases.py"),
                           *(["--cases", cases] if cases != "0" else [])],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(proc.stdout)
    summary = report["summary"]
    print("\ndisk full:", {k: v for k, v in summary.items() if k != "bad"})
    assert summary["bad"] == []
    assert summary["with_run_end"] == summary["cases"]
    # The sizes span the run's needs: some fill up (in more than one place), the largest finishes.
    reasons = {c["first"]["last"]["reason"].split(":")[0] for c in report["cases"]
               if c["first"]["last"]["status"] == "failed"}
    assert summary["finished"] >= 1 and summary["failed_disk_full"] >= 3 and len(reasons) >= 2, reasons
    assert summary["resumed_to_the_end"] == sum(1 for c in report["cases"] if c["resumed"] is not None)


@pytest.mark.parametrize("error", [
    OSError(28, "No space left on device"),
    RuntimeError("Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: \"No space left on device\" })"),
])
def test_full_disk_errors_are_recognised_in_every_disguise(error, tmp_path):
    assert diskfull.is_disk_full(error, tmp_path)
    wrapped = RuntimeError("save failed")
    wrapped.__cause__ = error
    assert diskfull.is_disk_full(wrapped, tmp_path)


def test_a_torch_writer_error_is_a_full_disk_only_when_the_disk_is_nearly_full(tmp_path, monkeypatch):
    error = RuntimeError("[enforce fail at inline_container.cc:671] . unexpected pos 1152 vs 1040")
    monkeypatch.setattr(diskfull, "free_bytes", lambda path: 10 << 30)
    assert not diskfull.is_disk_full(error, tmp_path)
    monkeypatch.setattr(diskfull, "free_bytes", lambda path: 4096)
    assert diskfull.is_disk_full(error, tmp_path)
    assert not diskfull.is_disk_full(ValueError("unexpected pos"), None)


def test_a_failed_event_write_raises_once_and_run_end_still_lands(tmp_path, monkeypatch):
    log = EventLog(tmp_path / "events.jsonl")
    reserve = tmp_path / ".events.jsonl.reserve"
    assert reserve.stat().st_size == 64 * 1024
    log.emit("log", 0, level="info", message="before")
    real_write, calls = os.write, []

    def full_after_half(fd, data):  # the disk fills in the middle of a line
        calls.append(len(data))
        if fd == log._fd and len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        if fd == log._fd and len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_after_half)
    with pytest.raises(diskfull.DiskFullError, match="no space left on device writing .*events.jsonl"):
        log.emit("rollout", 1, text="é" * 500)
    monkeypatch.setattr(os, "write", real_write)
    log.finish("run_end", 1, status="failed", reason="no space left on device", checkpoint=None)
    assert not reserve.exists()  # released to make room for the last words
    log.close()
    events, errors = read_events(tmp_path / "events.jsonl")
    assert [e["type"] for e in events] == ["log", "run_end"] and len(errors) == 1  # the torn half line
