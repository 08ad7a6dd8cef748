"""Per-step metrics: step-wide ones, and per tier (event schema v2: `per_tier`).

    per_tier: [{"tier": 512, "metrics": {mean_length, length_std, min_length, max_length, accuracy,
               reward, reward/f1, reward/f2, over_budget, truncated, advantage/intra,
               advantage/inter}}, ...]   tier None for budget-free baselines (natural mode)
    step-wide: reward/mean, reward/std, accuracy, length/mean, length/std;
               target/mean, target/abs_error, target/over for l1-exact, whose tier is each query's
               drawn target: one entry per target would be one per query, so none
(Version 1 of the schema wrote the per-tier ones as flat `budget/<tier>/<name>` keys.)
"""

from __future__ import annotations

import statistics
from typing import Sequence



def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _std(xs: Sequence[float]) -> float | None:
    return statistics.pstdev(xs) if xs else None


def rollout_metrics(scored: Sequence[dict], *, targets: bool = False) -> tuple[dict[str, float | None], list[dict]]:
    """(step-wide metrics, per-tier metrics) of a step's rollout events (dicts with tier, n_gen,
    correct, reward{}, advantage{}). `targets`: the tiers are l1-exact's per-query target lengths."""
    out: dict[str, float | None] = {}
    by_tier: dict[int | None, list[dict]] = {}
    if not targets:
        for r in scored:
            by_tier.setdefault(r["tier"], []).append(r)
    else:
        out["target/mean"] = _mean([r["tier"] for r in scored])
        out["target/abs_error"] = _mean([abs(r["n_gen"] - r["tier"]) for r in scored])
        out["target/over"] = _mean([float(r["n_gen"] > r["tier"]) for r in scored])
    per_tier = []
    for tier in sorted(by_tier, key=lambda t: (t is not None, t or 0)):
        group = by_tier[tier]
        lengths = [r["n_gen"] for r in group]
        m: dict[str, float | None] = {
            "mean_length": _mean(lengths), "length_std": _std(lengths),
            "min_length": float(min(lengths)), "max_length": float(max(lengths)),
            "accuracy": _mean([float(r["correct"]) for r in group]),
            "reward": _mean([r["reward"]["reward"] for r in group]),
            "truncated": _mean([float(r["truncated"]) for r in group]),
        }
        if tier is not None:
            m["reward/f1"] = _mean([r["reward"]["f1"] for r in group])
            m["reward/f2"] = group[0]["reward"]["f2"]
            m["over_budget"] = _mean([float(r["n_gen"] > tier) for r in group])
        m["advantage/intra"] = _mean([r["advantage"]["intra"] for r in group])
        m["advantage/inter"] = _mean([r["advantage"]["inter"] for r in group])
        per_tier.append({"tier": tier, "metrics": m})
    rewards = [r["reward"]["reward"] for r in scored]
    out["reward/mean"] = _mean(rewards)
    out["reward/std"] = _std(rewards)
    out["accuracy"] = _mean([float(r["correct"]) for r in scored])
    out["length/mean"] = _mean([r["n_gen"] for r in scored])
    out["length/std"] = _std([r["n_gen"] for r in scored])
    return out, per_tier
