"""The paper's claims, measured on the testbed: one command, five methods, one table.

    python -m hbpo testbed experiment [--steps N] [--out DIR]

Trains, with the same compute budget (steps x queries x rollouts), HBPO with 4 tiers, HBPO with
1 tier at the same mean budget, GRPO with a cosine length reward and plain GRPO, all from the
testbed's SFT base; then evaluates the base and every final policy on the test split in natural
and efficiency modes and writes a paper-style table per difficulty bucket (JSON and Markdown)
beside each method's run folder.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from ..config import Config, default_config_path, load_config
from ..engines import make_engine
from ..evaluate import evaluate
from ..modes import mode_label
from ..events import read_events
from ..model import load_policy
from ..sources import load_source

TIERS = [32, 64, 128, 160]
METHODS = {  # name -> config overrides; every method sees the same steps x queries x n
    "hbpo-4tier": ["method=hbpo", f"tiers={TIERS}"],
    "hbpo-1tier": ["method=hbpo", f"tiers=[{sum(TIERS) // len(TIERS)}]"],
    "cosine": ["method=cosine"],
    "grpo": ["method=grpo"],
}
MODES = ["natural", "efficiency"]


def base_config(out: Path, steps: int, overrides: list[str]) -> list[str]:
    return [f"run.dir={out}", f"train.steps={steps}", "train.checkpoint_every=1000", "eval.every=0",
            "model.path=testbed:base", *overrides]


def spread_over_training(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per tier: the length std at the first and last step, and its minimum (collapse check)."""
    events, _ = read_events(run_dir / "events.jsonl")
    by_tier: dict[str, list[float]] = {}
    for e in events:
        for t in e.get("per_tier", []) if e["type"] == "step" else []:
            if t["metrics"].get("length_std") is not None:
                by_tier.setdefault(mode_label(t["tier"]), []).append(t["metrics"]["length_std"])
    return {tier: {"first": s[0], "last": s[-1], "min": min(s)} for tier, s in by_tier.items()}


def evaluate_policy(cfg: Config, weights: Path | None, problems, label: str) -> dict:
    device = torch.device("cpu")
    model, tok = load_policy(cfg.model, device, torch.float32, seed=cfg.run.seed, weights_from=weights,
                             testbed_version=cfg.testbed.version)
    engine = make_engine(cfg, model, tok, device, torch.float32)
    try:
        return {mode: evaluate(engine, tok, problems, mode, cfg, dataset=label) for mode in MODES}
    finally:
        engine.close()


def row(result: dict, base: dict | None) -> dict:
    out = {}
    for mode, r in result.items():
        buckets = dict(r["by_difficulty"])
        buckets["all"] = {"n": r["n"], "accuracy": r["accuracy"], "mean_tokens": r["mean_tokens"]}
        for bucket, b in buckets.items():
            cell = {"accuracy": b["accuracy"], "mean_tokens": b["mean_tokens"]}
            if base:
                ref = base[mode]["by_difficulty"].get(bucket) if bucket != "all" else base[mode]
                cell["token_change"] = b["mean_tokens"] / ref["mean_tokens"] - 1
                cell["accuracy_change"] = b["accuracy"] - ref["accuracy"]
            out.setdefault(mode, {})[bucket] = cell
        easy, hard = r["by_difficulty"].get("easy"), r["by_difficulty"].get("hard")
        out[mode]["hard_easy_token_ratio"] = hard["mean_tokens"] / easy["mean_tokens"] if easy and hard else None
    return out


def markdown(table: dict) -> str:
    lines = []
    for mode in MODES:
        lines += [f"\n### {mode} mode\n",
                  "| method | bucket | accuracy | Δacc vs base | mean tokens | Δtokens vs base |",
                  "|---|---|---|---|---|---|"]
        for method, result in table["methods"].items():
            cells = result["eval"][mode]
            for bucket in ("easy", "medium", "hard", "all"):
                c = cells.get(bucket)
                if not c:
                    continue
                dacc = f"{c['accuracy_change'] * 100:+.1f} pt" if "accuracy_change" in c else "—"
                dtok = f"{c['token_change'] * 100:+.1f} %" if "token_change" in c else "—"
                lines.append(f"| {method} | {bucket} | {c['accuracy'] * 100:.1f} % | {dacc} | "
                             f"{c['mean_tokens']:.1f} | {dtok} |")
        lines.append("\n| method | hard / easy tokens |\n|---|---|")
        for method, result in table["methods"].items():
            ratio = result["eval"][mode]["hard_easy_token_ratio"]
            lines.append(f"| {method} | {ratio:.2f}x |" if ratio else f"| {method} | — |")
    lines += ["\n### length spread per tier over training (std of n_gen: first / last / min step)\n",
              "| method | tier | first | last | min |", "|---|---|---|---|---|"]
    for method, result in table["methods"].items():
        for tier, s in result.get("spread", {}).items():
            lines.append(f"| {method} | {tier} | {s['first']:.1f} | {s['last']:.1f} | {s['min']:.1f} |")
    lines.append(f"\nWall time: {table['wall_seconds'] / 60:.1f} min "
                 f"({', '.join(f'{k} {v:.0f} s' for k, v in table['seconds'].items())}).")
    return "\n".join(lines) + "\n"


def run_experiment(out: Path, *, steps: int, eval_limit: int | None, config: str | None,
                   methods: list[str] | None = None, overrides: list[str] = ()) -> dict:
    from ..train import new_run_dir, train

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    cfg_path = config or default_config_path()
    base_cfg = load_config(cfg_path, base_config(out, steps, list(overrides)), base_dir=Path.cwd())
    problems = load_source("testbed:test", limit=eval_limit)
    t = time.perf_counter()
    base_eval = evaluate_policy(base_cfg, None, problems, "testbed:test")
    seconds["base eval"] = time.perf_counter() - t
    table = {"steps": steps, "queries_per_step": base_cfg.train.queries_per_step,
             "rollouts_per_query": base_cfg.rollouts_per_query, "test_problems": len(problems),
             "methods": {"sft-base": {"eval": row(base_eval, None)}}}
    for name in methods or list(METHODS):
        cfg = load_config(cfg_path, base_config(out, steps, [*overrides, *METHODS[name], f"run.name={name}"]),
                          base_dir=Path.cwd())
        t = time.perf_counter()
        print(f"[experiment] training {name} for {steps} steps", file=sys.stderr, flush=True)
        run_dir = new_run_dir(cfg)
        status = train(cfg, run_dir)
        seconds[name] = time.perf_counter() - t
        from ..checkpoint import latest_checkpoint

        result = evaluate_policy(cfg, latest_checkpoint(run_dir) / "model", problems, "testbed:test")
        table["methods"][name] = {"run": str(run_dir), "status": status, "eval": row(result, base_eval),
                                  "spread": spread_over_training(run_dir)}
        (out / "results.json").write_text(json.dumps(table, indent=1))  # partial results survive
    table["seconds"] = seconds
    table["wall_seconds"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(table, indent=1))
    (out / "results.md").write_text(markdown(table))
    return table


def summary_checks(table: dict) -> list[str]:
    """The paper's targets, scaled, as pass/fail lines (reported, never tuned towards)."""
    m = table["methods"]
    nat = lambda k, b="all": m[k]["eval"]["natural"][b]
    lines = []
    if "hbpo-4tier" in m:
        h = nat("hbpo-4tier")
        lines.append(f"HBPO tokens vs base: {h['token_change'] * 100:+.1f} % (target <= -50 %), "
                     f"accuracy {h['accuracy_change'] * 100:+.1f} pt (target >= 0)")
        ratio = m["hbpo-4tier"]["eval"]["natural"]["hard_easy_token_ratio"]
        lines.append(f"HBPO hard/easy token ratio: {ratio:.2f}x (target >= 2x)")
    if "hbpo-4tier" in m and "hbpo-1tier" in m:
        lines.append(f"4 tiers vs 1 tier accuracy: {nat('hbpo-4tier')['accuracy'] * 100:.1f} % vs "
                     f"{nat('hbpo-1tier')['accuracy'] * 100:.1f} % (target: 4 tiers >= 1 tier)")
    if "cosine" in m:
        shorter = all(nat("cosine", b)["token_change"] < 0 for b in ("easy", "medium", "hard"))
        lines.append(f"cosine shortens every bucket: {shorter}; hard-bucket accuracy change "
                     f"{nat('cosine', 'hard')['accuracy_change'] * 100:+.1f} pt (paper: it drops)")
    return lines

