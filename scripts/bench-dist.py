"""Scaling of one run across processes (torchrun, gloo on CPU): steps/s and generated tokens/s of the
same config trained by 1 process and by N, in one invocation, with the ratio (scaling efficiency =
speed-up / N). Every process gets `--threads` threads (default: the cores divided by N), so both
sides use the same cores.

    .venv/bin/python scripts/bench-dist.py [--nproc 2] [--steps 4] [--config PATH] [--set KEY=VALUE ...]

Default config: the built-in testbed config (the testbed model must be built once:
`python -m hbpo testbed build`), 8 queries a step. Prints one JSON line per figure; the first step of
each run is left out (imports, model load, first-step warm-up). Run folders go to a temp folder that
is deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[1] / "trainer"


def train(nproc: int, threads: int, args, runs: Path) -> dict:
    name = f"bench-{nproc}"
    cmd = [sys.executable, "-m", "hbpo", "train", *(["--config", args.config] if args.config else []),
           "--set", f"run.dir={runs}", "--set", f"run.name={name}", "--set", f"train.steps={args.steps}",
           "--set", f"run.threads={threads}", "--set", "eval.every=0", "--set", f"train.checkpoint_every={args.steps}",
           *[x for s in args.overrides for x in ("--set", s)], "--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, cwd=TRAINER, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"nproc {nproc} failed:\n{done.stderr[-3000:]}")
    events = [json.loads(line) for line in (runs / name / "events.jsonl").read_text().splitlines() if line.strip()]
    steps = [e for e in events if e["type"] == "step"][1:]  # the first step warms up
    if not steps:
        raise SystemExit("--steps must be at least 2 (the first step is left out)")
    seconds = steps[-1]["time"] - [e for e in events if e["type"] == "step"][0]["time"]
    tokens = sum(e["metrics"]["tokens/generated"] for e in steps)
    return {"steps_per_s": len(steps) / seconds, "tokens_per_s": tokens / seconds, "steps": len(steps),
            "seconds": seconds, "update_s": sum(e["metrics"]["time/update_s"] for e in steps) / len(steps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, help="threads a process (default: cores / nproc, at least 1)")
    ap.add_argument("--config")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="hbpo-bench-dist-") as tmp:
        runs = Path(tmp)
        threads_n = args.threads or max(1, cores // args.nproc)
        one = train(1, threads_n * args.nproc, args, runs)
        many = train(args.nproc, threads_n, args, runs)
    for figure in ("steps_per_s", "tokens_per_s"):
        speedup = many[figure] / one[figure]
        print(json.dumps({"figure": figure, "nproc": args.nproc, "value": many[figure], "one_process": one[figure],
                          "ratio": speedup, "scaling_efficiency": speedup / args.nproc,
                          "threads_per_process": threads_n, "cores": cores}))
    print(json.dumps({"figure": "update_s", "nproc": args.nproc, "value": many["update_s"], "one_process": one["update_s"],
                      "ratio": many["update_s"] / one["update_s"]}))


if __name__ == "__main__":
    main()
