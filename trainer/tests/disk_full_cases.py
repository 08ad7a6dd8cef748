"""Disk-full fault injection: real runs on real, tiny file systems that fill up.

Run inside a user and mount namespace (`unshare -rm python tests/disk_full_cases.py`), where this
process may mount a tmpfs of any size without being root on the machine. For each size it trains
the tiny 3-step run into a fresh tmpfs of that size, so the disk fills at a different moment each
time (starting the run, writing config.yaml, an event line, a checkpoint's weights, its optimizer
state, the `latest` pointer, ...), then checks what a user relies on:

- the run ends with a `run_end` (finished, or failed with "no space left on device" in its reason);
- every event line but torn ones parses, and no event is glued onto a torn line;
- every whole record of the line map (`.events.lines`) names a whole line of events.jsonl with its
  CRC-32 and, for a rollout, its fields (the map may stop or lag, never point wrong);
- no temporary checkpoint folder is left, `latest` names a complete checkpoint that loads;
- after the file system is grown, `hbpo resume` finishes the run (all 3 steps).

Prints one JSON object: per-case results and totals. `--cases N` spreads N sizes over the range
(default: every 4 KiB page from 12 to 260 pages).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import traceback
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from conftest import tiny_config  # noqa: E402
from hbpo.checkpoint import STATE_FILE, latest_checkpoint  # noqa: E402
from hbpo.config import load_config  # noqa: E402
from hbpo.diskfull import DiskFullError  # noqa: E402
from hbpo.events import parse_map_record  # noqa: E402
from hbpo.train import train  # noqa: E402

PAGE = 4096
STEPS = 3


def mount(where: Path, size: int, remount: bool = False) -> None:
    options = f"{'remount,' if remount else ''}size={size}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)


def inspect(run_dir: Path) -> dict:
    path = run_dir / "events.jsonl"
    raw = path.read_bytes() if path.is_file() else b""
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    events, torn = [], 0
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            torn += 1
    temporaries = sorted(p.name for p in (run_dir / "checkpoints").glob(".*")) if (run_dir / "checkpoints").is_dir() else []
    latest = latest_checkpoint(run_dir)
    loads = None
    if latest is not None:
        try:
            loads = torch.load(latest / STATE_FILE, weights_only=False)["step"]
        except Exception as exc:  # noqa: BLE001 - reported, a failed case
            loads = f"{type(exc).__name__}: {exc}"
    last = events[-1] if events else None
    map_records, map_wrong = check_map(run_dir, raw)
    return {"events": len(events), "torn": torn, "ends_with_newline": raw.endswith(b"\n") or not raw,
            "map_records": map_records, "map_wrong": map_wrong,
            "last": {k: last.get(k) for k in ("type", "status", "reason", "step")} if last else None,
            "temporaries": temporaries, "latest": latest.name if latest else None, "latest_step": loads}


def map_lines(path: Path) -> list[bytes]:
    """The map's whole lines (a last one without its newline is torn: not a record)."""
    return path.read_bytes().split(b"\n")[:-1] if path.is_file() else []


def rollout_fields(event: dict) -> list:
    """What a map record holds after offset, length and crc32: a rollout's index fields, else nothing."""
    if event["type"] != "rollout":
        return []
    return [*(event[k] for k in ("time", "step", "query_index", "sample", "tier", "n_gen", "correct", "truncated")),
            event["reward"]["reward"], event["reward"]["case"], event["query_id"], event["difficulty"]]


def check_map(run_dir: Path, raw: bytes) -> tuple[int, list[str]]:
    """How many records the line map holds, and those that do not describe their line of
    events.jsonl `raw` (at most 5)."""
    lines, checked, wrong, previous = map_lines(run_dir / ".events.lines"), 0, [], -1
    if lines and lines[0] != b'{"hbpo_lines": 1}':
        return 0, [f"header {lines[0][:100]!r}"]
    for number, text in enumerate(lines[1:], 2):
        record = parse_map_record(text)
        if record is None:
            continue  # torn by the full disk, then a resume's newline: no record
        checked += 1
        why = []
        try:
            offset, length, crc = record[:3]
            line = raw[offset:offset + length]
            if offset <= previous:
                why.append("out of order")
            if len(record) not in (3, 15):  # the fields, its check taken off
                why.append("not a record")
            elif zlib.crc32(line) != crc or raw[offset + length:offset + length + 1] != b"\n":
                why.append("crc or end")
            elif offset and raw[offset - 1:offset] != b"\n":
                why.append("starts mid-line")
            elif record[3:] != rollout_fields(json.loads(line)):
                why.append("fields")
        except Exception as exc:  # noqa: BLE001 - a record this check cannot even read is wrong
            why.append(f"{type(exc).__name__}: {exc}")
            offset = previous
        previous = offset
        if why:
            wrong.append(f"map line {number} {text[:80]!r}: {', '.join(why)}")
    return checked, wrong[:5]


def judge(first: dict, error: str | None, resumed: dict | None) -> list[str]:
    """What is wrong with one case (empty: all good)."""
    bad = []
    last = first["last"]
    if last is None or last["type"] != "run_end":
        bad.append(f"no run_end at the end of events.jsonl (last event: {last})")
    elif last["status"] == "failed" and "no space left on device" not in (last["reason"] or ""):
        bad.append(f"run_end failed without saying the disk is full: {last['reason']!r}")
    elif last["status"] == "finished" and error:
        bad.append(f"finished but raised {error!r}")
    if error and "no space left on device" not in error:
        bad.append(f"raised something other than a disk-full error: {error[:300]}")
    if first["torn"] > 1 or not first["ends_with_newline"]:
        bad.append(f"{first['torn']} torn lines, ends with newline: {first['ends_with_newline']}")
    for name, case in (("run", first), ("resume", resumed or {})):
        if case.get("map_wrong"):
            bad.append(f"line map after the {name} holds wrong records: {case['map_wrong']}")
    if first["temporaries"]:
        bad.append(f"temporaries left: {first['temporaries']}")
    if first["latest"] is not None and not isinstance(first["latest_step"], int):
        bad.append(f"latest checkpoint {first['latest']} does not load: {first['latest_step']}")
    if resumed is not None:
        end = resumed["last"] or {}
        if end.get("type") != "run_end" or end.get("status") != "finished" or end.get("step") != STEPS:
            bad.append(f"resume after growing the disk did not finish {STEPS} steps: {end}")
    return bad


def run_case(base: Path, index: int, size: int, parallel: str = "ddp") -> dict:
    where = base / f"case-{index}"
    where.mkdir()
    mount(where, size)
    try:
        cfg = tiny_config(train__steps=STEPS, train__parallel=parallel)
        cfg["run"] |= {"dir": str(where / "runs"), "name": "r"}
        config_path = base / f"config-{index}.yaml"
        config_path.write_text(json.dumps(cfg))
        config = load_config(config_path)
        run_dir = where / "runs" / "r"
        run_dir.mkdir(parents=True)
        error = None
        try:
            train(config, run_dir)
        except DiskFullError as exc:
            error = str(exc)
        except Exception:  # noqa: BLE001 - a crash is what this looks for
            error = traceback.format_exc()
        first = inspect(run_dir)
        resumed = None
        if first["last"] and first["last"].get("status") == "failed" and (run_dir / "config.yaml").is_file():
            mount(where, 64 << 20, remount=True)
            try:
                train(load_config(run_dir / "config.yaml"), run_dir, resume=True)
            except Exception:  # noqa: BLE001
                pass
            resumed = inspect(run_dir)
        return {"size": size, "error": error and error[:400], "first": first, "resumed": resumed,
                "problems": judge(first, error, resumed)}
    finally:
        subprocess.run(["umount", str(where)], check=False)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=0, help="number of sizes (default: every page in range)")
    ap.add_argument("--pages", default="12:260", help="range of tmpfs sizes in 4 KiB pages, lo:hi")
    ap.add_argument("--parallel", default="ddp", help="train.parallel of the runs (fsdp: a sharded checkpoint)")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.pages.split(":"))
    pages = list(range(lo, hi + 1))
    if args.cases:
        pages = sorted({lo + round(i * (hi - lo) / max(args.cases - 1, 1)) for i in range(args.cases)})
    with tempfile.TemporaryDirectory(prefix="hbpo-diskfull-") as tmp:
        cases = [run_case(Path(tmp), i, p * PAGE, args.parallel) for i, p in enumerate(pages)]
    summary = {
        "cases": len(cases),
        "failed_disk_full": sum(1 for c in cases if (c["first"]["last"] or {}).get("status") == "failed"),
        "finished": sum(1 for c in cases if (c["first"]["last"] or {}).get("status") == "finished"),
        "with_run_end": sum(1 for c in cases if (c["first"]["last"] or {}).get("type") == "run_end"),
        "map_records": sum(c["first"]["map_records"] + ((c["resumed"] or {}).get("map_records") or 0) for c in cases),
        "resumed_to_the_end": sum(1 for c in cases if c["resumed"] and not any("resume" in p for p in c["problems"])),
        "bad": [c for c in cases if c["problems"]],
    }
    print(json.dumps({"summary": summary, "cases": cases}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
