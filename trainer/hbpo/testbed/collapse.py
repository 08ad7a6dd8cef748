"""What wrecks hard problems under HBPO? Per-tier length and accuracy over training, by difficulty.

    python -m hbpo testbed collapse [--version 2|3] [--mix hard-heavy] [--steps 40] [--seed 0]
                                    [--variants default lr/5 tiers>=80] [--out runs/collapse]

Trains HBPO (the built-in config) once per variant on one training mix and reads back, from each
run's own events, what its rollouts did: accuracy and mean length per (stretch of training,
difficulty, tier), so a tier that pulls hard problems below their minimal solution (67-79 tokens)
shows as hard rollouts of that tier getting short and wrong. Evals on `testbed:val` (natural mode,
by difficulty) every `steps / 4` steps show what the policy does without a budget sentence. The
variants test the two suspects: the step size (`lr/5`: optim.lr / 5) and the tiers under a hard
problem's minimal solution (`tiers>=80`: every tier fits one).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Sequence

from ..config import ConfigError, default_config_path, load_config
from ..events import read_events
from .experiment import train_source
from .problems import DIFFICULTIES

VARIANTS = {
    "default": [],
    "lr/5": ["optim.lr=1e-4"],
    "tiers>=80": ["tiers=[80,96,128,160]"],
}
STRETCHES = 4  # training is read in this many stretches of steps


def read_run(run_dir: Path, steps: int) -> dict:
    """Training rollouts per (stretch, difficulty, tier): n, accuracy, mean n_gen; and the evals."""
    events, _ = read_events(run_dir / "events.jsonl")
    size = max(1, -(-steps // STRETCHES))
    cells: dict[tuple[int, str, str], list[tuple[int, int]]] = {}
    evals = {}
    for e in events:
        if e["type"] == "rollout" and e.get("tier") is not None:
            key = ((e["step"] - 1) // size, e.get("difficulty") or "?", str(e["tier"]))
            cells.setdefault(key, []).append((int(bool(e["correct"])), e["n_gen"]))
        elif e["type"] == "eval" and e["mode"] == "natural":
            evals[e["step"]] = {d: {"accuracy": v["accuracy"], "tokens": v["mean_tokens"]} for d, v in e["by_difficulty"].items()}
    stretches = []
    for s in range(STRETCHES):
        rows = {}
        for (k, d, tier), xs in cells.items():
            if k == s:
                rows.setdefault(d, {})[tier] = {"n": len(xs), "accuracy": sum(c for c, _ in xs) / len(xs),
                                                "tokens": sum(n for _, n in xs) / len(xs)}
        stretches.append({"steps": [s * size + 1, min(steps, (s + 1) * size)], "by_difficulty": rows})
    return {"stretches": stretches, "evals": evals}


def markdown(result: dict) -> str:
    lines = [f"# Hard-problem collapse (testbed.version {result['version']}, mix {result['mix']}, "
             f"{result['steps']} steps, seed {result['seed']})"]
    for name, r in result["variants"].items():
        lines += [f"\n## {name} ({' '.join(VARIANTS[name]) or 'the built-in config'})\n",
                  "Training rollouts: accuracy / mean tokens per tier\n"]
        tiers = sorted({t for s in r["stretches"] for d in s["by_difficulty"].values() for t in d}, key=int)
        lines += ["| steps | difficulty | " + " | ".join(f"tier {t}" for t in tiers) + " |", "|---|---|" + "---|" * len(tiers)]
        for s in r["stretches"]:
            for d in DIFFICULTIES:
                row = s["by_difficulty"].get(d, {})
                vals = [f"{row[t]['accuracy'] * 100:.0f} % / {row[t]['tokens']:.0f}" if t in row else "—" for t in tiers]
                lines.append(f"| {s['steps'][0]}-{s['steps'][1]} | {d} | " + " | ".join(vals) + " |")
        if r["evals"]:
            lines += ["\nEvals on testbed:val, natural mode: accuracy / mean tokens\n",
                      "| step | " + " | ".join(DIFFICULTIES) + " |", "|---|" + "---|" * len(DIFFICULTIES)]
            for step, by in sorted(r["evals"].items(), key=lambda kv: int(kv[0])):
                lines.append(f"| {step} | " + " | ".join(
                    f"{by[d]['accuracy'] * 100:.0f} % / {by[d]['tokens']:.0f}" if d in by else "—" for d in DIFFICULTIES) + " |")
    lines.append(f"\nWall time: {result['seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def run_collapse(out: Path, *, version: int, mix: str, steps: int, seed: int, variants: Sequence[str],
                 eval_limit: int = 90, overrides: Sequence[str] = ()) -> dict:
    from ..train import new_run_dir, train

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError([f"--variants: unknown variant {unknown[0]!r} (known: {', '.join(VARIANTS)})"])
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    train_data = train_source(out, mix)
    every = max(1, steps // 4)
    result = {"version": version, "mix": mix, "steps": steps, "seed": seed, "variants": {}}
    for name in variants:
        cfg = load_config(default_config_path(), [
            f"run.dir={out}", f"run.name=collapse-{name.replace('/', '-').replace('>=', 'ge')}", f"run.seed={seed}",
            f"train.steps={steps}", "train.checkpoint_every=1000", f"testbed.version={version}", f"data.train={train_data}",
            f"eval.every={every}", "eval.data=[testbed:val]", "eval.modes=[natural]", f"eval.limit={eval_limit}",
            *overrides, *VARIANTS[name]], base_dir=Path.cwd())
        print(f"[collapse] training {name} for {steps} steps", file=sys.stderr, flush=True)
        run_dir = new_run_dir(cfg)
        status = train(cfg, run_dir)
        if status != "finished":
            raise RuntimeError(f"{name} ended {status}: see {run_dir / 'events.jsonl'}")
        result["variants"][name] = {"run": str(run_dir), **read_run(run_dir, steps)}
        result["seconds"] = time.perf_counter() - started
        (out / "collapse.json").write_text(json.dumps(result, indent=1))
    result["seconds"] = time.perf_counter() - started
    (out / "collapse.json").write_text(json.dumps(result, indent=1))
    (out / "collapse.md").write_text(markdown(result))
    return result
