"""The paper's claims, measured on the testbed with error bars: one command, seven methods, a table.

    python -m hbpo testbed experiment [--seeds 3] [--steps 40] [--limit 300]
                                      [--mix default hard-heavy] [--version 2|3] [--out DIR]

For each training mix and each seed, trains from the testbed's SFT base, with the same compute
(steps x queries x rollouts): HBPO with 4 tiers (32/64/128/160), 2 tiers (64/128) and 1 tier (96:
the three share a mean budget of 96), GRPO with the cosine length reward, L1-exact (a target length
per query, 16..256) and plain GRPO; then evaluates the base and every final policy on the first
`limit` test problems (balanced across difficulties) in natural and efficiency modes, with the
seed's own sampling.

Error bars: every cell is the mean over seeds and items with a 95 % interval from a two-level
bootstrap (seeds drawn with replacement, then test items with replacement within the bucket). The
draws are shared by every method in a round, so differences against the base (and between methods)
are paired. A claim holds when its quantity's interval lies on the claimed side of the threshold,
fails when it lies on the other side, and is "not significant" when the interval straddles it.

Training mixes (`MIXES`): `default` is `testbed:train` as it is (easy, medium and hard in turn);
`hard-heavy` draws the train split 1:1:3. Any `e:m:h` of small integers is a mix too.

Sampling at evaluation: the rollouts' own (`generation.temperature` and `top_p`, 1.0 and 1.0 by
default), unless the config file or `--set` names `eval.temperature` or `eval.top_p`. Version 3's
slips are sampling noise, so at the usual eval temperature (0.6) its base is at the ceiling and no
method can be told apart. (Version 2's published tables were sampled at 0.6 / 0.95: `--set
eval.temperature=0.6 --set eval.top_p=0.95` reproduces them.)

Resumable: each (method, mix, seed) is recorded in `OUT/done/` once trained, with a fingerprint of
what decides its weights (the resolved config but for its folder and `eval`, the base model's build
key), and again once evaluated, with a second fingerprint that adds the `eval` settings and the test
items; each seed's base evaluation is recorded with the latter. The same command run again reuses
every record whose fingerprints match, evaluates again a trained run whose evaluation settings
changed (or whose evaluation a stop cut short), and trains only the rest: a stopped experiment
(hours on 2 CPU cores) loses at most the run it was in. A run folder without a matching record (a
stop left it, or other settings made it) is moved aside (`<run>.stopped-N`), never overwritten, and
trained again.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..config import Config, ConfigError, default_config_path, load_config, parse_overrides, read_config_file, to_dict
from ..engines import make_engine
from ..evaluate import evaluate
from ..events import read_events
from ..model import load_policy
from ..modes import mode_label
from ..sources import load_source
from .problems import DIFFICULTIES, generate as generate_problems

BASE = "sft-base"  # evaluated, not trained
METHODS = {  # name -> config overrides; every method sees the same steps x queries x n
    "hbpo-4tier": ["method=hbpo", "tiers=[32,64,128,160]"],
    "hbpo-2tier": ["method=hbpo", "tiers=[64,128]"],
    "hbpo-1tier": ["method=hbpo", "tiers=[96]"],
    "cosine": ["method=cosine"],
    "l1-exact": ["method=l1-exact", "reward.target_min=16", "reward.target_max=256"],  # L1's 100..4000 of 4096, scaled
    "grpo": ["method=grpo"],
}
MODES = ["natural", "efficiency"]
BUCKETS = [*DIFFICULTIES, "all"]
MIXES = {"default": (1, 1, 1), "hard-heavy": (1, 1, 3)}
ROUNDS = 2000
SPREAD_STEPS = 5  # steps averaged at each end of training for the length-spread claim
SPREAD_KEPT = 0.25  # a tier's spread collapses when its last steps' std falls below this share of its first steps'


def parse_mix(name: str) -> tuple[int, int, int]:
    """A mix name (`MIXES`) or `e:m:h` weights, e.g. `1:1:3`; ConfigError naming it otherwise."""
    if name in MIXES:
        return MIXES[name]
    parts = name.split(":")
    if len(parts) == 3 and all(p.isdigit() and 0 <= int(p) <= 20 for p in parts) and any(int(p) for p in parts):
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    raise ConfigError([f"--mix: unknown mix {name!r} (known: {', '.join(MIXES)}, or e:m:h weights such as 1:1:3)"])


def train_source(out: Path, mix: str) -> str:
    """The `data.train` of a mix: `testbed:train` for the default, else a JSONL drawn from the train
    split with the mix's weights (difficulties interleaved, so every stretch of it has the mix)."""
    weights = parse_mix(mix)
    if weights == MIXES["default"]:
        return "testbed:train"
    cycle = [d for d, w in zip(DIFFICULTIES, weights) for _ in range(w)]
    path = out / f"train-{mix.replace(':', '-')}.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for p in generate_problems("train", 3000, difficulties=cycle):
            f.write(json.dumps({"id": p.id, "problem": p.problem, "answer": p.answer, "difficulty": p.difficulty}) + "\n")
    return str(path)


def run_overrides(out: Path, steps: int, seed: int | None, train: str, overrides: Sequence[str]) -> list[str]:
    """A run's overrides: the experiment's, the caller's, then its seed (which wins over a run.seed
    of the caller's: that one is the first seed)."""
    return [f"run.dir={out}", f"train.steps={steps}", "train.checkpoint_every=1000", "eval.every=0",
            "model.path=testbed:base", f"data.train={train}", *overrides,
            *([f"run.seed={seed}"] if seed is not None else [])]


def spread_over_training(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per tier: the length std (tokens) at the first and last step, its minimum, and its mean over
    the first and the last `SPREAD_STEPS` steps (fewer in a short run: half of it each), the
    collapse check."""
    events, _ = read_events(run_dir / "events.jsonl")
    by_tier: dict[str, list[float]] = {}
    for e in events:
        for t in e.get("per_tier", []) if e["type"] == "step" else []:
            if t["metrics"].get("length_std") is not None:
                by_tier.setdefault(mode_label(t["tier"]), []).append(t["metrics"]["length_std"])
    out = {}
    for tier, s in by_tier.items():
        k = max(1, min(SPREAD_STEPS, len(s) // 2))  # the two ends never overlap
        out[tier] = {"first": s[0], "last": s[-1], "min": min(s), "first_mean": sum(s[:k]) / k, "last_mean": sum(s[-k:]) / k}
    return out


def evaluate_policy(cfg: Config, weights: Path | None, problems, label: str) -> dict:
    """Per mode: each test item's (correct, tokens), sampled from the run's seed."""
    device = torch.device("cpu")
    model, tok = load_policy(cfg.model, device, torch.float32, seed=cfg.run.seed, weights_from=weights,
                             testbed_version=cfg.testbed.version)
    engine = make_engine(cfg, model, tok, device, torch.float32)
    try:
        out = {}
        for mode in MODES:
            r = evaluate(engine, tok, problems, mode, cfg, dataset=label, seed=cfg.run.seed, items=True)
            out[mode] = {"correct": [int(c) for c, _ in r["items"]], "tokens": [n for _, n in r["items"]]}
        return out
    finally:
        engine.close()


def fingerprints(cfg: Config, problems) -> tuple[str, str]:
    """(training, evaluation): what decides a run's weights (the resolved config without its folder
    and its `eval` section, a mix's training file named relative to the folder, and the testbed base
    model's build key when it starts from one), and what decides its evaluation on top of that (the
    `eval` section and the test items)."""
    from .build import recipe_for, recipe_key

    config = to_dict(cfg)
    out = Path(config["run"].pop("dir")).resolve()
    if isinstance(train := config["data"]["train"], str) and Path(train).parent == out:  # a mix's file (`train_source`)
        config["data"]["train"] = f"OUT/{Path(train).name}"  # so the folder may move
    evaluation = config.pop("eval")
    base = recipe_key(recipe_for(cfg.testbed.version)) if cfg.model.path == "testbed:base" else None
    digest = lambda blob: hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]  # noqa: E731
    trained = digest({"config": config, "base": base})
    return trained, digest({"trained": trained, "eval": evaluation, "items": [(p.id, p.problem, p.answer) for p in problems]})


class Done:
    """`OUT/done/<label>.json`: finished work. A record holds `train_fingerprint` once its run has
    trained and `fingerprint` once it is evaluated too (`fingerprints`)."""

    def __init__(self, out: Path):
        self.folder = out / "done"

    def get(self, label: str) -> dict:
        try:
            record = json.loads((self.folder / f"{label}.json").read_text())
        except (OSError, ValueError):  # none yet, or torn by a crash: done again
            return {}
        return record if isinstance(record, dict) else {}

    def put(self, label: str, record: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{label}.json.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(self.folder / f"{label}.json")  # whole or not at all


def _move_aside(run_dir: Path) -> Path:
    """A run folder without a matching record (a stop left it, or other settings made it): renamed
    `<run>.stopped-N`, kept for the user."""
    k = 1
    while (aside := run_dir.with_name(f"{run_dir.name}.stopped-{k}")).exists():
        k += 1
    run_dir.rename(aside)
    return aside


# --- statistics -------------------------------------------------------------------------------------

def bootstrap(evals: dict[str, list[dict]], difficulty: list[str], *, seed: int = 0, rounds: int = ROUNDS) -> dict:
    """Point estimates and bootstrap draws of accuracy and mean tokens per (method, mode, bucket).

    `evals[method][s][mode]` holds seed s's per-item `correct` (0/1) and `tokens`, items in the order
    of `difficulty`. Returns `{method: {mode: {bucket: {"accuracy"|"tokens": (point, draws[rounds])}}}}`;
    round r uses the same seeds and items for every method (paired)."""
    rng = np.random.default_rng(seed)
    n_seeds = len(next(iter(evals.values())))
    seed_draws = rng.integers(0, n_seeds, (rounds, n_seeds))
    diff = np.array(difficulty)
    items = {b: np.flatnonzero(diff == b) if b != "all" else np.arange(len(diff)) for b in BUCKETS}
    item_draws = {b: idx[rng.integers(0, len(idx), (rounds, len(idx)))] for b, idx in items.items() if len(idx)}
    out: dict = {}
    for method, per_seed in evals.items():
        for mode in MODES:
            for metric, key in (("accuracy", "correct"), ("tokens", "tokens")):
                x = np.array([s[mode][key] for s in per_seed], dtype=np.float64)  # [seeds, items]
                for b, draws in item_draws.items():
                    point = float(x[:, items[b]].mean())
                    boot = x[seed_draws[:, :, None], draws[:, None, :]].mean(axis=(1, 2))  # [rounds]
                    out.setdefault(method, {}).setdefault(mode, {}).setdefault(b, {})[metric] = (point, boot)
    return out


def interval(draws: np.ndarray) -> list[float]:
    return [float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))]


def cells(boot: dict) -> dict:
    """Each (method, mode, bucket): accuracy and mean tokens, their change against the base, and the
    hard/easy token ratio, each as {"mean", "ci95"}."""
    base = boot[BASE]
    out: dict = {}
    for method, modes in boot.items():
        for mode, buckets in modes.items():
            row: dict = {}
            for b, m in buckets.items():
                (acc, acc_d), (tok, tok_d) = m["accuracy"], m["tokens"]
                cell = {"accuracy": {"mean": acc, "ci95": interval(acc_d)}, "tokens": {"mean": tok, "ci95": interval(tok_d)}}
                if method != BASE:
                    (bacc, bacc_d), (btok, btok_d) = base[mode][b]["accuracy"], base[mode][b]["tokens"]
                    cell["accuracy_change"] = {"mean": acc - bacc, "ci95": interval(acc_d - bacc_d)}
                    cell["token_change"] = {"mean": tok / btok - 1, "ci95": interval(tok_d / btok_d - 1)}
                row[b] = cell
            if "easy" in buckets and "hard" in buckets:
                (h, h_d), (e, e_d) = buckets["hard"]["tokens"], buckets["easy"]["tokens"]
                row["hard_easy_token_ratio"] = {"mean": h / e, "ci95": interval(h_d / e_d)}
            out.setdefault(method, {})[mode] = row
    return out


def verdict(ci: Sequence[float], at_least: float | None = None, at_most: float | None = None) -> str:
    """Whether a quantity's 95 % interval lies on the claimed side of a threshold (`>= at_least` or
    `<= at_most`): "holds", "fails" (wholly on the other side) or "not significant" (it straddles)."""
    lo, hi = ci
    if at_least is not None:
        return "holds" if lo >= at_least else "fails" if hi < at_least else "not significant"
    return "holds" if hi <= at_most else "fails" if lo > at_most else "not significant"


def combine(parts: Sequence[str]) -> str:
    """A claim of several quantities: fails if one fails, holds if all hold."""
    if not parts:
        return "no data"
    return "fails" if "fails" in parts else "holds" if all(p == "holds" for p in parts) else "not significant"


def claims(boot: dict, spreads: dict[str, list[dict]], *, mode: str = "natural") -> list[dict]:
    """The paper's claims on this table (natural mode), each with its quantities and a verdict."""
    b = lambda method, bucket, metric: boot[method][mode][bucket][metric]  # noqa: E731
    out = []

    def quantity(label: str, point: float, draws: np.ndarray, fmt: str, **side) -> dict:
        ci = interval(draws)
        return {"quantity": label, "mean": point, "ci95": ci, "format": fmt, "verdict": verdict(ci, **side), **side}

    def claim(text: str, parts: list[dict]) -> None:
        out.append({"claim": text, "parts": parts, "verdict": combine([p["verdict"] for p in parts])})

    def change(method: str, bucket: str, metric: str):
        (x, xd), (y, yd) = b(method, bucket, metric), b(BASE, bucket, metric)
        return (x / y - 1, xd / yd - 1) if metric == "tokens" else (x - y, xd - yd)

    h4 = "hbpo-4tier"
    if h4 in boot:
        claim("HBPO (4 tiers) spends 50 % fewer tokens than the base at accuracy >= the base's", [
            quantity("token change vs base", *change(h4, "all", "tokens"), "pct", at_most=-0.5),
            quantity("accuracy change vs base", *change(h4, "all", "accuracy"), "pt", at_least=0.0)])
        (h, hd), (e, ed) = b(h4, "hard", "tokens"), b(h4, "easy", "tokens")
        claim("HBPO (4 tiers) spends >= 2x the tokens on hard problems as on easy ones",
              [quantity("hard / easy tokens", h / e, hd / ed, "x", at_least=2.0)])
    tiers = [m for m in ("hbpo-4tier", "hbpo-2tier", "hbpo-1tier") if m in boot]
    if len(tiers) >= 2:
        parts = []
        for hi_m, lo_m in zip(tiers, tiers[1:]):
            (x, xd), (y, yd) = b(hi_m, "all", "accuracy"), b(lo_m, "all", "accuracy")
            parts.append(quantity(f"accuracy {hi_m} - {lo_m}", x - y, xd - yd, "pt", at_least=0.0))
        claim(" >= ".join(tiers) + " in accuracy", parts)
    if "cosine" in boot and h4 in boot:
        claim("the cosine reward loses hard-problem accuracy while HBPO does not", [
            quantity("hard accuracy change, cosine", *change("cosine", "hard", "accuracy"), "pt", at_most=0.0),
            quantity("hard accuracy change, HBPO 4 tiers", *change(h4, "hard", "accuracy"), "pt", at_least=0.0)])
    hbpo_spreads = {m: s for m, s in spreads.items() if m.startswith("hbpo-") and s}
    if hbpo_spreads:
        rng = np.random.default_rng(1)
        parts = []
        for method, per_seed in hbpo_spreads.items():
            for tier in sorted({t for s in per_seed for t in s}, key=lambda t: (len(t), t)):
                kept = np.array([s[tier]["last_mean"] / s[tier]["first_mean"] for s in per_seed if tier in s and s[tier]["first_mean"] > 0])
                if not len(kept):
                    continue
                draws = kept[rng.integers(0, len(kept), (ROUNDS, len(kept)))].mean(axis=1)
                parts.append(quantity(f"{method} tier {tier}: last / first length std", float(kept.mean()), draws, "x",
                                      at_least=SPREAD_KEPT))
        claim(f"no tier's length spread collapses under HBPO (last {SPREAD_STEPS} steps' std >= "
              f"{SPREAD_KEPT:.0%} of the first {SPREAD_STEPS}')", parts)
    return out


# --- report -----------------------------------------------------------------------------------------

def _fmt(v: dict, kind: str) -> str:
    m, (lo, hi) = v["mean"], v["ci95"]
    if kind == "pct":
        return f"{m * 100:+.1f} % [{lo * 100:+.1f}, {hi * 100:+.1f}]"
    if kind == "pt":
        return f"{m * 100:+.1f} pt [{lo * 100:+.1f}, {hi * 100:+.1f}]"
    if kind == "acc":
        return f"{m * 100:.1f} % [{lo * 100:.1f}, {hi * 100:.1f}]"
    if kind == "x":
        return f"{m:.2f}x [{lo:.2f}, {hi:.2f}]"
    return f"{m:.1f} [{lo:.1f}, {hi:.1f}]"


def markdown(result: dict) -> str:
    lines = [f"# Testbed experiment (testbed.version {result['testbed_version']})\n",
             f"{len(result['seeds'])} seed(s) {result['seeds']}, {result['steps']} steps x "
             f"{result['queries_per_step']} queries x {result['rollouts_per_query']} rollouts per method, "
             f"{result['test_problems']} test problems, sampled at temperature {result['eval_sampling']['temperature']}, "
             f"top_p {result['eval_sampling']['top_p']}. Cells: mean over seeds and items [95 % interval, "
             f"two-level bootstrap]."]
    for mix, r in result["mixes"].items():
        lines.append(f"\n## Training mix: {mix} (easy:medium:hard = {':'.join(map(str, r['weights']))})")
        for mode in MODES:
            lines += [f"\n### {mode} mode\n", "| method | bucket | accuracy | Δacc vs base | mean tokens | Δtokens vs base |",
                      "|---|---|---|---|---|---|"]
            for method, modes in r["cells"].items():
                for bucket in BUCKETS:
                    c = modes[mode].get(bucket)
                    if not c:
                        continue
                    dacc = _fmt(c["accuracy_change"], "pt") if "accuracy_change" in c else "—"
                    dtok = _fmt(c["token_change"], "pct") if "token_change" in c else "—"
                    lines.append(f"| {method} | {bucket} | {_fmt(c['accuracy'], 'acc')} | {dacc} | "
                                 f"{_fmt(c['tokens'], 'tokens')} | {dtok} |")
            lines.append("\n| method | hard / easy tokens |\n|---|---|")
            for method, modes in r["cells"].items():
                ratio = modes[mode].get("hard_easy_token_ratio")
                lines.append(f"| {method} | {_fmt(ratio, 'x') if ratio else '—'} |")
        lines += ["\n### The paper's claims (natural mode)\n", "| claim | measured [95 % interval] | verdict |", "|---|---|---|"]
        for c in r["claims"]:
            measured = "; ".join(f"{p['quantity']} {_fmt(p, p['format'])}" for p in c["parts"]) or "—"
            lines.append(f"| {c['claim']} | {measured} | {c['verdict']} |")
        lines += ["\n### Length spread per tier over training (std of n_gen, tokens; mean over seeds)\n",
                  "| method | tier | first | last | min |", "|---|---|---|---|---|"]
        for method, per_seed in r["spread"].items():
            for tier in sorted({t for s in per_seed for t in s}, key=lambda t: (len(t), t)):
                vals = [s[tier] for s in per_seed if tier in s]
                mean = lambda k: sum(v[k] for v in vals) / len(vals)  # noqa: E731
                lines.append(f"| {method} | {tier} | {mean('first'):.1f} | {mean('last'):.1f} | {mean('min'):.1f} |")
    secs = result["seconds"]
    reused, again = result.get("reused", 0), result.get("reevaluated", 0)
    lines.append(f"\nWall time: {result['wall_seconds'] / 60:.1f} min "
                 f"(training {secs['train'] / 60:.1f} min, evaluation {secs['eval'] / 60:.1f} min"
                 + (f"; {reused} runs and base evaluations reused from an earlier call" if reused else "")
                 + (f"; {again} runs trained by an earlier call and evaluated again" if again else "")
                 + ("; the reused time is counted in training and evaluation, not in the wall time"
                    if reused or again else "") + ").")
    return "\n".join(lines) + "\n"


def rollout_sampling(cfg_path: Path | str, overrides: Sequence[str], cfg: Config) -> list[str]:
    """`eval.temperature` and `eval.top_p` set to the rollouts' (`generation.*`), each unless the
    config file or an override names it. On version 3 the slips are sampling noise: at the usual
    eval temperature 0.6 its base is at the ceiling (99.7 %), and no method can be told apart."""
    named = {key for key, _ in parse_overrides(list(overrides))}
    in_file = read_config_file(cfg_path).get("eval") or {}
    return [f"eval.{key}={getattr(cfg.generation, key)}" for key in ("temperature", "top_p")
            if f"eval.{key}" not in named and not (isinstance(in_file, dict) and key in in_file)]


def train_run(cfg: Config, what: str, train_fp: str) -> dict:
    """Train one method's run from the base: the first half of the record `Done` keeps."""
    from ..train import new_run_dir, train

    run_dir = Path(cfg.run.dir) / cfg.run.name
    if run_dir.exists():  # without a matching record: left by a stop, or run with other settings
        print(f"[experiment] {run_dir} has no record for these settings (a stop left it, or other settings made it): "
              f"moved to {_move_aside(run_dir).name}", file=sys.stderr, flush=True)
    print(f"[experiment] {what}: training for {cfg.train.steps} steps", file=sys.stderr, flush=True)
    t = time.perf_counter()
    status = train(cfg, new_run_dir(cfg))
    if status != "finished":
        raise RuntimeError(f"{what} ended {status}: see {run_dir / 'events.jsonl'}")
    return {"train_fingerprint": train_fp, "spread": spread_over_training(run_dir), "run": str(run_dir),
            "seconds": {"train": time.perf_counter() - t, "eval": 0.0}}


def final_weights(run_dir: Path) -> Path | None:
    """A trained run's last checkpoint's weights, if its folder is there (where this experiment's
    folder is now: it may have been moved since)."""
    from ..checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    return ckpt / "model" if ckpt is not None and (ckpt / "model").is_dir() else None


def base_record(done: Done, label: str, cfg: Config, problems, tally: dict) -> dict:
    """One seed's evaluation of the base: reused when recorded with these settings (`tally["reused"]`
    counts it), else evaluated and recorded."""
    fp = fingerprints(cfg, problems)[1]
    if (record := done.get(label)).get("fingerprint") == fp:
        tally["reused"] += 1
        print(f"[experiment] {label}: the base's evaluation is reused ({done.folder / label}.json)", file=sys.stderr, flush=True)
        return record
    t = time.perf_counter()
    record = {"fingerprint": fp, "eval": evaluate_policy(cfg, None, problems, "testbed:test"),
              "seconds": {"train": 0.0, "eval": time.perf_counter() - t}}
    done.put(label, record)
    return record


def method_record(done: Done, label: str, cfg: Config, problems, what: str, tally: dict) -> dict:
    """One method's run, trained and evaluated: reused when its record matches both fingerprints;
    evaluated again when only the training matches and its final checkpoint is there (other eval
    settings, or a stop cut the evaluation short); else trained, recorded, evaluated, recorded."""
    train_fp, fp = fingerprints(cfg, problems)
    if (record := done.get(label)).get("fingerprint") == fp:
        tally["reused"] += 1
        print(f"[experiment] {what} is reused ({done.folder / label}.json)", file=sys.stderr, flush=True)
        return record
    run_dir = Path(cfg.run.dir) / label
    if record.get("train_fingerprint") == train_fp and (weights := final_weights(run_dir)) is not None:
        record["run"] = str(run_dir)  # the experiment's folder may have moved since
        tally["reevaluated"] += 1
        print(f"[experiment] {what}: trained by an earlier call, evaluated again", file=sys.stderr, flush=True)
    else:
        record = train_run(cfg, what, train_fp)
        done.put(label, record)  # a stop in the evaluation keeps the training
        weights = final_weights(run_dir)
    t = time.perf_counter()
    record = {**record, "fingerprint": fp, "eval": evaluate_policy(cfg, weights, problems, "testbed:test"),
              "seconds": {"train": record["seconds"]["train"], "eval": time.perf_counter() - t}}
    done.put(label, record)
    return record


def run_experiment(out: Path, *, steps: int, eval_limit: int, seeds: int = 3, mixes: Sequence[str] = ("default", "hard-heavy"),
                   methods: Sequence[str] | None = None, version: int | None = None, config: str | None = None,
                   overrides: Sequence[str] = ()) -> dict:
    """Train and evaluate every method for every mix and seed; write results.json and results.md
    into `out` (the JSON after each method, so partial results survive a stop). Work recorded in
    `out/done/` by an earlier call with the same fingerprint is reused (module docstring)."""
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = config or default_config_path()
    extra = [*overrides, *([f"testbed.version={version}"] if version is not None else [])]
    for mix in mixes:
        parse_mix(mix)
    methods = list(methods or METHODS)
    started = time.perf_counter()
    secs = {"train": 0.0, "eval": 0.0}
    first = load_config(cfg_path, run_overrides(out, steps, None, "testbed:train", extra), base_dir=Path.cwd())
    extra += rollout_sampling(cfg_path, overrides, first)
    first = load_config(cfg_path, run_overrides(out, steps, None, "testbed:train", extra), base_dir=Path.cwd())
    seed_list = [first.run.seed + i for i in range(seeds)]
    problems = load_source("testbed:test", limit=eval_limit)
    difficulty = [p.difficulty for p in problems]
    result = {"testbed_version": first.testbed.version, "seeds": seed_list, "steps": steps,
              "queries_per_step": first.train.queries_per_step, "rollouts_per_query": first.rollouts_per_query,
              "test_problems": len(problems), "eval_sampling": {"temperature": first.eval.temperature, "top_p": first.eval.top_p},
              "mixes": {}, "seconds": secs}

    def save() -> None:
        result["wall_seconds"] = time.perf_counter() - started
        (out / "results.json").write_text(json.dumps(result, indent=1))

    done = Done(out)
    result["reused"] = 0  # records of an earlier invocation (their seconds are in `seconds`)
    result["reevaluated"] = 0  # runs of an earlier invocation evaluated again (other eval settings)
    base_evals: dict[int, dict] = {}  # by seed: the base is the same whatever the mix
    for mix in mixes:
        train_data = train_source(out, mix)
        evals: dict[str, list[dict]] = {BASE: [], **{m: [] for m in methods}}
        spreads: dict[str, list[dict]] = {m: [] for m in methods}
        runs: dict[str, list[str]] = {m: [] for m in methods}
        for seed in seed_list:
            if seed not in base_evals:
                cfg = load_config(cfg_path, run_overrides(out, steps, seed, train_data, extra), base_dir=Path.cwd())
                record = base_record(done, f"{BASE}-s{seed}", cfg, problems, result)
                base_evals[seed] = record["eval"]
                for k in secs:
                    secs[k] += record["seconds"][k]
            evals[BASE].append(base_evals[seed])
            for name in methods:
                label = f"{name}-{mix.replace(':', '-')}-s{seed}"
                cfg = load_config(cfg_path, run_overrides(out, steps, seed, train_data, [*extra, *METHODS[name], f"run.name={label}"]),
                                  base_dir=Path.cwd())
                record = method_record(done, label, cfg, problems, f"{name} (mix {mix}, seed {seed})", result)
                for k in secs:
                    secs[k] += record["seconds"][k]
                evals[name].append(record["eval"])
                spreads[name].append(record["spread"])
                runs[name].append(record["run"])
                result["mixes"][mix] = {"weights": list(parse_mix(mix)), "train": train_data, "runs": runs, "partial": True}
                save()
        boot = bootstrap(evals, difficulty)
        result["mixes"][mix] = {"weights": list(parse_mix(mix)), "train": train_data, "runs": runs,
                                "cells": cells(boot), "claims": claims(boot, spreads), "spread": spreads}
        save()
    save()
    (out / "results.md").write_text(markdown(result))
    return result
